"""A clinician's reads under an anonymous flood (issue 28, admission control: web/admission.py).

A node (`lifeline serve`, `--workers` processes) over a loaded store answers one clinician's reads
by id (bench/wrk/read.lua with a staff token, `--clinician-connections`; the patients are in their
care through a CareTeam each) alone, then while a second wrk floods it with anonymous requests:
`GET /login` and unauthenticated FHIR reads and searches (bench/wrk/anonymous.lua,
`--flood-connections`, as fast as the server answers unless `--rate`). Reported: the clinician's
throughput under the flood as a fraction of alone, their p99 against alone, and the flood's answers
by status (how many were shed with 503 or 429, how many reached the app: 200 and 401).

Usage: python -m bench.flood [--backends sqlite,postgresql] [--resources 20000] [--seconds 10]
[--rounds 3] [--flood-connections 200] [--rate 0] [--address-limits]. Results go to bench/results/flood.json;
docs/benchmarks.md records them.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import time
from datetime import UTC, datetime
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table

from bench.__main__ import HERE, RESULTS, Store, _free_port, _machine, _serving, loaded_store
from bench.auth import settings as bench_settings
from bench.auth import token as bench_token
from bench.data import write_ndjson
from bench.wrk import WrkResult, _percentile, run_wrk
from lifeline.fhir.service import FhirService
from lifeline.storage import open_repository

console = Console()
READ = HERE / "wrk" / "read.lua"
FLOOD = HERE / "wrk" / "anonymous.lua"
CLINICIAN = "bench-clinician"
IN_CARE = 200  # the clinician's patients: the first of the store's
_UNLIMITED = "1000000/second"


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.flood")
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--resources", type=int, default=20_000)
    parser.add_argument("--seconds", type=int, default=10, help="each measurement")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--flood-connections", type=int, default=200)
    parser.add_argument("--rate", type=int, default=0, help="flood requests a second; 0: as fast as answered")
    parser.add_argument("--clinician-connections", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--address-limits", action="store_true", help="keep the per-address rate limits (default: admission alone)"
    )
    args = parser.parse_args()
    # The clinician here is a load generator, far past a person's rate limit (web/rate_limits.py);
    # without --address-limits the flood meets admission control alone, not the per-address limits.
    os.environ["LIFELINE_RATE_LIMIT_ACCOUNT"] = _UNLIMITED
    if not args.address_limits:
        os.environ["LIFELINE_RATE_LIMIT_ANONYMOUS"] = os.environ["LIFELINE_RATE_LIMIT_LOGIN"] = _UNLIMITED
    RESULTS.mkdir(parents=True, exist_ok=True)
    source = RESULTS / f"bench-{args.resources}.ndjson"
    if not source.exists():
        write_ndjson(source, args.resources)
    results: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": _machine(),
        "settings": {k: v for k, v in vars(args).items() if k != "backends"},
        "backends": {},
    }
    for backend in args.backends.split(","):
        store = loaded_store(backend, source, "flood")
        try:
            results["backends"][backend] = _measure(backend, store, args)
        finally:
            store.drop()
    (RESULTS / "flood.json").write_text(json.dumps(results, indent=2))
    table = Table(title=f"A clinician's reads under an anonymous flood ({results['machine']})")
    columns = ("backend", "alone /s", "alone p99 ms", "flooded /s", "flooded p99 ms", "kept", "p99 x")
    for column in (*columns, "flood /s", "flood 503", "flood 429", "flood answered"):
        table.add_column(column)
    for backend, found in results["backends"].items():
        table.add_row(
            backend, f"{found['reads_alone_per_s']:,.0f}", f"{found['reads_alone_p99_ms']:.1f}",
            f"{found['reads_flooded_per_s']:,.0f}", f"{found['reads_flooded_p99_ms']:.1f}",
            f"{found['kept']:.0%}", f"{found['p99_ratio']:.1f}", f"{found['flood_per_s']:,.0f}",
            f"{found['flood_503']:,}", f"{found['flood_429']:,}", f"{found['flood_answered']:,}",
        )  # fmt: skip
    console.print(table)


def _measure(backend: str, store: Store, args: argparse.Namespace) -> dict[str, Any]:
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    ids = RESULTS / "flood-clinician-ids.txt"
    ids.write_text("\n".join(store.patient_ids[:IN_CARE]) + "\n")
    env = {**os.environ, "IDS": str(ids), "TOKEN": _clinician_token(store.url, port)}
    alone: list[WrkResult] = []
    flooded: list[WrkResult] = []
    floods: list[tuple[WrkResult, dict[int, int]]] = []
    with _serving(store.url, port, args.workers):
        _in_care(base, bench_token(store.url, port), store.patient_ids[:IN_CARE])
        run_wrk(base, READ, 3, env, args.clinician_connections)  # warm up
        for round_ in range(args.rounds):
            alone.append(run_wrk(base, READ, args.seconds, env, args.clinician_connections))
            flood = _start_flood(base, args.seconds + 5, args, env)
            time.sleep(2)  # the flood at full strength before the reads are measured
            flooded.append(run_wrk(base, READ, args.seconds, env, args.clinician_connections))
            floods.append(_flood_result(flood))
            result, statuses = floods[-1]
            console.print(
                f"  [{backend}] round {round_ + 1}: reads alone {alone[-1].rate:,.0f}/s"
                f" (p99 {alone[-1].p99_ms:.1f} ms), under a flood of {result.rate:,.0f}/s {flooded[-1].rate:,.0f}/s"
                f" (p99 {flooded[-1].p99_ms:.1f} ms);"
                f" flood answers {dict(sorted(statuses.items()))}"
            )
    totals: dict[int, int] = {}
    for _, statuses in floods:
        for status, count in statuses.items():
            totals[status] = totals.get(status, 0) + count
    reads = _median(alone, "rate")
    return {
        "rounds": args.rounds,
        "reads_alone_per_s": reads,
        "reads_alone_p99_ms": _median(alone, "p99_ms"),
        "reads_flooded_per_s": _median(flooded, "rate"),
        "reads_flooded_p99_ms": _median(flooded, "p99_ms"),
        "kept": _median(flooded, "rate") / reads,
        "p99_ratio": _median(flooded, "p99_ms") / _median(alone, "p99_ms"),
        "flood_per_s": float(statistics.median(result.rate for result, _ in floods)),
        "flood_p99_ms": float(statistics.median(result.p99_ms for result, _ in floods)),
        "flood_statuses": {str(status): count for status, count in sorted(totals.items())},
        "flood_503": totals.get(503, 0),
        "flood_429": totals.get(429, 0),
        "flood_answered": sum(count for status, count in totals.items() if status not in (429, 503)),
    }


def _clinician_token(url: str, port: int) -> str:
    """A staff member's token (their reads are clinical), as a login would issue it."""
    service = FhirService(open_repository(url), bench_settings(url, issuer=f"http://127.0.0.1:{port}"))
    try:
        return service.identity.issue(
            subject=CLINICIAN,
            client_id="bench",
            scopes="user/*.rs",
            fhir_user=f"Practitioner/{CLINICIAN}",
            lifetime=4 * 3600,
        )
    finally:
        service.repo.close()


