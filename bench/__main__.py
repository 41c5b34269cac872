"""`make bench`: import, create and read-by-id throughput on SQLite and PostgreSQL, with the raw
driver's primary-key lookup measured in the same run as the floor.

Usage: python -m bench [--backends sqlite,postgresql] [--resources 100000] [--seconds 15]
Results are printed and written to bench/results/latest.json; docs/benchmarks.md records them.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import socket
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psycopg
from rich.console import Console
from rich.table import Table

from bench import ceiling
from bench.auth import server_env
from bench.auth import settings as bench_settings
from bench.auth import token as bench_token
from bench.data import write_ndjson
from bench.floor import raw_lookup_rate
from bench.wrk import run_wrk
from lifeline.bulk.importer import first_load, import_items
from lifeline.bulk.sources import Source
from lifeline.fhir.service import FhirService
from lifeline.storage import open_repository
from lifeline.storage.matching import Match

HERE = Path(__file__).parent
RESULTS = HERE / "results"
PG_URL = os.environ.get("LIFELINE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
console = Console()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--resources", type=int, default=100_000)
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    RESULTS.mkdir(exist_ok=True)
    source = RESULTS / f"bench-{args.resources}.ndjson"
    if not source.exists():
        console.print(f"writing {args.resources} resources to {source}")
        write_ndjson(source, args.resources)
    results = {"date": datetime.now(UTC).isoformat(timespec="seconds"), "machine": _machine(), "backends": {}}
    for backend in args.backends.split(","):
        results["backends"][backend] = _bench_backend(backend, source, args)
    (RESULTS / "latest.json").write_text(json.dumps(results, indent=2))
    _print(results)


@dataclass
class Store:
    """A benchmark's database, loaded from its NDJSON file, with the Patient ids to read."""

    backend: str
    url: str
    ids: Path  # one Patient id a line (the wrk scripts' IDS)
    patient_ids: list[str]
    written: int
    import_seconds: float

    def drop(self) -> None:
        repo = open_repository(self.url)
        if hasattr(repo, "drop_schema"):
            repo.drop_schema()
        repo.close()
        if self.url.startswith("sqlite:///"):
            for suffix in ("", "-wal", "-shm"):
                Path(f"{self.url[len('sqlite:///') :]}{suffix}").unlink(missing_ok=True)


def generated_region(name: str, patients: int) -> Path:
    """A region of `patients` generated once (seed 7, no images) into bench/results/NAME-region-N,
    and its resources as one NDJSON file beside it, as `loaded_store` imports one."""
    region = RESULTS / f"{name}-region-{patients}"
    if not region.exists():
        console.print(f"generating {patients} patients into {region}")
        command = ["-m", "lifeline.cli", "generate", "--patients", str(patients), "--seed", "7", "--no-images"]
        subprocess.run([sys.executable, *command, "--out", str(region)], check=True, capture_output=True)
    source = RESULTS / f"{name}-region-{patients}.ndjson"
    if not source.exists():
        with source.open("w") as out:
            for part in sorted(region.glob("*.ndjson")):
                out.write(part.read_text())
    return source


def loaded_store(backend: str, source: Path, name: str) -> Store:
    """A new database of `backend` (a file or a schema named after `name`) loaded as `lifeline
    import` loads it, settled, with its Patient ids written out."""
    if backend == "sqlite":
        url = f"sqlite:///{RESULTS / f'{name}-{uuid.uuid4().hex[:8]}.db'}"
    else:
        url = f"{PG_URL}?schema={name}_{uuid.uuid4().hex[:8]}"
    repo = open_repository(url)
    repo.migrate()
    service = FhirService(repo, bench_settings(url))
    service.validator.resource_types  # noqa: B018 - load definitions before timing
    service.registry  # noqa: B018
    console.print(f"[bold]{backend}[/]: importing {source.name}")
    started = time.perf_counter()
    reader = Source(source)
    with first_load(repo, reader.size):  # as `lifeline import` does: an empty store, maybe deferred indexes
        stats = import_items(service, reader.items(), batch_size=1000)
    import_seconds = time.perf_counter() - started
    reader.close()
    ids = RESULTS / f"{name}-patient-ids.txt"
    with repo.reading() as session:
        rows = session.search("Patient", Match(), after_key=None, limit=1_000_000)
    ids.write_text("\n".join(r.res_id for r in rows) + "\n")
    repo.close()
    _settle(url)
    return Store(backend, url, ids, [r.res_id for r in rows], stats.written, import_seconds)


