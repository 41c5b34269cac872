"""The clinician's pages on old ward PCs (issue 21): the server time of the chart of a patient with
about 2,000 resources (target p95 < 300 ms: its summary and each of its parts) and of the finder
(target p95 < 100 ms), each against
the FHIR searches the page makes, asked alone through the same audited entry in the same run: the
ratio is what the page adds (building, rendering) over what it must ask.

A generated region (`lifeline generate`) is imported; the demo ward's physician (cli/demo_users.py)
logs in; the first inpatient on their worklist gets Observations until their record holds
`--resources` resources. The app runs in process (Starlette's TestClient, no network): the time
is the server's. Usage: python -m bench.pages [--backends sqlite,postgresql] [--patients 60]
[--resources 2000] [--rounds 60]. Results go to bench/results/pages.json; docs/benchmarks.md
records them.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import Progress
from rich.table import Table
from starlette.testclient import TestClient

from bench.__main__ import RESULTS, _machine, generated_region, loaded_store
from bench.auth import settings as bench_settings
from lifeline.bulk.importer import import_items
from lifeline.bulk.sources import SourceItem
from lifeline.cli.demo_users import demo_users
from lifeline.clock import today
from lifeline.fhir import acting
from lifeline.fhir.request import FhirRequest
from lifeline.fhir.service import FhirService
from lifeline.identity import records
from lifeline.identity.passwords import hash_password
from lifeline.identity.sessions import STAFF, Sessions
from lifeline.storage import open_repository
from lifeline.web.app import create_app
from lifeline.web.layout import PAGES_CLIENT, STAFF_PAGE_SCOPES
from lifeline.web.login import COOKIE
from lifeline.web.pages.chart.page import PARTS
from lifeline.web.pages.worklist import worklist

console = Console()
LOINC = "http://loinc.org"
TESTS = [("2823-3", "Kalium", "mmol/L", 4.1, 3.5, 4.6), ("2160-0", "Kreatinin", "umol/L", 80, 45, 105),
         ("718-7", "Hæmoglobin", "mmol/L", 8.4, 7.3, 9.5), ("8867-4", "Puls", "/min", 72, 50, 100)]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.pages")
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--patients", type=int, default=60)
    parser.add_argument("--resources", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=60)
    args = parser.parse_args()
    RESULTS.mkdir(exist_ok=True)
    source = generated_region("pages", args.patients)
    results = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": _machine(),
        "backends": {backend: _measure(backend, source, args) for backend in args.backends.split(",")},
    }
    (RESULTS / "pages.json").write_text(json.dumps(results, indent=2))
    _print(results)


def _measure(backend: str, source: Path, args: argparse.Namespace) -> dict[str, float]:
    store = loaded_store(backend, source, "pages")
    try:
        service = FhirService(open_repository(store.url), bench_settings(store.url, issuer="http://testserver"))
        member = demo_users()[1][0]  # the ward's physician: a ward round's worth of patients
        records.put_user(service.repo, records.User(member.key, member.practitioner_id, hash_password("bench")))
        principal = _principal(member.key, member.practitioner_id)
        ward = worklist(service.as_user(principal), member.practitioner_id, today(service.clock), "en")
        patient = ward["inpatients"][0]
        held = _top_up(service, patient["id"], args.resources)
        app = create_app(service)
        with TestClient(app, base_url="http://testserver") as web:
            session = Sessions(service.repo, service.identity.state, "normal").create(
                STAFF, username=member.key, fhir_user=f"Practitioner/{member.practitioner_id}"
            )
            web.cookies.set(COOKIE, session.id)
            chart = f"/patients/{patient['id']}"
            pages = {
                "chart": chart,
                **{f"chart: {part}": f"{chart}/{part}" for part in PARTS},
                "finder, CPR": f"/find?q={patient['cpr']}",
                "finder, name": f"/find?q={patient['name'].split()[-1]}",
            }
            figures: dict[str, float] = {"resources": held}
            for name, path in pages.items():
                page, floor = _page_and_floor(web, service, principal, path, args.rounds)
                figures[f"{name} p50 ms"], figures[f"{name} p95 ms"] = page
                figures[f"{name} floor p50 ms"], figures[f"{name} floor p95 ms"] = floor
                figures[f"{name} / floor (p95)"] = page[1] / floor[1]
                console.print(
                    f"  [{backend}] {name}: p50 {page[0]:.1f} ms, p95 {page[1]:.1f} ms;"
                    f" its searches alone p95 {floor[1]:.1f} ms ({page[1] / floor[1]:.2f}x)"
                )
        service.repo.close()
    finally:
        store.drop()
    return figures


def _principal(username: str, practitioner: str) -> Any:
    from lifeline.identity.principal import STAFF as STAFF_KIND
    from lifeline.identity.principal import Principal

    return Principal(STAFF_KIND, username, PAGES_CLIENT, STAFF_PAGE_SCOPES, fhir_user=f"Practitioner/{practitioner}")


def _top_up(service: FhirService, patient: str, resources: int) -> int:
    """Laboratory results and pulses for `patient` until their record holds `resources`; returns
    how many it holds."""
    from lifeline.identity.principal import OPERATOR

    everything = FhirRequest("operation", "Patient", patient, operation="$everything", params=[("_count", "1")])
    held = int((service.as_user(OPERATOR).handle(everything).resource or {}).get("total") or 0)
    start = datetime(2019, 1, 1, 8, tzinfo=UTC)
    items = []
    for n in range(max(0, resources - held)):
        code, text, unit, normal, low, high = TESTS[n % len(TESTS)]
        value = round(normal * (0.8 + (n % 9) * 0.05), 1)
        items.append(SourceItem("bench", {
            "resourceType": "Observation", "id": f"bench-{patient[:8]}-{n}", "status": "final",
            "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category",
                                      "code": "vital-signs" if code == "8867-4" else "laboratory"}]}],
            "code": {"coding": [{"system": LOINC, "code": code}], "text": text},
            "subject": {"reference": f"Patient/{patient}"},
            "effectiveDateTime": (start + timedelta(hours=14 * n)).isoformat(),
            "valueQuantity": {"value": value, "unit": unit},
            "referenceRange": [{"low": {"value": low, "unit": unit}, "high": {"value": high, "unit": unit}}],
        }))  # fmt: skip
    import_items(service, iter(items), batch_size=500)
    return max(held, resources)


def _page_and_floor(
    web: TestClient, service: FhirService, principal: Any, path: str, rounds: int
) -> tuple[tuple[float, float], tuple[float, float]]:
    """(p50, p95) in ms of the page's server time, and of the FHIR requests it made, asked alone."""
    with _asked() as asked:
        warm = web.get(path)  # warm, and what it asks
        if warm.status_code != 200:
            raise SystemExit(f"{path} answered {warm.status_code}: {warm.text[:500]}")
    made = list(asked)
    page: list[float] = []
    floor: list[float] = []
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task(path[:40], total=rounds)
        for _ in range(rounds):
            started = time.perf_counter()
            answer = web.get(path)
            page.append((time.perf_counter() - started) * 1000)
            assert answer.status_code == 200
            started = time.perf_counter()
            core = service.as_user(principal)
            for request in made:
                core.handle(FhirRequest(request.interaction, request.resource_type, request.id,
                                        params=list(request.params), operation=request.operation))  # fmt: skip
            floor.append((time.perf_counter() - started) * 1000)
            progress.advance(task)
    return _percentiles(page), _percentiles(floor)


@contextmanager
def _asked() -> Iterator[list[FhirRequest]]:
    """The FHIR requests the pages make through the core's entry, while inside."""
    asked: list[FhirRequest] = []
    original: Callable[..., Any] = acting.Acting.handle

    def recording(self: acting.Acting, request: FhirRequest) -> Any:
        asked.append(request)
        return original(self, request)

    acting.Acting.handle = recording  # type: ignore[method-assign]
    try:
        yield asked
    finally:
        acting.Acting.handle = original  # type: ignore[method-assign]


def _percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]


def _print(results: dict[str, Any]) -> None:
    table = Table(title=f"The clinician's pages {results['date']} ({results['machine']})")
    table.add_column("measurement")
    backends = results["backends"]
    for backend in backends:
        table.add_column(backend, justify="right")
    for key in next(iter(backends.values())):
        table.add_row(key, *(f"{backends[b][key]:,.1f}" for b in backends))
    console.print(table)


if __name__ == "__main__":
    main()
