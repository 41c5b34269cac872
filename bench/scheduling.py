"""`python -m bench.scheduling`: clinic scheduling at the size of a region (issue 24).

(1) Free-slot search over a region holding 1 million Slots (target p95 < 50 ms): `Appointment/$find`
    for one clinic and a fortnight, through the core (FhirService.handle plus JSON) and over HTTP
    with one client, against the hand-written SQL of the same search on the index tables (the
    floor), in the same run; the ratio is reported.
(2) The last free slot, booked by 50 clients at once over HTTP (`Appointment/$book` against
    `lifeline serve --workers 2`): exactly one must win, every other get a clear refusal (an
    OperationOutcome), and exactly one Appointment must hold the slot afterwards.

The region: `--clinics` clinics (a Location and its Schedule each), each with 20 twenty-minute
slots on every working day from 2027-01-04 until the region holds `--slots` Slots, one in five
free. Written once to bench/results/slots-N.ndjson and imported once per backend (kept in
bench/results/scheduling-N.db and the PostgreSQL schema bench_scheduling_N; --fresh re-imports).
Usage: python -m bench.scheduling [--slots 1000000] [--backends sqlite,postgresql] [--samples 200].
Results: bench/results/scheduling.json; docs/benchmarks.md records them.
"""

from __future__ import annotations

import argparse
import json
import random
import threading
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from bench.__main__ import RESULTS, _free_port, _machine, _serving, kept_database
from bench.auth import settings as bench_settings
from bench.auth import token as bench_token
from bench.search import _Floor, _latencies, percentiles
from lifeline.cli.common import close_service
from lifeline.fhir.request import FhirRequest
from lifeline.fhir.service import FhirService
from lifeline.identity.principal import OPERATOR
from lifeline.storage import open_repository, param_numbers

console = Console()
FIRST_DAY = date(2027, 1, 4)  # a Monday
SLOTS_A_DAY = 20  # 08:00-14:40, twenty minutes each
FREE_ONE_IN = 5
RACERS = 50


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.scheduling")
    parser.add_argument("--slots", type=int, default=1_000_000)
    parser.add_argument("--clinics", type=int, default=250)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--fresh", action="store_true", help="re-import even if the database is there")
    args = parser.parse_args()
    RESULTS.mkdir(exist_ok=True)
    source = _region(args.slots, args.clinics)
    results: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": _machine(),
        "slots": args.slots,
        "clinics": args.clinics,
        "backends": {},
    }
    for backend in args.backends.split(","):
        results["backends"][backend] = _bench_backend(backend, source, args)
        (RESULTS / "scheduling.json").write_text(json.dumps(results, indent=2))
    _print(results)


def _days(count: int) -> Iterator[date]:
    """Working days from FIRST_DAY."""
    day = FIRST_DAY
    while count:
        if day.weekday() < 5:
            yield day
            count -= 1
        day += timedelta(days=1)


def _instant(day: date, minute: int) -> str:
    return datetime(day.year, day.month, day.day, minute // 60, minute % 60, tzinfo=UTC).isoformat()


def _micros(day: date) -> int:
    """Midnight UTC of `day` as the index tables keep a time: microseconds since 1970."""
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()) * 1_000_000


