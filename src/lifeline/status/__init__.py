"""A node's status for people (issue 23): components, incidents and their timeline, the public
/status page; what an outage affects and who, told plainly."""
