"""The public status page under a flood (issue 23): `/status` refreshed 1,000 times a second by
anonymous clients must cost the clinical workload less than 5%.

A node (`lifeline serve`, two worker processes) over a loaded store answers clinicians' reads by
id (wrk, bench/wrk/read.lua, saturating) alone, then again while a second wrk sends a fixed-rate
flood of `GET /status` (bench/wrk/status.lua: `--flood-connections` connections, each waiting
DELAY_MS between requests). The fall in the read rate is the cost; the flood's own rate and
latency are reported with it.

The floor, in the same run: the same flood sent to the cheapest server there is for the same
answer (bench/status_floor.py, its own process on this machine, as a cache in front would be) —
what the flood's load generator and packets alone cost the reads on two shared cores, which a real
network would not. The three (reads alone, under the flood, under the flood at the floor) are
measured in `--rounds` rounds, so that the machine's drift falls on each alike, and the medians
compared; the spread of the reads alone is reported as the noise.

Usage: python -m bench.status_flood [--backends sqlite,postgresql] [--resources 20000]
[--seconds 10] [--rounds 5] [--rate 1000]. Results go to bench/results/status_flood.json; docs/benchmarks.md
records them.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import httpx
from rich.console import Console
from rich.table import Table

from bench.__main__ import HERE, RESULTS, _free_port, _machine, _serving, loaded_store
from bench.auth import token as bench_token
from bench.data import write_ndjson
from bench.wrk import WrkResult, _percentile, run_wrk

console = Console()


def main() -> None:
    # What this measures is the status answer's own cost under a flood from many addresses; from the
    # one address of a load generator the per-address limit would refuse it (bench/flood.py).
    os.environ.setdefault("LIFELINE_RATE_LIMIT_ANONYMOUS", "none")
    parser = argparse.ArgumentParser(prog="python -m bench.status_flood")
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--resources", type=int, default=20_000)
    parser.add_argument("--seconds", type=int, default=10, help="each measurement")
    parser.add_argument("--rounds", type=int, default=5, help="rounds of alone, flooded and floor-flooded")
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
    columns = ("backend", "reads alone /s", "under flood /s", "cost", "floor's cost", "beyond floor", "flood /s")
    for column in (*columns, "status p99 ms", "noise"):
        table.add_column(column)
    for backend, found in results["backends"].items():
        table.add_row(
            backend, f"{found['reads_alone_per_s']:,.0f}", f"{found['reads_flooded_per_s']:,.0f}",
            f"{found['cost']:.1%}", f"{found['floor_cost']:.1%}", f"{found['cost_beyond_floor']:.1%}",
            f"{found['flood_per_s']:,.0f}", f"{found['status_p99_ms']:.1f}", f"{found['alone_spread']:.1%}",
        )  # fmt: skip
    console.print(table)


def _measure(backend: str, source: Path, args: argparse.Namespace) -> dict[str, float]:
    store = loaded_store(backend, source, "status")
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, "IDS": str(store.ids), "TOKEN": bench_token(store.url, port)}
    delay = max(1, round(args.flood_connections * 1000 / args.rate))
    alone: list[WrkResult] = []
    flooded: list[WrkResult] = []
    floored: list[WrkResult] = []
    statuses: list[WrkResult] = []
    try:
        with _serving(store.url, port, args.workers):
            run_wrk(base, HERE / "wrk" / "read.lua", 5, env)  # warm up
            page = httpx.get(f"{base}/status")
            with _floor(page.headers, page.content) as floor:
                # Rounds of the three, so that the machine's drift falls on each alike; medians.
                for round_ in range(args.rounds):
                    alone.append(run_wrk(base, HERE / "wrk" / "read.lua", args.seconds, env))
                    under, status = _under_flood(base, base, args, delay, env)
                    flooded.append(under)
                    statuses.append(status)
                    floored.append(_under_flood(base, floor, args, delay, env)[0])
                    console.print(
                        f"  [{backend}] round {round_ + 1}: reads alone {alone[-1].rate:,.0f}/s, under a /status"
                        f" flood of {status.rate:,.0f}/s {under.rate:,.0f}/s (p99 {under.p99_ms:.1f} ms; /status"
                        f" p99 {status.p99_ms:.1f} ms), under the same flood at the floor {floored[-1].rate:,.0f}/s"
                    )
    finally:
        store.drop()
    base_rate = _median(alone, "rate")
    return {
        "rounds": args.rounds,
        "reads_alone_per_s": base_rate,
        "reads_alone_p99_ms": _median(alone, "p99_ms"),
        "reads_flooded_per_s": _median(flooded, "rate"),
        "reads_flooded_p99_ms": _median(flooded, "p99_ms"),
        "cost": 1 - _median(flooded, "rate") / base_rate,
        "reads_floor_flooded_per_s": _median(floored, "rate"),
        "floor_cost": 1 - _median(floored, "rate") / base_rate,
        "cost_beyond_floor": (_median(floored, "rate") - _median(flooded, "rate")) / base_rate,
        "flood_per_s": _median(statuses, "rate"),
        "status_p50_ms": _median(statuses, "p50_ms"),
        "status_p99_ms": _median(statuses, "p99_ms"),
        "alone_spread": (max(r.rate for r in alone) - min(r.rate for r in alone)) / base_rate,
    }


def _median(results: list[WrkResult], field: str) -> float:
    return float(statistics.median(getattr(result, field) for result in results))


def _under_flood(
    base: str, target: str, args: argparse.Namespace, delay: int, env: dict[str, str]
) -> tuple[WrkResult, WrkResult]:
    """The clinical reads at `base` while the flood goes to `target`."""
    flood = _start_flood(target, args.seconds + 8, args.flood_connections, delay, env)
    time.sleep(3)  # the flood at its rate before the reads are measured
    flooded = run_wrk(base, HERE / "wrk" / "read.lua", args.seconds, env)
    return flooded, _flood_result(flood)


@contextmanager
def _floor(headers: httpx.Headers, body: bytes) -> Iterator[str]:
    """The floor server (bench/status_floor.py) answering with the node's own /status answer."""
    lines = ["HTTP/1.1 200 OK", *(f"{k}: {v}" for k, v in headers.items() if k.lower() not in ("date", "server"))]
    answer = ("\r\n".join(lines) + "\r\n\r\n").encode() + body
    port = _free_port()
    with tempfile.NamedTemporaryFile(suffix=".http") as file:
        file.write(answer)
        file.flush()
        server = subprocess.Popen([sys.executable, "-m", "bench.status_floor", str(port), file.name])
        try:
            for _ in range(100):
                try:
                    httpx.get(f"http://127.0.0.1:{port}/status", timeout=1)
                    break
                except httpx.HTTPError:
                    time.sleep(0.1)
            yield f"http://127.0.0.1:{port}"
        finally:
            server.terminate()
            server.wait(10)


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
