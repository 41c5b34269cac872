"""`/patients/{id}/imaging`: the chart's imaging (issue 21): the patient's ImagingStudies, newest
first and `SHOWN` to a page, each with its modality (the DICOM code, named in words by the
template), body site, date, status, number of series and images, and the radiologist's
DiagnosticReport: its conclusion and the text of its presented form, its status and who reported
it. The images themselves come with the image viewer (issue 22): the page keeps their place.

A report points at its study (DiagnosticReport.imagingStudy), not the other way, and R4 has no
search parameter on that element (https://hl7.org/fhir/R4/diagnosticreport.html#search), so no
`_revinclude` can bring it. The reports are therefore read by date, around the page's studies,
leaving out laboratory reports, and matched to their studies by that reference.

Everything is asked of the core as the clinician, as the chart's other parts are (page.py): the
pages are the core's own sealed cursors (as notes.py pages), so the audit trail names the patient.
https://hl7.org/fhir/R4/imagingstudy.html
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import orjson
from starlette.requests import Request
from starlette.routing import Route

from lifeline.clock import COPENHAGEN, today
from lifeline.fhir.acting import Acting
from lifeline.fhir.request import FhirRequest
from lifeline.fhir.service import FhirService
from lifeline.web.pages import acting, page
from lifeline.web.pages.chart import notes, words
from lifeline.web.pages.chart.notes import entries_of, page_cursors
from lifeline.web.pages.chart.page import built_parts, chart_header, language, part_path, refusing

PATH = part_path("imaging")
SHOWN = 10  # studies on one page; older ones a link away
REPORTS_READ = 200  # the reports read around one page's studies
REPORT_LATER = timedelta(days=31)  # how long after its study a report may be dated
HIDDEN = "entered-in-error"  # a study or report recorded in error is not shown
LABORATORY = "http://terminology.hl7.org/CodeSystem/v2-0074|LAB"


def imaging(
    core: Acting, patient_id: str, today_: date, language_: str, built: frozenset[str], cursor: str = ""
) -> dict[str, Any]:
    """What the imaging part shows of `patient_id` to the person `core` acts as: the header, one
    page of studies (`cursor`: the core's cursor of an older page) with their reports."""
    _, top = chart_header(core, patient_id, today_, language_, built, showing="imaging")
    criteria = [("status:not", HIDDEN), ("_sort", "-started"), ("_count", str(SHOWN))]
    if cursor:
        criteria.append(("_page", cursor))
    bundle = _searched(core, "ImagingStudy", patient_id, criteria)
    studies = entries_of(bundle, "match")
    cursors = page_cursors(bundle)
    reports, included, partial = _reports(core, patient_id, studies, newest=not cursor)
    by_study: dict[str, list[dict[str, Any]]] = {}
    for report in reports:
        for target in report.get("imagingStudy") or []:
            by_study.setdefault(str(target.get("reference", "")), []).append(report)
    shown = [study_of(s, by_study.get(f"ImagingStudy/{s.get('id')}", []), included, language_) for s in studies]
    return {
        **top,
        "studies": shown,
        "paging": {
            "newer": _link(cursors.get("previous")) if cursors.get("previous") else None,
            "older": _link(cursors.get("next")) if cursors.get("next") else None,
            "newest": "?" if cursor else None,
        },
        "reportsPartial": partial,
        "language": language_,
    }


def study_of(
    study: dict[str, Any], reports: list[dict[str, Any]], included: dict[str, dict[str, Any]], language_: str
) -> dict[str, Any]:
    """One study as the clinician reads it, with the reports about it, the newest first."""
    series = [s for s in study.get("series") or [] if isinstance(s, dict)]
    modalities = _distinct(study.get("modality") or [s.get("modality") for s in series])
    sites = _distinct([s.get("bodySite") for s in series])
    counted = [s["numberOfInstances"] for s in series if isinstance(s.get("numberOfInstances"), int)]
    images = study.get("numberOfInstances", sum(counted) if counted else None)
    shown = [report_of(r, included, language_) for r in reports if r.get("status") != HIDDEN]
    shown.sort(key=lambda r: words.in_order(r["issued"] or r["when"]), reverse=True)
    return {
        "id": study.get("id"),
        "description": study.get("description") or next((r["name"] for r in shown if r["name"]), ""),
        "modalities": [{"code": c.get("code"), "display": c.get("display")} for c in modalities],
        "bodySites": [str(c.get("display") or c.get("code")) for c in sites],
        "when": words.when(study.get("started"), language_),
        "status": study.get("status"),
        "seriesCount": study.get("numberOfSeries", len(series) if series else None),
        "images": images,
        "series": [
            {"description": s.get("description") or "", "images": s.get("numberOfInstances")}
            for s in sorted(series, key=_number)
        ],
        "referrer": (study.get("referrer") or {}).get("display"),
        "place": (study.get("location") or {}).get("display"),
        "reports": shown,
    }


def report_of(report: dict[str, Any], included: dict[str, dict[str, Any]], language_: str) -> dict[str, Any]:
    """A radiologist's report: its conclusion, the text of its presented forms (decoded as a
    note's is), its status, when it was issued and who reported it."""
    interpreters = report.get("resultsInterpreter") or []
    return {
        "id": report.get("id"),
        "name": words.concept(report.get("code")),
        "status": report.get("status"),
        "conclusion": report.get("conclusion") or "",
        "conclusionCodes": [words.concept(c) for c in report.get("conclusionCode") or [] if words.concept(c)],
        "forms": [notes.text_of(a) for a in report.get("presentedForm") or [] if isinstance(a, dict)],
        "issued": words.when(report.get("issued"), language_),
        "when": words.when(report.get("effectiveDateTime"), language_),
        "reporters": [notes.author(r, included) for r in interpreters if isinstance(r, dict)],
    }


def _reports(
    core: Acting, patient_id: str, studies: list[dict[str, Any]], newest: bool
) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]], bool]:
    """The reports dated from the day before the page's oldest study to a month after its newest
    (on the newest page: to now), laboratory reports left out; with their reporters. Whether
    there were more than were read."""
    if not studies:
        return [], {}, False
    criteria = [
        ("category:not", LABORATORY),
        ("_sort", "-date"),
        ("_count", str(REPORTS_READ)),
        ("_include", "DiagnosticReport:results-interpreter"),
        ("_include:iterate", "PractitionerRole:practitioner"),
    ]
    days = [_day(s.get("started")) for s in studies]
    if all(days):
        criteria.append(("date", f"ge{(min(d for d in days if d) - timedelta(days=1)).isoformat()}"))
    if not newest and any(days):
        criteria.append(("date", f"le{(max(d for d in days if d) + REPORT_LATER).isoformat()}"))
    bundle = _searched(core, "DiagnosticReport", patient_id, criteria)
    included = {f"{r.get('resourceType')}/{r.get('id')}": r for r in entries_of(bundle, "include")}
    return entries_of(bundle, "match"), included, "next" in page_cursors(bundle)


