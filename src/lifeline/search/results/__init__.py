"""The result side of search: ordering (_sort), paging cursors, _include/_revinclude and
_summary/_elements. The matching side (which resources match) is lifeline.search.query."""
