"""`/patients/{id}/results`: the patient's laboratory results, by the report (the blood sample)
they came in, with reference ranges and flags in words; the tests, each with a link to its trend;
and the trend of the tests chosen (`?code=`, up to four on one time axis), a chart drawn by pygal
(trend.py) at `/patients/{id}/results/chart.svg` with a table of its values beside it.

Every read goes through the core acting as the clinician, as the chart's summary does (page.py):
the patient first, so a patient outside care is refused before anything else is asked, and the
chart image, too, is a read on the audit trail naming the patient.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.routing import Route

from lifeline.access.held_results import Holding
from lifeline.clock import today
from lifeline.errors import BadRequest
from lifeline.fhir.acting import Acting
from lifeline.fhir.service import FhirService
from lifeline.search.registry import SearchRegistry
from lifeline.web.pages import acting, page
from lifeline.web.pages.chart import held, summary, trend, words
from lifeline.web.pages.chart.page import (
    Reader,
    built_parts,
    chart_header,
    language,
    part_path,
    refusing,
)

PATH = part_path("results")
CHART_PATH = f"{PATH}/chart.svg"
RESULTS_READ = 300  # the newest laboratory results on the page; older ones are said to exist
TREND_READ = 500  # the results of the tests on one chart
MOST_COMPARED = 4
_CODE = re.compile(r"[A-Za-z0-9\-.:_]{1,64}")
NPU = "urn:oid:1.2.208.176.2.1"


def key_of(code: dict[str, Any] | None) -> str:
    """The code a test is known by in the page's links: its LOINC code, else its first code."""
    return words.coded(code, summary.LOINC) or next(iter(words.codes(code)), "")


def results(
    core: Acting,
    patient_id: str,
    today_: date,
    language: str,
    built: frozenset[str] = frozenset(),
    chosen: list[str] | None = None,
) -> dict[str, Any]:
    """What the results part shows of `patient_id` to the person `core` acts as: the header, the
    newest laboratory results by report, the tests, and the trend of the `chosen` test codes."""
    read, top = chart_header(core, patient_id, today_, language, built, showing="results")
    observations, reports = read.search(
        "Observation",
        ("category", "laboratory"),
        ("_sort", "-date"),
        ("_count", str(RESULTS_READ)),
        ("_revinclude", "DiagnosticReport:result"),
    )
    older = read.more
    shown = [o for o in observations if o.get("status") not in ("entered-in-error", "cancelled")]
    tests = _tests(shown, language)
    trend_of = _trend(read, chosen or [], {t["code"] for t in tests}, language)
    return {
        **top,
        "panels": _panels(shown, reports, language, held.holding_of(core), core.service.registry),
        "tests": tests,
        "older": older,
        "read": RESULTS_READ,
        "mostCompared": MOST_COMPARED,
        "trend": trend_of,
        "language": language,
    }


def _row(observation: dict[str, Any], language: str) -> dict[str, Any]:
    value, unit = summary.value_of(observation, language)
    return {
        "id": observation.get("id"),
        "code": key_of(observation.get("code")),
        "name": words.concept(observation.get("code")) or "?",
        "npu": words.coded(observation.get("code"), NPU),
        "value": value,
        "unit": unit,
        "range": words.reference_range(observation.get("referenceRange"), language),
        "flag": summary.abnormal_flag(observation),
        "when": words.when(summary.effective(observation), language),
        "status": observation.get("status"),
    }


def _panels(
    observations: list[dict[str, Any]],
    reports: dict[str, dict[str, Any]],
    language: str,
    holding: Holding,
    registry: SearchRegistry,
) -> list[dict[str, Any]]:
    """The results by the report that holds them, newest first; results in no report are grouped
    by when they were taken. Each says whether it is still held back from the patient (`held`)."""
    report_of: dict[str, dict[str, Any]] = {}
    for held_by in reports.values():
        for result in held_by.get("result") or []:
            report_of.setdefault(result.get("reference", ""), held_by)
    panels: dict[str, dict[str, Any]] = {}
    members: dict[str, tuple[dict[str, Any] | None, list[dict[str, Any]]]] = {}
    for observation in observations:
        report = report_of.get(f"Observation/{observation.get('id')}")
        taken = summary.effective(observation)
        key = f"DiagnosticReport/{report.get('id')}" if report else f"taken/{taken}"
        if key not in panels:
            performer = ((report or observation).get("performer") or [{}])[0].get("display")
            panels[key] = {
                "id": report.get("id") if report else None,
                "name": words.concept(report.get("code")) if report else "",
                "status": report.get("status") if report else None,
                "when": words.when((summary.effective(report) if report else None) or taken, language),
                "issued": words.when((report or {}).get("issued"), language),
                "performer": performer,
                "rows": [],
            }
        panels[key]["rows"].append(_row(observation, language))
        members.setdefault(key, (report, []))[1].append(observation)
    for key, (report, held_back) in members.items():
        panels[key]["held"] = held.panel_hold(holding, registry, report, held_back, language)
    shown = list(panels.values())
    for panel in shown:
        panel["rows"].sort(key=lambda r: r["name"].lower())
        panel["abnormal"] = sum(1 for r in panel["rows"] if r["flag"])
    shown.sort(key=lambda p: words.in_order(p["when"]), reverse=True)
    return shown