def _bench_backend(backend: str, source: Path, args: argparse.Namespace) -> dict[str, float]:
    store = loaded_store(backend, source, "bench")
    url, ids, stats_written, import_seconds = store.url, store.ids, store.written, store.import_seconds
    result: dict[str, float] = {"import_per_s": stats_written / import_seconds, "imported": stats_written}
    console.print(f"  import: {result['import_per_s']:,.0f} resources/s")
    result["floor_per_s"] = raw_lookup_rate(url, store.patient_ids, seconds=min(args.seconds, 10))
    console.print(f"  raw driver floor: {result['floor_per_s']:,.0f} lookups/s")
    port = _free_port()
    env = {**os.environ, "IDS": str(ids), "TOKEN": bench_token(url, port)}
    base = f"http://127.0.0.1:{port}"
    try:
        with _serving(url, port, args.workers):
            # Warm up: every worker process started, its pools filled and its caches loaded.
            run_wrk(base, HERE / "wrk" / "read.lua", 5, env)
            read = run_wrk(base, HERE / "wrk" / "read.lua", args.seconds, env)
            result.update({"read_per_s": read.rate, "read_p50_ms": read.p50_ms, "read_p99_ms": read.p99_ms})
            console.print(f"  read: {read.rate:,.0f}/s p50 {read.p50_ms:.2f} ms p99 {read.p99_ms:.2f} ms")
            create = run_wrk(base, HERE / "wrk" / "create.lua", args.seconds, env)
            result.update({"create_per_s": create.rate, "create_p50_ms": create.p50_ms, "create_p99_ms": create.p99_ms})
            console.print(f"  create: {create.rate:,.0f}/s p50 {create.p50_ms:.2f} ms p99 {create.p99_ms:.2f} ms")
        result["read_fraction_of_floor"] = read.rate / result["floor_per_s"]
        # The same reads from one server process (`lifeline serve` without --workers): with the
        # trail, each read costs two trips to the database, shared by the reads and records
        # that gather while one is under way; one process gathers twice as many as each of two.
        if args.workers != 1:
            with _serving(url, port, 1):
                run_wrk(base, HERE / "wrk" / "read.lua", 5, env)
                single = run_wrk(base, HERE / "wrk" / "read.lua", args.seconds, env)
            result.update({"read_one_process_per_s": single.rate, "read_one_process_p99_ms": single.p99_ms})
            console.print(f"  read from one server process: {single.rate:,.0f}/s p99 {single.p99_ms:.2f} ms")
        # The same reads without authorisation (bench/service.py: the product cannot switch it off).
        with _serving(url, port, args.workers, mode="without-authorisation"):
            run_wrk(base, HERE / "wrk" / "read.lua", 5, env)
            open_read = run_wrk(base, HERE / "wrk" / "read.lua", args.seconds, env)
        result["read_auth_off_per_s"] = open_read.rate
        result["read_auth_fraction"] = read.rate / open_read.rate
        # And without the audit trail (bench/service.py again).
        with _serving(url, port, args.workers, mode="without-trail"):
            run_wrk(base, HERE / "wrk" / "read.lua", 5, env)
            unrecorded = run_wrk(base, HERE / "wrk" / "read.lua", args.seconds, env)
            unrecorded_create = run_wrk(base, HERE / "wrk" / "create.lua", args.seconds, env)
        result["read_audit_off_per_s"] = unrecorded.rate
        result["read_audit_fraction"] = read.rate / unrecorded.rate
        result["read_audit_off_fraction_of_floor"] = unrecorded.rate / result["floor_per_s"]
        result["create_audit_off_per_s"] = unrecorded_create.rate
        # And with each record made durable in the cheapest way there is (bench/ceiling.py): the
        # most that any audit trail keeping the durability rule could leave of reads here.
        with _serving(url, port, args.workers, mode="file-trail"):
            run_wrk(base, HERE / "wrk" / "read.lua", 5, env)
            flushed = run_wrk(base, HERE / "wrk" / "read.lua", args.seconds, env)
        shutil.rmtree(ceiling.JOURNALS, ignore_errors=True)  # the flushed files are only for this
        result["read_durable_file_per_s"] = flushed.rate
        result["read_durable_file_fraction"] = flushed.rate / unrecorded.rate
        console.print(
            f"  read without the audit trail: {unrecorded.rate:,.0f}/s (with it: {result['read_audit_fraction']:.0%};"
            f" {result['read_audit_off_fraction_of_floor']:.0%} of the floor)"
        )
        console.print(f"  create without the audit trail: {unrecorded_create.rate:,.0f}/s")
        console.print(
            f"  read with records only flushed to a local file (the ceiling): {flushed.rate:,.0f}/s"
            f" ({result['read_durable_file_fraction']:.0%} of reads without the trail)"
        )
        console.print(
            f"  read without authorisation: {open_read.rate:,.0f}/s (with it: {result['read_auth_fraction']:.0%})"
        )
    finally:
        store.drop()
    return result


