"""Clinicians under an anonymous flood and beside a heavy user (issue 28: web/rate_limits.py,
web/admission.py, web/http_protocol.py).

A node (`lifeline serve`, `--workers` processes) over a loaded store answers `--clinicians`
clinicians (bench/wrk/clinical.lua: one wrk thread each, with their own staff token, on two
connections each; they read a patient of theirs by id and search that patient's latest
Observations, in turn; the patients are in their care through a CareTeam each). In each round:

1. the clinicians alone;
2. the same while a second wrk floods the node from `--flood-connections` connections with
   anonymous requests: the login page, unauthenticated FHIR reads and searches, the
   CapabilityStatement and the portal (bench/wrk/counted.lua), as fast as answered unless
   `--rate`; the product's rate limits apply (the flood comes from one address) unless
   `--no-address-limits`, which leaves it to admission control;
3. the same while one more staff member runs heavy searches (`_count=1000`, `_history`) from
   `--heavy-connections` connections at once (bench/wrk/counted.lua).

Reported: what the clinicians keep of their throughput, their p99 against alone, their errors (wrk
stops the bench on any), and the flood's and the heavy user's answers by status. Targets (issue
28): under the flood, p99 within 2x of alone and no errors; beside the heavy user, at least 80%
of the throughput.

The clinicians are load generators far past a person's rate (web/rate_limits.py): the account
limit is lifted for the run.

Usage: python -m bench.flood [--backends sqlite,postgresql] [--resources 20000] [--seconds 10]
[--rounds 3] [--clinicians 8] [--flood-connections 200] [--heavy-connections 16] [--rate 0]
[--no-address-limits]. Results go to bench/results/flood.json; docs/benchmarks.md records them.
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
from bench.wrk import WrkResult, _percentile
from lifeline.config import Settings
from lifeline.fhir.service import FhirService
from lifeline.storage import open_repository

console = Console()
CLINICAL = HERE / "wrk" / "clinical.lua"
COUNTED = HERE / "wrk" / "counted.lua"
# The anonymous flood: the login page, unauthenticated FHIR reads and searches, the CapabilityStatement
# and the patients' portal, no cookie, no token.
FLOOD_PATHS = "/login /fhir/Patient/p1 /fhir/metadata /portal /fhir/Observation?code=1234-5"
# The heavy user: a thousand resources a page, and the history of a type.
HEAVY_PATHS = "/fhir/Observation?_count=1000 /fhir/Patient/_history?_count=1000 /fhir/Patient?_count=1000"
CLINICIAN = "bench-clinician"
HEAVY_USER = "bench-heavy-user"
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
    parser.add_argument("--clinicians", type=int, default=8, help="each on two connections, with a token of their own")
    parser.add_argument("--heavy-connections", type=int, default=16)
    parser.add_argument(
        "--flood-lead", type=int, default=10, help="seconds of flood before the reads are measured (a flood lasts)"
    )
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--no-address-limits", action="store_true", help="lift the per-address rate limits: admission control alone"
    )
    args = parser.parse_args()
    # The clinicians here are load generators, far past a person's rate limit: the benchmarks'
    # server environment lifts it (bench/auth.py); the heavy user meets the product's requests in flight.
    os.environ["LIFELINE_PRINCIPAL_IN_FLIGHT"] = str(Settings.principal_in_flight)
    if args.no_address_limits:
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
    table = Table(title=f"Clinicians under a flood and beside a heavy user ({results['machine']})")
    columns = ("backend", "alone /s (p99 ms)", "flooded /s (p99 ms)", "kept", "p99 x", "flood /s", "flood answers")
    for column in (*columns, "beside heavy /s (p99 ms)", "kept", "heavy answers"):
        table.add_column(column)
    for backend, found in results["backends"].items():
        table.add_row(
            backend, f"{found['reads_alone_per_s']:,.0f} ({found['reads_alone_p99_ms']:.0f})",
            f"{found['reads_flooded_per_s']:,.0f} ({found['reads_flooded_p99_ms']:.0f})",
            f"{found['kept']:.0%}", f"{found['p99_ratio']:.1f}", f"{found['flood_per_s']:,.0f}",
            str(found["flood_statuses"]),
            f"{found['reads_heavy_per_s']:,.0f} ({found['reads_heavy_p99_ms']:.0f})",
            f"{found['kept_beside_heavy']:.0%}", str(found["heavy_statuses"]),
        )  # fmt: skip
    console.print(table)


def _measure(backend: str, store: Store, args: argparse.Namespace) -> dict[str, Any]:
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    ids = RESULTS / "flood-clinician-ids.txt"
    ids.write_text("\n".join(store.patient_ids[:IN_CARE]) + "\n")
    clinicians = [f"{CLINICIAN}-{n}" for n in range(args.clinicians)]
    tokens = ",".join(_staff_token(store.url, port, who) for who in clinicians)
    env = {**os.environ, "IDS": str(ids), "TOKENS": tokens}
    heavy_env = {**env, "PATHS": HEAVY_PATHS, "TOKEN": _staff_token(store.url, port, HEAVY_USER)}
    alone: list[WrkResult] = []
    flooded: list[WrkResult] = []
    beside: list[WrkResult] = []
    floods: list[tuple[WrkResult, dict[int, int]]] = []
    heavies: list[tuple[WrkResult, dict[int, int]]] = []
    with _serving(store.url, port, args.workers):
        _in_care(base, bench_token(store.url, port), store.patient_ids[:IN_CARE], [*clinicians, HEAVY_USER])
        _clinicians(base, 3, env, args.clinicians)  # warm up
        for round_ in range(args.rounds):
            alone.append(_clinicians(base, args.seconds, env, args.clinicians))
            flood_env = {**env, "PATHS": FLOOD_PATHS}
            flood = _start(base, args.seconds + args.flood_lead + 3, args.flood_connections, args.rate, flood_env)
            time.sleep(args.flood_lead)  # the flood under way (past the address's first allowance) before the reads
            flooded.append(_clinicians(base, args.seconds, env, args.clinicians))
            floods.append(_statuses(flood))
            time.sleep(2)  # the refused address's window passes
            heavy = _start(base, args.seconds + 5, args.heavy_connections, 0, heavy_env)
            time.sleep(2)
            beside.append(_clinicians(base, args.seconds, env, args.clinicians))
            heavies.append(_statuses(heavy))
            console.print(
                f"  [{backend}] round {round_ + 1}: alone {alone[-1].rate:,.0f}/s (p99 {alone[-1].p99_ms:.1f} ms);"
                f" under a flood of {floods[-1][0].rate:,.0f}/s {flooded[-1].rate:,.0f}/s"
                f" (p99 {flooded[-1].p99_ms:.1f} ms), flood answers {dict(sorted(floods[-1][1].items()))};"
                f" beside the heavy user {beside[-1].rate:,.0f}/s (p99 {beside[-1].p99_ms:.1f} ms),"
                f" their answers {dict(sorted(heavies[-1][1].items()))}"
            )
            time.sleep(2)
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
        "flood_statuses": _totals(floods),
        "reads_heavy_per_s": _median(beside, "rate"),
        "reads_heavy_p99_ms": _median(beside, "p99_ms"),
        "kept_beside_heavy": _median(beside, "rate") / reads,
        "heavy_per_s": float(statistics.median(result.rate for result, _ in heavies)),
        "heavy_statuses": _totals(heavies),
        "rounds_detail": [
            {
                "alone": a.rate,
                "flooded": f.rate,
                "beside_heavy": b.rate,
                "alone_p99_ms": a.p99_ms,
                "flooded_p99_ms": f.p99_ms,
                "beside_heavy_p99_ms": b.p99_ms,
            }
            for a, f, b in zip(alone, flooded, beside, strict=True)
        ],  # fmt: skip
    }


def _totals(runs: list[tuple[WrkResult, dict[int, int]]]) -> dict[str, int]:
    totals: dict[int, int] = {}
    for _, statuses in runs:
        for status, count in statuses.items():
            totals[status] = totals.get(status, 0) + count
    return {str(status): count for status, count in sorted(totals.items())}


def _clinicians(base: str, seconds: int, env: dict[str, str], clinicians: int) -> WrkResult:
    """The clinicians' wrk: one thread each, two connections each; any failed answer stops the bench."""
    output = subprocess.run(
        ["wrk", f"-t{clinicians}", f"-c{2 * clinicians}", f"-d{seconds}s", "--latency", "-s", str(CLINICAL), base],
        capture_output=True, text=True, env=env, check=True, timeout=seconds + 60,
    ).stdout  # fmt: skip
    failed = re.search(r"Non-2xx or 3xx responses: (\d+)|Socket errors: .*", output)
    if failed:
        raise SystemExit(f"the clinicians saw failures:\n{output}")
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    return WrkResult(rate, _percentile(output, "50%"), _percentile(output, "99%"))


