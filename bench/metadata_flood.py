"""GET /fhir/metadata under a flood (issue 28, "public answers cached"): the CapabilityStatement
(about 800 KB) used to be built and serialised for every request, and a flood of it cut the
clinicians' reads to a few percent of their rate. It is now made once, kept with a gzip copy and
an ETag (fhir/interactions/capabilities.py, web/metadata_answer.py).

For the code before (`--before`: a folder holding the `lifeline` package of that code, e.g.
`git archive <commit> src | tar -x -C /tmp/before` and `--before /tmp/before/src`) and the code
of this checkout, each served by `lifeline serve` (two worker processes) over the same loaded
store: metadata requests a second with wrk saturating (gzip taken, bench/wrk/metadata.lua); the
clinicians' reads by id (bench/wrk/read.lua) alone; and the reads while a second wrk sends a
fixed-rate flood of metadata requests (`--rate`, anonymous). Rounds alternate the measurements so
that the machine's drift falls on each alike; medians are reported.

Usage: python -m bench.metadata_flood [--before /tmp/before/src] [--backends sqlite,postgresql]
[--resources 20000] [--seconds 10] [--rounds 3] [--rate 500]. Results go to
bench/results/metadata_flood.json; docs/benchmarks.md records them.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console
from rich.table import Table

from bench.__main__ import HERE, RESULTS, Store, _free_port, _machine, _serving, loaded_store
from bench.auth import token as bench_token
from bench.data import write_ndjson
from bench.status_flood import _flood_result
from bench.wrk import WrkResult, run_wrk

console = Console()
METADATA = HERE / "wrk" / "metadata.lua"
READ = HERE / "wrk" / "read.lua"


def main() -> None:
    # What this measures is the metadata answer's own cost under a flood from many addresses; from the
    # one address of a load generator the per-address limit would refuse it (bench/flood.py).
    os.environ.setdefault("LIFELINE_RATE_LIMIT_ANONYMOUS", "none")
    parser = argparse.ArgumentParser(prog="python -m bench.metadata_flood")
    parser.add_argument("--before", type=Path, help="a folder holding the lifeline package of the code before")
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--resources", type=int, default=20_000)
    parser.add_argument("--seconds", type=int, default=10, help="each measurement")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--rate", type=int, default=500, help="metadata requests a second in the flood")
    parser.add_argument("--flood-connections", type=int, default=50)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    RESULTS.mkdir(parents=True, exist_ok=True)
    source = RESULTS / f"bench-{args.resources}.ndjson"
    if not source.exists():
        write_ndjson(source, args.resources)
    codes = {"before": args.before, "after": None} if args.before else {"after": None}
    results: dict = {"date": datetime.now(UTC).isoformat(timespec="seconds"), "machine": _machine(), "backends": {}}
    for backend in args.backends.split(","):
        store = loaded_store(backend, source, "metadata")
        try:
            results["backends"][backend] = {code: _measure(backend, store, path, args) for code, path in codes.items()}
        finally:
            store.drop()
    (RESULTS / "metadata_flood.json").write_text(json.dumps(results, indent=2))
    table = Table(title=f"GET /fhir/metadata flood against the clinical reads ({results['machine']})")
    columns = ("backend", "code", "metadata /s", "metadata p99 ms", "reads alone /s", "reads p99 ms")
    for column in (*columns, "flooded /s", "flooded p99 ms", "flood /s", "kept"):
        table.add_column(column)
    for backend, by_code in results["backends"].items():
        for code, found in by_code.items():
            table.add_row(
                backend, code, f"{found['metadata_per_s']:,.0f}", f"{found['metadata_p99_ms']:.1f}",
                f"{found['reads_alone_per_s']:,.0f}", f"{found['reads_alone_p99_ms']:.1f}",
                f"{found['reads_flooded_per_s']:,.0f}", f"{found['reads_flooded_p99_ms']:.1f}",
                f"{found['flood_per_s']:,.0f}", f"{found['kept']:.0%}",
            )  # fmt: skip
    console.print(table)


@contextmanager
def _code(path: Path | None) -> Iterator[None]:
    """The server started inside runs the package found in `path` (None: this checkout's)."""
    if path is None:
        yield
        return
    old = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = str(path.resolve())
    try:
        yield
    finally:
        if old is None:
            del os.environ["PYTHONPATH"]
        else:
            os.environ["PYTHONPATH"] = old


def _measure(backend: str, store: Store, before: Path | None, args: argparse.Namespace) -> dict[str, float]:
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, "IDS": str(store.ids), "TOKEN": bench_token(store.url, port)}
    delay = max(1, round(args.flood_connections * 1000 / args.rate))
    metadata: list[WrkResult] = []
    alone: list[WrkResult] = []
    flooded: list[WrkResult] = []
    floods: list[WrkResult] = []
    code = "before" if before else "after"
    with _code(before), _serving(store.url, port, args.workers):
        run_wrk(base, READ, 3, env)  # warm up, both
        run_wrk(base, METADATA, 3, env)
        for round_ in range(args.rounds):
            metadata.append(run_wrk(base, METADATA, args.seconds, env))
            alone.append(run_wrk(base, READ, args.seconds, env))
            flood = _start_flood(base, args.seconds + 8, args.flood_connections, delay, env)
            time.sleep(3)  # the flood at its rate before the reads are measured
            flooded.append(run_wrk(base, READ, args.seconds, env))
            floods.append(_flood_result(flood))
            console.print(
                f"  ({backend}, {code}) round {round_ + 1}: metadata {metadata[-1].rate:,.0f}/s (p99"
                f" {metadata[-1].p99_ms:.1f} ms); reads alone {alone[-1].rate:,.0f}/s (p99 {alone[-1].p99_ms:.1f} ms),"
                f" under a metadata flood of {floods[-1].rate:,.0f}/s {flooded[-1].rate:,.0f}/s"
                f" (p99 {flooded[-1].p99_ms:.1f} ms)"
            )
    reads = _median(alone, "rate")
    return {
        "rounds": args.rounds,
        "metadata_per_s": _median(metadata, "rate"),
        "metadata_p99_ms": _median(metadata, "p99_ms"),
        "reads_alone_per_s": reads,
        "reads_alone_p99_ms": _median(alone, "p99_ms"),
        "reads_flooded_per_s": _median(flooded, "rate"),
        "reads_flooded_p99_ms": _median(flooded, "p99_ms"),
        "kept": _median(flooded, "rate") / reads,
        "flood_per_s": _median(floods, "rate"),
        "flood_p99_ms": _median(floods, "p99_ms"),
    }


def _median(results: list[WrkResult], field: str) -> float:
    return float(statistics.median(getattr(result, field) for result in results))


def _start_flood(base: str, seconds: int, connections: int, delay: int, env: dict[str, str]) -> subprocess.Popen[str]:
    command = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(METADATA), base]
    return subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env={**env, "DELAY_MS": str(delay)}
    )


if __name__ == "__main__":
    main()