def _region(slots: int, clinics: int) -> Path:
    """The clinics, their Schedules and `slots` Slots, as one NDJSON file (written once)."""
    out = RESULTS / f"slots-{slots}.ndjson"
    if out.exists():
        return out
    rng = random.Random(24)
    days = list(_days(-(-slots // (clinics * SLOTS_A_DAY))))
    written = 0
    part = out.with_suffix(".part")
    with part.open("wb") as sink, Progress(console=console) as progress:
        task = progress.add_task(f"writing {slots:,} slots", total=slots)
        for clinic in range(clinics):
            location = {"resourceType": "Location", "id": f"clinic-{clinic}", "name": f"Ambulatorium {clinic}"}
            schedule = {
                "resourceType": "Schedule",
                "id": f"schedule-{clinic}",
                "active": True,
                "actor": [{"reference": f"Location/clinic-{clinic}"}],
            }
            sink.write(orjson.dumps(location) + b"\n" + orjson.dumps(schedule) + b"\n")
        for day in days:
            for clinic in range(clinics):
                for n in range(SLOTS_A_DAY):
                    if written == slots:
                        break
                    minute = 8 * 60 + 20 * n
                    slot = {
                        "resourceType": "Slot",
                        "id": f"slot-{clinic}-{day.isoformat()}-{n}",
                        "schedule": {"reference": f"Schedule/schedule-{clinic}"},
                        "status": "free" if rng.randrange(FREE_ONE_IN) == 0 else "busy",
                        "start": _instant(day, minute),
                        "end": _instant(day, minute + 20),
                    }
                    sink.write(orjson.dumps(slot) + b"\n")
                    written += 1
            progress.update(task, completed=written)
    part.rename(out)
    return out


def _searches(args: argparse.Namespace) -> list[tuple[int, date]]:
    """(clinic, first day) of each sample: a clinic's next fortnight from a day of the region."""
    rng = random.Random(7)
    days = list(_days(-(-args.slots // (args.clinics * SLOTS_A_DAY))))
    return [(rng.randrange(args.clinics), rng.choice(days[: max(1, len(days) - 10)])) for _ in range(args.samples)]


def find_params(clinic: int, first: date) -> list[tuple[str, str]]:
    """`Appointment/$find` for one clinic's free slots over a fortnight (the IHE ITI Scheduling
    operation's parameters as Lifeline takes them in the query string)."""
    return [
        ("start", _instant(first, 0)),
        ("end", _instant(first + timedelta(days=14), 0)),
        ("location-reference", f"Location/clinic-{clinic}"),  # the IHE name of `location`
    ]


# The clinic's schedule first, then its slots' status and start: written with CROSS JOIN so that
# SQLite keeps this order whatever its statistics say (PostgreSQL plans it freely either way). The
# schedule is looked up by its parameter's number (storage/param_numbers.py), which names the
# type too; the slot's other rows by their owner.
FLOOR_FIND = (
    "SELECT r.res_id, r.content FROM search_reference s"
    " CROSS JOIN search_token t CROSS JOIN search_date d CROSS JOIN resource r"
    f" WHERE s.pid = {param_numbers.number('Slot', 'schedule')} AND s.target_type = 'Schedule' AND s.target_id = ?"
    f" AND t.res_type = 'Slot' AND t.res_id = s.res_id AND t.pid = {param_numbers.number('Slot', 'status')}"
    " AND t.code = 'free'"
    f" AND d.res_type = 'Slot' AND d.res_id = s.res_id AND d.pid = {param_numbers.number('Slot', 'start')}"
    " AND d.low >= ? AND d.low < ?"
    " AND r.res_type = 'Slot' AND r.res_id = s.res_id AND NOT r.deleted ORDER BY d.low LIMIT 101"
)


def _bench_backend(backend: str, source: Path, args: argparse.Namespace) -> dict[str, Any]:
    url, result = kept_database(backend, f"scheduling_{args.slots}", [source], args.fresh)
    console.print(f"[bold]{backend}[/]: {result['resources']:,} resources")
    samples = _searches(args)
    service = FhirService(open_repository(url), bench_settings(url))
    floor = _Floor(url)
    requests = [
        FhirRequest("operation", "Appointment", operation="$find", params=find_params(c, d), principal=OPERATOR)
        for c, d in samples
    ]
    floor_calls = [[(FLOOR_FIND, (f"schedule-{c}", _micros(d), _micros(d + timedelta(days=14))))] for c, d in samples]
    port = _free_port()
    token = bench_token(url, port)
    auth = {"Authorization": f"Bearer {token}"}
    try:
        with (
            _serving(url, port, workers=2),
            httpx.Client(base_url=f"http://127.0.0.1:{port}/fhir", timeout=30, headers=auth) as http,
        ):
            for call in floor_calls:  # one untimed pass: every sample's pages in memory for all three
                floor.run(*call)
            found = orjson.loads(orjson.dumps(service.handle(requests[0]).resource))
            result["first_answer_entries"] = len(found.get("entry", []))
            core = _latencies(lambda r: orjson.dumps(service.handle(r).resource), requests)
            raw = _latencies(lambda call: floor.run(*call), floor_calls)
            web = _latencies(lambda r: http.get("/Appointment/$find", params=r.params).raise_for_status(), requests)
            result["find"] = percentiles(core, web, raw)
            figures = result["find"]
            console.print(
                f"  $find: core p50 {figures['core_p50_ms']:.2f} p95 {figures['core_p95_ms']:.2f} ms,"
                f" http p95 {figures['http_p95_ms']:.2f} ms, floor p95 {figures['floor_p95_ms']:.2f} ms"
                f" ({figures['core_to_floor_p95']:.1f}x)"
            )
            result["last_slot"] = _race(http, service, args)
            console.print(f"  last slot, {RACERS} clients at once: {result['last_slot']}")
    finally:
        close_service(service)  # its audit writer first: closing the store under it crashes the process
        floor.close()
    return result


def _race(http: httpx.Client, service: FhirService, args: argparse.Namespace) -> dict[str, Any]:
    """RACERS patients ask for the one free slot left in a clinic's day, all at once."""
    clinic = args.clinics - 1
    found = http.get("/Slot", params={"schedule": f"Schedule/schedule-{clinic}", "status": "free", "_count": "100"})
    free = [e["resource"] for e in found.raise_for_status().json().get("entry", [])]
    if not free:
        raise SystemExit(f"no free slot left in clinic {clinic} to race for")
    last = free[0]
    for other in free[1:]:  # the others of the clinic are taken by someone else first
        http.put(f"/Slot/{other['id']}", json={**other, "status": "busy"}).raise_for_status()
    patients = []
    for n in range(RACERS):
        patient = {"resourceType": "Patient", "name": [{"family": f"Kapløber{n}", "given": ["Bench"]}]}
        patients.append(http.post("/Patient", json=patient).raise_for_status().json()["id"])
    barrier = threading.Barrier(RACERS)
    answers: list[int] = [0] * RACERS
    refusals: list[str] = [""] * RACERS
    base, headers = str(http.base_url), dict(http.headers)

    def racer(n: int) -> None:
        body = book_body(last, patients[n])
        with httpx.Client(base_url=base, headers=headers, timeout=60) as own:
            barrier.wait()
            answer = own.post("/Appointment/$book", json=body)
        answers[n] = answer.status_code
        if answer.status_code >= 400:
            issues = answer.json().get("issue") or [{}]
            refusals[n] = issues[0].get("diagnostics", "")

    threads = [threading.Thread(target=racer, args=(n,)) for n in range(RACERS)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - started
    held = http.get("/Appointment", params={"slot": f"Slot/{last['id']}", "status": "booked"}).json()
    winners = sum(1 for status in answers if status < 300)
    return {
        "winners": winners,
        "refused": sum(1 for status in answers if status >= 400),
        "statuses": sorted(set(answers)),
        "a_refusal": next((text for text in refusals if text), ""),
        "appointments_holding_the_slot": len(held.get("entry", [])),
        "seconds": seconds,
        "slot_start": last["start"],
    }


def book_body(slot: dict[str, Any], patient: str) -> dict[str, Any]:
    """The `$book` request for `patient` in `slot`: a Parameters resource with the Appointment."""
    appointment = {
        "resourceType": "Appointment",
        "status": "booked",
        "start": slot["start"],
        "end": slot["end"],
        "slot": [{"reference": f"Slot/{slot['id']}"}],
        "participant": [{"actor": {"reference": f"Patient/{patient}"}, "status": "accepted"}],
    }
    return {"resourceType": "Parameters", "parameter": [{"name": "appointment-resource", "resource": appointment}]}


def _print(results: dict[str, Any]) -> None:
    table = Table(title=f"Scheduling at {results['slots']:,} slots ({results['date']})")
    for column in ("backend", "$find core p95", "http p95", "floor p95", "ratio", "last slot: winners/refused"):
        table.add_column(column)
    for backend, figures in results["backends"].items():
        find, race = figures["find"], figures["last_slot"]
        table.add_row(
            backend,
            f"{find['core_p95_ms']:.1f} ms",
            f"{find['http_p95_ms']:.1f} ms",
            f"{find['floor_p95_ms']:.1f} ms",
            f"{find['core_to_floor_p95']:.1f}x",
            f"{race['winners']}/{race['refused']}",
        )
    console.print(table)


if __name__ == "__main__":
    main()