def _staff_token(url: str, port: int, who: str) -> str:
    """A staff member's token (their reads are clinical), as a login would issue it."""
    service = FhirService(open_repository(url), bench_settings(url, issuer=f"http://127.0.0.1:{port}"))
    try:
        return service.identity.issue(
            subject=who,
            client_id="bench",
            scopes="user/*.rs",
            fhir_user=f"Practitioner/{who}",
            lifetime=4 * 3600,
        )
    finally:
        service.repo.close()


def _in_care(base: str, token: str, patients: list[str], staff: list[str]) -> None:
    """A CareTeam a patient with the staff in it: the access rule lets them read those patients."""
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/fhir+json"}
    with httpx.Client(base_url=base, headers=headers, timeout=30) as client:
        for patient in patients:
            team = {
                "resourceType": "CareTeam",
                "status": "active",
                "subject": {"reference": f"Patient/{patient}"},
                "participant": [{"member": {"reference": f"Practitioner/{who}"}} for who in staff],
            }
            client.post("/fhir/CareTeam", json=team).raise_for_status()


def _start(base: str, seconds: int, connections: int, rate: int, env: dict[str, str]) -> subprocess.Popen[str]:
    """bench/wrk/counted.lua on env's PATHS (and TOKEN), in the background."""
    delay = round(connections * 1000 / rate) if rate else 0
    command = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(COUNTED), base]
    return subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env={**env, "DELAY_MS": str(delay)}
    )


def _statuses(run: subprocess.Popen[str]) -> tuple[WrkResult, dict[int, int]]:
    output, _ = run.communicate(timeout=180)
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    statuses = {int(code): int(count) for code, count in re.findall(r"^status (\d+) (\d+)$", output, re.MULTILINE)}
    return WrkResult(rate, _percentile(output, "50%"), _percentile(output, "99%")), statuses


def _median(results: list[WrkResult], field: str) -> float:
    return float(statistics.median(getattr(result, field) for result in results))


if __name__ == "__main__":
    main()
