"""Down to emergencies only (issue 24): the reduce-to-acute proposal for a whole hospital's week
(target p95 < 2 s), and what confirming it costs: one transaction per batch of 50 cases, of
reduce.BATCH cases, and one transaction for all.

A generated region (`lifeline generate`) is imported; its largest hospital (the most departments)
gets `--cases` planned cases in each of three coming weeks, spread over its own clinics and theatres
(10 % acute, 20 % urgent, the rest elective, each with a busy Slot and one of the region's
patients), as a busy hospital has. The proposal is made through the core's audited entry as the
lead's app (a system principal: the access rule of a staff member would narrow the week to their
own departments), `--rounds` times: it lists the week's cases with their patients and stores the
draft Task. Then each week is confirmed in batches of another size: the
seconds and the milliseconds per case cancelled (cancelled, slot freed, patient told, put on the
rebooking list). Usage: python -m bench.logistics_reduce [--backends sqlite,postgresql]
[--patients 200] [--cases 1500] [--rounds 20]. Results go to bench/results/logistics_reduce.json.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from bench.__main__ import RESULTS, _machine, generated_region, loaded_store
from bench.auth import settings as bench_settings
from lifeline.bulk.importer import import_items
from lifeline.bulk.sources import SourceItem
from lifeline.cli.common import close_service
from lifeline.clock import today
from lifeline.fhir.found import searched
from lifeline.fhir.service import FhirService
from lifeline.identity.principal import SYSTEM, Principal
from lifeline.identity.scopes import ScopeSet
from lifeline.logistics import cases, reduce
from lifeline.storage import open_repository

console = Console()
LEAD = Principal(kind=SYSTEM, subject="bench-lead", client_id="bench-lead", scopes=ScopeSet.parse("system/*.cruds"))
MIX = [(1, 0.1), (3, 0.2), (5, 0.7)]  # priority, share


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.logistics_reduce")
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--patients", type=int, default=200)
    parser.add_argument("--cases", type=int, default=1500)
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    RESULTS.mkdir(exist_ok=True)
    source = generated_region("reduce", args.patients)
    results = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": _machine(),
        "backends": {backend: _measure(backend, source, args) for backend in args.backends.split(",")},
    }
    (RESULTS / "logistics_reduce.json").write_text(json.dumps(results, indent=2))
    _print(results)


def _measure(backend: str, source: Path, args: argparse.Namespace) -> dict[str, float]:
    store = loaded_store(backend, source, "reduce")
    try:
        service = FhirService(open_repository(store.url), bench_settings(store.url, issuer="http://testserver"))
        core = service.as_user(LEAD, None, "HOPERAT")
        hospital, places = _largest_hospital(service)
        monday = today(service.clock) + timedelta(days=7 - today(service.clock).weekday() + 7)
        weeks = [(monday + timedelta(days=7 * n), monday + timedelta(days=7 * n + 4)) for n in range(3)]
        rng = random.Random(7)
        for number, week in enumerate(weeks):
            _top_up(service, places, store.patient_ids, week[0], args.cases, rng, f"w{number}")
        listed = len(cases.cases_in(core, hospital, *cases.period_bounds(*weeks[0])))
        console.print(f"  [{backend}] {hospital}: {listed} cases in the week of {weeks[0][0]}")
        samples, reading = [], []
        task_id = ""
        for _ in range(args.rounds):
            started = time.perf_counter()
            task_id = reduce.propose(core, hospital, *weeks[0], None, service.clock())
            samples.append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            proposal = reduce.read(core, task_id)  # what the page shows of it
            reading.append((time.perf_counter() - started) * 1000)
        figures: dict[str, float] = {"cases in the week": listed}
        figures["proposal p50 ms"], figures["proposal p95 ms"] = _percentiles(samples)
        figures["shown again p50 ms"], figures["shown again p95 ms"] = _percentiles(reading)
        p50, p95 = figures["proposal p50 ms"], figures["proposal p95 ms"]
        console.print(f"  [{backend}] proposal p50 {p50:.0f} ms, p95 {p95:.0f} ms")
        tried = (("batches of 50", 50), (f"batches of {reduce.BATCH}", reduce.BATCH), ("one transaction", 100_000))
        for week, (label, batch) in zip(weeks, tried, strict=True):
            task_id = reduce.propose(core, hospital, *week, None, service.clock())
            proposal = reduce.read(core, task_id)
            started = time.perf_counter()
            done = reduce.confirm(core, task_id, proposal.version, service.clock(), batch=batch)
            seconds = time.perf_counter() - started
            count = done.operations + done.appointments
            figures[f"confirm, {label}: cases"] = count
            figures[f"confirm, {label}: s"] = seconds
            figures[f"confirm, {label}: ms per case"] = seconds * 1000 / max(1, count)
            console.print(f"  [{backend}] confirm {count} cases, {label}: {seconds:.1f} s")
        close_service(service)  # its audit writer first: closing the store under it crashes the process
    finally:
        store.drop()
    return figures


def _largest_hospital(service: FhirService) -> tuple[str, list[tuple[str, str]]]:
    """The hospital with the most departments, and its clinics and theatres with their Schedules
    (Location ref, Schedule id)."""
    core = service.as_user(LEAD)
    orgs = searched(core, "Organization", [("_count", "1000")]).matches
    parents = [str((o.get("partOf") or {}).get("reference")) for o in orgs if o.get("partOf")]
    hospital = max(set(parents), key=lambda ref: (parents.count(ref), ref))
    schedules = searched(
        core, "Schedule", [("actor:Location.organization.partof", hospital), ("_count", "1000")]
    ).matches
    places = [(s["actor"][0]["reference"], s["id"]) for s in schedules if s.get("actor")]
    return hospital, places


def _top_up(
    service: FhirService,
    places: list[tuple[str, str]],
    patients: list[str],
    monday: date,
    count: int,
    rng: random.Random,
    tag: str,
) -> None:
    """`count` planned cases Monday to Friday of the week of `monday`, in the hospital's places."""
    items = []
    for n in range(count):
        place, schedule = places[n % len(places)]
        day = monday + timedelta(days=rng.randrange(5))
        start = datetime(day.year, day.month, day.day, 7 + rng.randrange(9), 30 * rng.randrange(2), tzinfo=UTC)
        end = start + timedelta(minutes=30)
        priority = rng.choices([p for p, _ in MIX], [w for _, w in MIX])[0]
        patient = f"Patient/{rng.choice(patients)}"
        slot_id, appointment_id = f"bench-slot-{tag}-{n}", f"bench-appt-{tag}-{n}"
        items.append(SourceItem("bench", {
            "resourceType": "Slot", "id": slot_id, "schedule": {"reference": f"Schedule/{schedule}"},
            "status": "busy", "start": start.isoformat(), "end": end.isoformat()}))  # fmt: skip
        items.append(SourceItem("bench", {
            "resourceType": "Appointment", "id": appointment_id, "status": "booked", "priority": priority,
            "description": f"Bench case {n}", "start": start.isoformat(), "end": end.isoformat(),
            "minutesDuration": 30, "slot": [{"reference": f"Slot/{slot_id}"}],
            "created": (start - timedelta(days=rng.randrange(1, 200))).isoformat(),
            "participant": [{"actor": {"reference": patient}, "status": "accepted"},
                            {"actor": {"reference": place}, "status": "accepted"}]}))  # fmt: skip
    import_items(service, iter(items), batch_size=1000)


def _percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]


def _print(results: dict[str, Any]) -> None:
    table = Table(title=f"Reduce to acute care {results['date']} ({results['machine']})")
    table.add_column("measurement")
    backends = results["backends"]
    for backend in backends:
        table.add_column(backend, justify="right")
    for key in next(iter(backends.values())):
        table.add_row(key, *(f"{backends[b][key]:,.1f}" for b in backends))
    console.print(table)


if __name__ == "__main__":
    main()
