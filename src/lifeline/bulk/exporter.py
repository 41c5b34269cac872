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
        with path.open("w", encoding="utf-8") as handle:
            for page in repo.pages(res_type, 1000):
                for stored in page:
                    handle.write((stored.content or "") + "\n")
                written += len(page)
                on_progress(len(page))
        counts[res_type] = written
    return counts
