"""The centre's change feed: what a site node reads to keep its replica (issue 7).

A page is every version numbered after the site's position, in change-number order, with the
centre's current head, so the site knows how far behind it is. The global change sequence is
gap-free in commit order (storage/sequencing.py): a site that asks "after N" never misses a change
that committed late. Users, apps, node keys, sites and grants travel in the same feed, so a site
logs its staff in with no call to the centre; node-local state never does.
"""

from __future__ import annotations

from typing import Any

import orjson

from lifeline.storage.records import StoredVersion
from lifeline.storage.repository import Repository

MAX_PAGE = 5000


def feed_page(repo: Repository, after: int, limit: int) -> bytes:
    """One page of the feed as JSON: {"after", "head", "changes": [...]}."""
    versions = repo.changes_after(after, max(0, min(limit, MAX_PAGE))) if limit > 0 else []
    with repo.reading() as session:
        head = session.last_change_seq()
    if versions:
        head = max(head, versions[-1].change_seq or 0)
    return orjson.dumps({"after": after, "head": head, "changes": [_change(v) for v in versions]})


def _change(version: StoredVersion) -> dict[str, Any]:
    return {
        "seq": version.change_seq,
        "type": version.res_type,
        "id": version.res_id,
        "version": version.version_id,
        "lastUpdated": version.last_updated,
        "deleted": version.deleted,
        "method": version.method,
        "node": version.node_id,
        # The stored JSON text goes out as it is: no parse and dump per change.
        "content": None if version.content is None else orjson.Fragment(version.content),
    }