def _tests(observations: list[dict[str, Any]], language: str) -> list[dict[str, Any]]:
    """Each test among the results (newest first): its newest result, how many, and whether it has
    enough numeric results (two) for a trend. By name."""
    tests: dict[str, dict[str, Any]] = {}
    for observation in observations:
        key = key_of(observation.get("code"))
        if not key:
            continue
        numeric = isinstance((observation.get("valueQuantity") or {}).get("value"), int | float)
        if key not in tests:
            tests[key] = {**_row(observation, language), "count": 0, "numeric": 0}
        tests[key]["count"] += 1
        tests[key]["numeric"] += numeric
    for test in tests.values():
        test["chartable"] = test["numeric"] >= 2
    return sorted(tests.values(), key=lambda t: t["name"].lower())


def _trend(read: Reader, chosen: list[str], known: set[str], language: str) -> dict[str, Any] | None:
    """The chosen tests' series and the chart's address, or what is wrong with the choice."""
    chosen = list(dict.fromkeys(c.strip() for c in chosen if c.strip()))
    if not chosen:
        return None
    if len(chosen) > MOST_COMPARED:
        return {"refused": "too-many", "codes": chosen, "series": [], "unknown": []}
    found, older = _series(read, chosen, language)
    unknown = [code for code in chosen if not any(s["code"] == code and s["points"] for s in found)]
    drawn = [s for s in found if s["points"]]
    query = urlencode([("code", s["code"]) for s in drawn])
    return {
        "refused": None,
        "codes": chosen,
        "unknown": [{"code": code, "known": code in known} for code in unknown],
        "series": drawn,
        "chart": f"{CHART_PATH.replace('{id}', read.patient_id)}?{query}" if drawn else None,
        "chartSmall": f"{CHART_PATH.replace('{id}', read.patient_id)}?{query}&size=small" if drawn else None,
        "units": len({s["unit"] for s in drawn}),
        "older": older,
        "read": TREND_READ,
    }


def _series(read: Reader, codes: list[str], language: str) -> tuple[list[dict[str, Any]], bool]:
    """One series per code in `codes` (malformed codes match nothing), read in one search; and
    whether older results exist than were read."""
    valid = [code for code in codes if _CODE.fullmatch(code)]
    observations: list[dict[str, Any]] = []
    older = False
    if valid:
        observations, _ = read.search(
            "Observation",
            ("category", "laboratory"),
            ("code", ",".join(valid)),
            ("_sort", "-date"),  # the newest, when there are more than are read
            ("_count", str(TREND_READ)),
        )
        older = read.more
    by_code: dict[str, list[dict[str, Any]]] = {code: [] for code in codes}
    for observation in observations:
        held = set(words.codes(observation.get("code")))
        for code in valid:
            if code in held:
                by_code[code].append(observation)
    return [trend.series(by_code[code], code, language) for code in codes], older


def routes(service: FhirService, paths: Callable[[], set[str]]) -> list[Route]:
    """The results page and its chart image; `paths` gives the app's route paths (page.routes)."""

    def data(request: Request) -> dict[str, Any]:
        chosen = request.query_params.getlist("code")
        core = acting(service, request)
        built = built_parts(paths())
        return results(core, request.path_params["id"], today(service.clock), language(), built, chosen)

    def chosen(request: Request) -> list[str]:
        codes = list(dict.fromkeys(request.query_params.getlist("code")))
        if not codes or len(codes) > MOST_COMPARED:
            raise BadRequest(f"Choose from 1 to {MOST_COMPARED} tests for one chart")
        return codes

    def curves(read: Reader, codes: list[str], reader_language: str, gettext: Callable[[str], str]) -> list[Any]:
        return _series(read, codes, reader_language)[0]

    chart_image = trend.image(service, chosen, curves, "No results for this test")

    return [
        Route(PATH, refusing(service, page("chart/results.html", data)), methods=["GET"]),
        Route(CHART_PATH, chart_image, methods=["GET"]),
    ]
