"""`python -m bench.storage`: what a stored resource costs on disk, table by table (issue 27).

Issue 27's target for a region on one machine is at most 2.5 KB per stored resource on
PostgreSQL, tables and indexes included, on the generated region. This generates a region
(`lifeline generate`, as bench/search.py does), loads it with `lifeline import` into a fresh
database on each backend, settles it (VACUUM ANALYZE, a WAL checkpoint) and reports every record
table's bytes, heap and indexes apart (PostgreSQL: pg_relation_size and pg_indexes_size; SQLite:
the dbstat table), per stored resource, beside the floor: the resources' own JSON, as the
NDJSON files hold it. Then again with every index built whole from the rows (REINDEX), as a
first load of 1 GB or more builds them: a smaller load keeps them up to date row by row, which
leaves their pages part full.

Usage: python -m bench.storage [--patients 1000] [--backends postgresql,sqlite]
Results: bench/results/storage.json; docs/benchmarks.md records them.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from rich.table import Table

from bench.__main__ import PG_URL, RESULTS, _machine, _settle, console
from bench.search import _region
from lifeline.storage import open_repository
from lifeline.storage.deferred_indexes import RECORD_TABLES


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.storage")
    parser.add_argument("--patients", type=int, default=1000)
    parser.add_argument("--backends", default="postgresql,sqlite")
    args = parser.parse_args()
    RESULTS.mkdir(exist_ok=True)
    region = _region(args.patients)
    sources = sorted(region.glob("*.ndjson"))
    json_bytes = sum(len(line.rstrip(b"\n")) for path in sources for line in path.open("rb"))
    results: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": _machine(),
        "patients": args.patients,
        "json_bytes": json_bytes,
        "backends": {},
    }
    for backend in args.backends.split(","):
        results["backends"][backend] = _measure(backend, sources, json_bytes)
        (RESULTS / "storage.json").write_text(json.dumps(results, indent=2))
    _print(results)


def _measure(backend: str, sources: list[Path], json_bytes: int) -> dict[str, Any]:
    name = f"storage_{uuid.uuid4().hex[:8]}"
    url = f"sqlite:///{RESULTS / f'{name}.db'}" if backend == "sqlite" else f"{PG_URL}?schema={name}"
    repo = open_repository(url)
    repo.migrate()
    repo.close()
    try:
        with console.status(f"{backend}: lifeline import of {len(sources)} files"):
            started = time.perf_counter()
            command = [sys.executable, "-m", "lifeline.cli", "import", *map(str, sources), "--db", url]
            subprocess.run(command, check=True, capture_output=True)
            seconds = time.perf_counter() - started
            _settle(url)
        repo = open_repository(url)
        with repo.reading() as session:
            resources = int(session.count_current())
        repo.close()
        tables = _sizes(backend, name, url)
        total = sum(t["heap"] + t["indexes"] for t in tables.values())
        # A load under 1 GB keeps the indexes up to date row by row, leaving their pages part
        # full; a larger first load builds them at its end (storage/deferred_indexes.py), as
        # REINDEX does: both are measured.
        _rebuild(backend, name, url)
        rebuilt = _sizes(backend, name, url)
        rebuilt_total = sum(t["heap"] + t["indexes"] for t in rebuilt.values())
        out = {
            "resources": resources,
            "import_seconds": round(seconds, 1),
            "import_per_s": round(resources / seconds),
            "tables": tables,
            "bytes": total,
            "bytes_per_resource": round(total / resources),
            "json_bytes_per_resource": round(json_bytes / resources),
            "tables_indexes_rebuilt": rebuilt,
            "bytes_per_resource_indexes_rebuilt": round(rebuilt_total / resources),
        }
        console.print(
            f"[bold]{backend}[/]: {resources:,} resources imported at {out['import_per_s']:,}/s;"
            f" {total / 1e6:,.0f} MB, {out['bytes_per_resource']:,} bytes a resource"
            f" (its JSON: {out['json_bytes_per_resource']:,});"
            f" {out['bytes_per_resource_indexes_rebuilt']:,} with the indexes built whole"
        )
        return out
    finally:
        repo = open_repository(url)
        drop = getattr(repo, "drop_schema", None)
        if drop is not None:
            drop()
        repo.close()
        if backend == "sqlite":
            for suffix in ("", "-wal", "-shm", ".writer-lock"):
                Path(f"{url[len('sqlite:///') :]}{suffix}").unlink(missing_ok=True)


def _sizes(backend: str, name: str, url: str) -> dict[str, dict[str, int]]:
    return _sizes_postgresql(name) if backend == "postgresql" else _sizes_sqlite(url[len("sqlite:///") :])


def _rebuild(backend: str, name: str, url: str) -> None:
    """Every index of the record tables built again from the rows, as a large first load builds them."""
    if backend == "postgresql":
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            for table in RECORD_TABLES:
                conn.execute(f'REINDEX TABLE "{name}"."{table}"')
    else:
        with sqlite3.connect(url[len("sqlite:///") :]) as conn:
            conn.execute("REINDEX")
            conn.commit()
        with sqlite3.connect(url[len("sqlite:///") :], isolation_level=None) as conn:
            conn.execute("VACUUM")
    _settle(url)


def _sizes_postgresql(schema: str, tables: Sequence[str] = RECORD_TABLES) -> dict[str, dict[str, int]]:
    """Heap (with its TOAST) and indexes of each of `tables` (the record tables) in `schema`."""
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT c.relname, pg_table_size(c.oid), pg_indexes_size(c.oid) FROM pg_class c"
            " WHERE c.relnamespace = %s::regnamespace AND c.relkind = 'r' AND c.relname = ANY(%s)",
            (schema, list(tables)),
        ).fetchall()
    return {str(name): {"heap": int(heap), "indexes": int(indexes)} for name, heap, indexes in rows}


def _sizes_sqlite(path: str) -> dict[str, dict[str, int]]:
    """Each record table's pages and those of its indexes (dbstat, after a checkpoint)."""
    with sqlite3.connect(path) as conn:
        owners = dict(conn.execute("SELECT name, tbl_name FROM sqlite_master WHERE type IN ('table', 'index')"))
        sizes: dict[str, dict[str, int]] = {t: {"heap": 0, "indexes": 0} for t in RECORD_TABLES}
        for name, size in conn.execute("SELECT name, SUM(pgsize) FROM dbstat GROUP BY name"):
            table = owners.get(name)
            if table in sizes:
                sizes[table]["heap" if name == table else "indexes"] += int(size)
    return sizes


