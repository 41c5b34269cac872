"""Replication between the centre and the hospitals' site nodes (issue 7).

- `sites`: the registered site nodes and their credentials (`lifeline sites add|list|revoke`).
- `feed`: the centre's change feed, read by sites from the global change sequence.
- `apply`: a site writes what the feed brings into its replica.
- `outbox`/`replay`: a site's local changes, pushed to the centre, which takes each exactly once
  and keeps both versions when the same resource changed elsewhere meanwhile (`conflicts`).
- `audit_merge`: every site's audit chain, copied whole to the centre.
- `site`: the site node itself — its modes (connected, continuity, healing) and its sync loop.
- `status`: what `GET /status.json` says about a node.
"""
