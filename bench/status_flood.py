"""The public status page under a flood (issue 23): `/status` refreshed 1,000 times a second by
anonymous clients must cost the clinical workload less than 5%.

A node (`lifeline serve`, two worker processes) over a loaded store answers clinicians' reads by
id (wrk, bench/wrk/read.lua, saturating) alone, then again while a second wrk sends a fixed-rate
flood of `GET /status` (bench/wrk/status.lua: `--flood-connections` connections, each waiting
DELAY_MS between requests). The ratio of the two read rates is the cost; the flood's own rate and
latency are reported with it. Both load generators are wrk (C): the flood's own CPU is included in
the cost measured, as it would not be on a real network, so the figure is an upper bound.

Usage: python -m bench.status_flood [--backends sqlite,postgresql] [--resources 20000]
[--seconds 20] [--rate 1000]. Results go to bench/results/status_flood.json; docs/benchmarks.md
records them.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console
from rich.table import Table

from bench.__main__ import HERE, RESULTS, _free_port, _machine, _serving, loaded_store
from bench.auth import token as bench_token
from bench.data import write_ndjson
from bench.wrk import WrkResult, _percentile, run_wrk

console = Console()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.status_flood")
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--resources", type=int, default=20_000)
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--rate", type=int, default=1000, help="status requests a second in the flood")
    parser.add_argument("--flood-connections", type=int, default=50)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    RESULTS.mkdir(parents=True, exist_ok=True)
    source = RESULTS / f"bench-{args.resources}.ndjson"
    if not source.exists():
        write_ndjson(source, args.resources)
    results = {"date": datetime.now(UTC).isoformat(timespec="seconds"), "machine": _machine(), "backends": {}}
    for backend in args.backends.split(","):
        results["backends"][backend] = _measure(backend, source, args)
    (RESULTS / "status_flood.json").write_text(json.dumps(results, indent=2))
    table = Table(title="/status flood against the clinical reads")
    for column in ("backend", "reads alone /s", "reads under flood /s", "cost", "flood /s", "status p99 ms"):
        table.add_column(column)
    for backend, found in results["backends"].items():
        table.add_row(
            backend, f"{found['reads_alone_per_s']:,.0f}", f"{found['reads_flooded_per_s']:,.0f}",
            f"{found['cost']:.1%}", f"{found['flood_per_s']:,.0f}", f"{found['status_p99_ms']:.1f}",
        )  # fmt: skip
    console.print(table)


def _measure(backend: str, source: Path, args: argparse.Namespace) -> dict[str, float]:
    store = loaded_store(backend, source, "status")
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, "IDS": str(store.ids), "TOKEN": bench_token(store.url, port)}
    delay = max(1, round(args.flood_connections * 1000 / args.rate))
    try:
        with _serving(store.url, port, args.workers):
            run_wrk(base, HERE / "wrk" / "read.lua", 5, env)  # warm up
            alone = run_wrk(base, HERE / "wrk" / "read.lua", args.seconds, env)
            console.print(f"  [{backend}] reads alone: {alone.rate:,.0f}/s p99 {alone.p99_ms:.1f} ms")
            flood = _start_flood(base, args.seconds + 8, args.flood_connections, delay, env)
            time.sleep(3)  # the flood at its rate before the reads are measured
            flooded = run_wrk(base, HERE / "wrk" / "read.lua", args.seconds, env)
            status = _flood_result(flood)
            console.print(
                f"  [{backend}] reads under a /status flood of {status.rate:,.0f}/s: {flooded.rate:,.0f}/s"
                f" p99 {flooded.p99_ms:.1f} ms; /status p99 {status.p99_ms:.1f} ms"
            )
    finally:
        store.drop()
    return {
        "reads_alone_per_s": alone.rate,
        "reads_alone_p99_ms": alone.p99_ms,
        "reads_flooded_per_s": flooded.rate,
        "reads_flooded_p99_ms": flooded.p99_ms,
        "cost": 1 - flooded.rate / alone.rate,
        "flood_per_s": status.rate,
        "status_p50_ms": status.p50_ms,
        "status_p99_ms": status.p99_ms,
    }


def _start_flood(base: str, seconds: int, connections: int, delay: int, env: dict[str, str]) -> subprocess.Popen[str]:
    command = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(HERE / "wrk" / "status.lua")]
    return subprocess.Popen(
        [*command, base],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**env, "DELAY_MS": str(delay)},
    )


def _flood_result(flood: subprocess.Popen[str]) -> WrkResult:
    output, _ = flood.communicate(timeout=120)
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    if errors:
        raise SystemExit(f"the flood saw {errors.group(1)} failed responses:\n{output}")
    return WrkResult(rate, _percentile(output, "50%"), _percentile(output, "99%"))


if __name__ == "__main__":
    main()