def _print(results: dict[str, Any]) -> None:
    backends = list(results["backends"])
    table = Table(title=f"Bytes per stored resource, {results['patients']:,} patients generated")
    table.add_column("table")
    for backend in backends:
        table.add_column(f"{backend}: heap + indexes", justify="right")
    names = sorted(
        {t for b in backends for t in results["backends"][b]["tables"]},
        key=lambda t: -max(sum(results["backends"][b]["tables"].get(t, {}).values()) for b in backends),
    )
    for name in names:
        cells = []
        for backend in backends:
            out = results["backends"][backend]
            sizes = out["tables"].get(name, {"heap": 0, "indexes": 0})
            n = out["resources"]
            cells.append(f"{sizes['heap'] / n:,.0f} + {sizes['indexes'] / n:,.0f}")
        table.add_row(name, *cells)
    table.add_row("[bold]all[/]", *(f"[bold]{results['backends'][b]['bytes_per_resource']:,}[/]" for b in backends))
    table.add_row(
        "all, the indexes built whole",
        *(f"{results['backends'][b]['bytes_per_resource_indexes_rebuilt']:,}" for b in backends),
    )
    table.add_row("the resources' JSON", *(f"{results['backends'][b]['json_bytes_per_resource']:,}" for b in backends))
    console.print(table)


if __name__ == "__main__":
    main()
