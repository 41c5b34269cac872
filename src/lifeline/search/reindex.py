"""Re-indexing: rebuild the search-index rows of stored resources (`lifeline db reindex`).

Needed after the search-parameter definitions change (a new Lifeline release, a new index table).
Resources are walked in (type, id) order in batches; each batch is one write transaction that
re-reads the resources with a row lock, extracts their index values from the stored JSON and
replaces their rows in every index table. No version is written and the change sequence does not
move: re-indexing changes how resources are found, not the record. A resource updated while the
walk runs is indexed by its own write, and its batch re-reads it under the lock, so the walk never
writes the index of an older version over a newer one. The server can keep serving meanwhile.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import orjson

from lifeline.search.extract import extract_index
from lifeline.search.registry import SearchRegistry
from lifeline.storage.matching import Match
from lifeline.storage.repository import Repository
from lifeline.storage.write_session import WriteSession, index_rows


@dataclass
class ReindexStats:
    resources: int = 0
    rows: int = 0


def count_to_reindex(repo: Repository, res_type: str | None) -> int:
    with repo.reading() as session:
        return session.count(res_type, Match())


def reindex(
    repo: Repository,
    registry: SearchRegistry,
    *,
    res_type: str | None = None,
    batch_size: int = 500,
    on_progress: Callable[[int], None] = lambda n: None,
) -> ReindexStats:
    """Rebuild the index rows of every current resource (of `res_type`, or all)."""
    stats = ReindexStats()
    for page in repo.pages(res_type, batch_size):
        keys = [(v.res_type, v.res_id) for v in page]

        def work(ws: WriteSession, keys: list[tuple[str, str]] = keys) -> tuple[int, int]:
            current = ws.read_many_for_update(keys)
            resources = rows = 0
            for key in keys:
                stored = current.get(key)
                if stored is None or stored.deleted or stored.content is None:
                    continue  # deleted meanwhile: its delete removed its rows
                entries = index_rows(key, extract_index(orjson.loads(stored.content), registry))
                ws.reindex(key, entries)
                resources += 1
                rows += sum(len(r) for _, r in entries)
            return resources, rows

        (done, rows), _ = repo.write(work)
        stats.resources += done
        stats.rows += rows
        on_progress(len(page))
    repo.analyze()
    return stats