def _in_care(base: str, token: str, patients: list[str]) -> None:
    """A CareTeam a patient with the clinician in it: the access rule lets them read those patients."""
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/fhir+json"}
    with httpx.Client(base_url=base, headers=headers, timeout=30) as client:
        for patient in patients:
            team = {
                "resourceType": "CareTeam",
                "status": "active",
                "subject": {"reference": f"Patient/{patient}"},
                "participant": [{"member": {"reference": f"Practitioner/{CLINICIAN}"}}],
            }
            client.post("/fhir/CareTeam", json=team).raise_for_status()


def _start_flood(base: str, seconds: int, args: argparse.Namespace, env: dict[str, str]) -> subprocess.Popen[str]:
    connections = args.flood_connections
    delay = round(connections * 1000 / args.rate) if args.rate else 0
    command = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(FLOOD), base]
    return subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env={**env, "DELAY_MS": str(delay)}
    )


def _flood_result(flood: subprocess.Popen[str]) -> tuple[WrkResult, dict[int, int]]:
    output, _ = flood.communicate(timeout=120)
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    statuses = {int(code): int(count) for code, count in re.findall(r"^status (\d+) (\d+)$", output, re.MULTILINE)}
    return WrkResult(rate, _percentile(output, "50%"), _percentile(output, "99%")), statuses


def _median(results: list[WrkResult], field: str) -> float:
    return float(statistics.median(getattr(result, field) for result in results))


if __name__ == "__main__":
    main()