def kept_database(backend: str, name: str, sources: list[Path], fresh: bool) -> tuple[str, dict[str, Any]]:
    """A database kept between runs (bench/results/NAME.db, or the PostgreSQL schema bench_NAME),
    imported by `lifeline import` from `sources` when empty or when `fresh`; its URL, and the
    import's seconds (when it ran) and the resources it holds."""
    url = f"sqlite:///{RESULTS / f'{name}.db'}" if backend == "sqlite" else f"{PG_URL}?schema=bench_{name}"
    repo = open_repository(url)
    if fresh and hasattr(repo, "drop_schema"):
        repo.drop_schema()
        repo.close()
        repo = open_repository(url)
    elif fresh and backend == "sqlite":
        repo.close()
        for suffix in ("", "-wal", "-shm"):
            Path(f"{url[len('sqlite:///') :]}{suffix}").unlink(missing_ok=True)
        repo = open_repository(url)
    repo.migrate()
    with repo.reading() as session:
        stored = session.count_current()
    repo.close()
    result: dict[str, Any] = {}
    if stored == 0:
        console.print(f"[bold]{backend}[/]: importing {', '.join(p.name for p in sources[:3])}")
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "lifeline.cli", "import", *map(str, sources), "--db", url], check=True)
        seconds = time.perf_counter() - started
        repo = open_repository(url)
        with repo.reading() as session:
            stored = session.count_current()
        repo.close()
        result["import_s"] = seconds
        result["import_per_s"] = stored / seconds
        _settle(url)
    result["resources"] = stored
    return url, result


@contextmanager
def _serving(url: str, port: int, workers: int, mode: str | None = None) -> Iterator[None]:
    """`lifeline serve`, or with a `mode` the benchmarks' own server (bench/server.py)."""
    env = {**os.environ, **server_env(port)}
    serve = ["bench.server", "--mode", mode] if mode else ["lifeline.cli", "serve"]
    command = [sys.executable, "-m", *serve, "--db", url, "--port", str(port)]
    server = subprocess.Popen(
        [*command, "--workers", str(workers)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env
    )
    try:
        _wait(port)
        yield
    finally:
        server.terminate()
        server.wait(timeout=30)


def _settle(url: str) -> None:
    """Finish the import's background work (vacuum, checkpoint) so it does not run during the
    measurements that follow."""
    if url.startswith("sqlite:///"):
        with sqlite3.connect(url[len("sqlite:///") :]) as conn:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return
    schema = url.rsplit("schema=", 1)[1]
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f'SET search_path TO "{schema}"')
        conn.execute("VACUUM ANALYZE")
        conn.execute("CHECKPOINT")


def _wait(port: int) -> None:
    for _ in range(600):
        try:
            if httpx.get(f"http://127.0.0.1:{port}/fhir/metadata", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise SystemExit("the server did not start")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _machine() -> str:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    return f"{os.cpu_count()} cores, {cpu}, Python {platform.python_version()}, {platform.system()}"


def _print(results: dict) -> None:
    """One row a measurement, one column a backend (it fits a terminal)."""
    backends = results["backends"]
    table = Table(title=f"Lifeline benchmark {results['date']} ({results['machine']})")
    table.add_column("measurement")
    for backend in backends:
        table.add_column(backend, justify="right")
    rows = [
        ("import (resources/s)", "import_per_s", "{:,.0f}"),
        ("raw-driver floor (lookups/s)", "floor_per_s", "{:,.0f}"),
        ("read, audit trail on (/s)", "read_per_s", "{:,.0f}"),
        ("read p50 / p99 (ms)", ("read_p50_ms", "read_p99_ms"), "{:.2f} / {:.2f}"),
        ("read, trail on / floor", "read_fraction_of_floor", "{:.0%}"),
        ("read, trail on, one server process (/s)", "read_one_process_per_s", "{:,.0f}"),
        ("read, one process p99 (ms)", "read_one_process_p99_ms", "{:.2f}"),
        ("read, audit trail off (/s)", "read_audit_off_per_s", "{:,.0f}"),
        ("read, trail off / floor", "read_audit_off_fraction_of_floor", "{:.0%}"),
        ("read, trail on / off", "read_audit_fraction", "{:.0%}"),
        ("read, records only flushed to a file / off", "read_durable_file_fraction", "{:.0%}"),
        ("read, authorisation on / off", "read_auth_fraction", "{:.0%}"),
        ("create, audit trail on (/s)", "create_per_s", "{:,.0f}"),
        ("create p50 / p99 (ms)", ("create_p50_ms", "create_p99_ms"), "{:.1f} / {:.1f}"),
        ("create, audit trail off (/s)", "create_audit_off_per_s", "{:,.0f}"),
    ]
    for label, keys, shape in rows:
        names = keys if isinstance(keys, tuple) else (keys,)
        cells = [shape.format(*(r[n] for n in names)) if all(n in r for n in names) else "-" for r in backends.values()]
        table.add_row(label, *cells)
    console.print(table)


if __name__ == "__main__":
    main()