def _day(value: Any) -> date | None:
    """The day (in Danish time) of a FHIR dateTime, None if absent or unreadable."""
    if not isinstance(value, str) or len(value) < 10:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment.astimezone(COPENHAGEN).date() if moment.tzinfo else moment.date()


def _distinct(codings: list[Any]) -> list[dict[str, Any]]:
    """Codings, each (system and code) once, in order."""
    seen, kept = set(), []
    for coding in codings:
        if isinstance(coding, dict) and (coding.get("code") or coding.get("display")):
            key = (coding.get("system"), coding.get("code"), None if coding.get("code") else coding.get("display"))
            if key not in seen:
                seen.add(key)
                kept.append(coding)
    return kept


def _number(series: dict[str, Any]) -> int:
    """A series' number in its study (0 when not recorded), the order the modality made them in."""
    number = series.get("number")
    return number if isinstance(number, int) else 0


def _link(cursor: str | None) -> str:
    return "?" + urlencode({"page": cursor}) if cursor else "?"


def _searched(core: Acting, res_type: str, patient_id: str, criteria: list[tuple[str, str]]) -> dict[str, Any]:
    answer = core.handle(FhirRequest("search", res_type, params=[("patient", patient_id), *criteria]))
    # Entries hold the stored JSON as it is (orjson fragments): read them as data.
    bundle = orjson.loads(orjson.dumps(answer.resource or {}))
    return bundle if isinstance(bundle, dict) else {}


def routes(service: FhirService, paths: Callable[[], set[str]] = set) -> list[Route]:
    """The imaging page; `paths` gives the app's route paths (the chart's parts)."""

    def data(request: Request) -> dict[str, Any]:
        cursor = request.query_params.get("page", "")[:2000]
        core = acting(service, request)
        return imaging(core, request.path_params["id"], today(service.clock), language(), built_parts(paths()), cursor)

    return [Route(PATH, refusing(service, page("chart/imaging.html", data)), methods=["GET"])]
