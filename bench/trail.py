"""What the audit trail costs, as capacity and as latency, separately (issue 20).

The rule stays: no data leaves before its record is durable. Its cost is judged two ways, each
against the same server without a trail (bench/service.py), in the same run:

- capacity: reads (and creates) per second with enough clients to keep both cores busy (64);
  target: reads with the trail reach at least 85% of reads without it;
- latency: the median of one client's reads, one after the other; target: the trail adds at
  most 2 ms;
- and the ceiling, in the same run: the same server whose records are only appended to a local
  file with one fdatasync per group (bench/ceiling.py), what no trail keeping the rule can beat.

The 16-client closed-loop figure of `python -m bench` measures mostly the flush's latency, which
is neither. Usage: python -m bench.trail [--backends sqlite,postgresql] [--resources 20000]
[--seconds 10] [--clients 64]. Results go to bench/results/trail.json; docs/benchmarks.md
records them.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console
from rich.table import Table

from bench import ceiling
from bench.__main__ import HERE, RESULTS, _free_port, _machine, _serving, loaded_store
from bench.auth import token as bench_token
from bench.data import write_ndjson
from bench.wrk import run_wrk

console = Console()
TARGET_CAPACITY = 0.85  # reads with the trail / without, saturated
TARGET_LATENCY_MS = 2.0  # the trail's addition to one client's median read


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.trail")
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--resources", type=int, default=20_000)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", default=str(RESULTS / "trail.json"))
    args = parser.parse_args()
    RESULTS.mkdir(exist_ok=True)
    source = RESULTS / f"bench-{args.resources}.ndjson"
    if not source.exists():
        write_ndjson(source, args.resources)
    results = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": _machine(),
        "commit": _commit(),
        "clients": args.clients,
        "backends": {backend: _measure(backend, source, args) for backend in args.backends.split(",")},
    }
    Path(args.out).write_text(json.dumps(results, indent=2))
    _print(results)


def _measure(backend: str, source: Path, args: argparse.Namespace) -> dict[str, float]:
    store = loaded_store(backend, source, "trail")
    port = _free_port()
    url = store.url
    env = {**os.environ, "IDS": str(store.ids), "TOKEN": bench_token(url, port)}
    base = f"http://127.0.0.1:{port}"
    read, create = HERE / "wrk" / "read.lua", HERE / "wrk" / "create.lua"
    figures: dict[str, float] = {}
    try:
        for mode, label in ((None, "trail"), ("without-trail", "none"), ("file-trail", "ceiling")):
            with _serving(url, port, args.workers, mode=mode):
                run_wrk(base, read, 5, env, connections=args.clients)  # warm every worker
                saturated = run_wrk(base, read, args.seconds, env, connections=args.clients)
                alone = run_wrk(base, read, args.seconds, env, connections=1)
                writes = run_wrk(base, create, args.seconds, env, connections=args.clients)
                one_writer = run_wrk(base, create, args.seconds, env, connections=1)
            figures[f"read_{label}_per_s"] = saturated.rate
            figures[f"read_{label}_p99_ms"] = saturated.p99_ms
            figures[f"read_{label}_one_client_p50_ms"] = alone.p50_ms
            figures[f"create_{label}_per_s"] = writes.rate
            figures[f"create_{label}_one_client_p50_ms"] = one_writer.p50_ms
            console.print(
                f"  {label}: read {saturated.rate:,.0f}/s ({args.clients} clients), one client p50"
                f" {alone.p50_ms:.2f} ms; create {writes.rate:,.0f}/s, one client p50 {one_writer.p50_ms:.2f} ms"
            )
    finally:
        store.drop()
    shutil.rmtree(ceiling.JOURNALS, ignore_errors=True)  # the flushed files are only for this
    figures["read_capacity_fraction"] = figures["read_trail_per_s"] / figures["read_none_per_s"]
    figures["read_ceiling_fraction"] = figures["read_ceiling_per_s"] / figures["read_none_per_s"]
    figures["read_trail_of_ceiling"] = figures["read_trail_per_s"] / figures["read_ceiling_per_s"]
    figures["read_latency_added_ms"] = figures["read_trail_one_client_p50_ms"] - figures["read_none_one_client_p50_ms"]
    figures["create_capacity_fraction"] = figures["create_trail_per_s"] / figures["create_none_per_s"]
    return figures


def _commit() -> str:
    try:
        found = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return found.stdout.strip()


def _print(results: dict) -> None:
    table = Table(title=f"The audit trail's cost {results['date']} ({results['machine']}, {results['commit']})")
    table.add_column("measurement")
    backends = results["backends"]
    for backend in backends:
        table.add_column(backend, justify="right")
    rows = [
        (f"read, {results['clients']} clients, trail (/s)", "read_trail_per_s", "{:,.0f}"),
        (f"read, {results['clients']} clients, no trail (/s)", "read_none_per_s", "{:,.0f}"),
        (f"capacity kept (target ≥ {TARGET_CAPACITY:.0%})", "read_capacity_fraction", "{:.0%}"),
        (f"read, {results['clients']} clients, records only flushed to a file (/s)", "read_ceiling_per_s", "{:,.0f}"),
        ("the ceiling / no trail (any trail keeping the rule)", "read_ceiling_fraction", "{:.0%}"),
        ("the trail / the ceiling", "read_trail_of_ceiling", "{:.0%}"),
        ("read, one client, trail, p50 (ms)", "read_trail_one_client_p50_ms", "{:.2f}"),
        ("read, one client, no trail, p50 (ms)", "read_none_one_client_p50_ms", "{:.2f}"),
        (f"latency added (target ≤ {TARGET_LATENCY_MS} ms)", "read_latency_added_ms", "{:.2f}"),
        (f"create, {results['clients']} clients, trail (/s)", "create_trail_per_s", "{:,.0f}"),
        (f"create, {results['clients']} clients, no trail (/s)", "create_none_per_s", "{:,.0f}"),
        ("create capacity kept", "create_capacity_fraction", "{:.0%}"),
        ("create, one client, trail, p50 (ms)", "create_trail_one_client_p50_ms", "{:.2f}"),
        ("create, one client, no trail, p50 (ms)", "create_none_one_client_p50_ms", "{:.2f}"),
    ]
    for label, key, shape in rows:
        table.add_row(label, *(shape.format(backends[b][key]) if key in backends[b] else "–" for b in backends))
    console.print(table)


if __name__ == "__main__":
    main()
