"""`lifeline export`: the current version of every resource, as NDJSON, one file per type."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from lifeline.storage.repository import Repository


def export_all(repo: Repository, out: Path, on_progress: Callable[[int], None] = lambda n: None) -> dict[str, int]:
    out.mkdir(parents=True, exist_ok=True)
    counts: dict[str, int] = {}
    with repo.reading() as session:
        types = session.resource_types()
    for res_type in types:
        path = out / f"{res_type}.ndjson"
        written = 0
        after: str | None = None
        with path.open("w", encoding="utf-8") as handle:
            while True:
                with repo.reading() as session:
                    page = session.search(res_type, "", [], after_key=after, limit=1000)
                if not page:
                    break
                for stored in page:
                    handle.write((stored.content or "") + "\n")
                written += len(page)
                on_progress(len(page))
                after = f"{page[-1].res_type}/{page[-1].res_id}"
        counts[res_type] = written
    return counts
