"""`/patients/{id}/imaging`: the chart's imaging (issue 21): the patient's ImagingStudies, newest
first and `SHOWN` to a page, each with its modality (the DICOM code, named in words by the
template), body site, date, status, number of series and images, and the radiologist's
DiagnosticReport: its conclusion and the text of its presented form, its status and who reported
it. Where the node's image stores hold the study's images (issue 22), each series shows a
thumbnail that opens the image viewer (viewer.py) at it; where they cannot be seen, the page says
why in words (the store is out of reach, or holds none of them).

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

from lifeline import jsontext
from lifeline.clock import COPENHAGEN, today
from lifeline.fhir.acting import Acting
from lifeline.fhir.request import FhirRequest
from lifeline.fhir.service import FhirService
from lifeline.imaging.access import LABORATORY, study_uid
from lifeline.imaging.stores import Stores
from lifeline.web.pages import acting, page
from lifeline.web.pages.chart import notes, words
from lifeline.web.pages.chart.notes import entries_of, page_cursors
from lifeline.web.pages.chart.page import built_parts, chart_header, language, part_path, refusing
from lifeline.web.pages.chart.series import series_of

PATH = part_path("imaging")
SHOWN = 10  # studies on one page; older ones a link away
REPORTS_READ = 200  # the reports read around one page's studies
REPORT_LATER = timedelta(days=31)  # how long after its study a report may be dated
HIDDEN = "entered-in-error"  # a study or report recorded in error is not shown


def imaging(
    core: Acting,
    patient_id: str,
    today_: date,
    language_: str,
    built: frozenset[str],
    cursor: str = "",
    stores: Stores | None = None,
) -> dict[str, Any]:
    """What the imaging part shows of `patient_id` to the person `core` acts as: the header, one
    page of studies (`cursor`: the core's cursor of an older page) with their reports, and where
    `stores` hold their images, the series' thumbnails."""
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
    for study, resource in zip(shown, studies, strict=True):
        study["pictures"] = pictures(resource, patient_id, stores or Stores(None))
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


def with_reports(core: Acting, patient_id: str, study: dict[str, Any], language_: str) -> dict[str, Any]:
    """One study (`study_of`) with the reports about it, read as the part's page reads them."""
    reports, included, _ = _reports(core, patient_id, [study], newest=True)
    reference = f"ImagingStudy/{study.get('id')}"
    about = [r for r in reports if any(t.get("reference") == reference for t in r.get("imagingStudy") or [])]
    return study_of(study, about, included, language_)


def pictures(study: dict[str, Any], patient_id: str, stores: Stores, viewer: str | None = None) -> dict[str, Any]:
    """Whether `study`'s images can be seen from this node (`Stores.availability`, or "no-uid"
    for a study that names no DICOM study, "not-taken" for one booked and not yet made), the
    viewer's address (`viewer`, else the chart's), and the series with their thumbnails when they
    can."""
    uid = study_uid(study)
    if study.get("status") in ("registered", "cancelled"):
        availability = "not-taken"
    else:
        availability = stores.availability(uid) if uid else "no-uid"
    seen = availability in ("here", "region")
    viewer = viewer or f"/patients/{patient_id}/imaging/{study.get('id')}"
    series = series_of(study) if seen else []
    return {
        "availability": availability,
        "viewer": viewer if seen else None,
        "series": [
            {
                "uid": s["uid"],
                "modality": s["modality"],
                "description": s["description"],
                "images": s["images"],
                "thumbnail": s["thumbnail"],
                "href": f"{viewer}?{urlencode({'series': s['uid']})}",
            }
            for s in series
        ],
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
    bundle = orjson.loads(jsontext.dumps(answer.resource or {}))
    return bundle if isinstance(bundle, dict) else {}


def routes(service: FhirService, paths: Callable[[], set[str]] = set, stores: Stores | None = None) -> list[Route]:
    """The imaging page; `paths` gives the app's route paths (the chart's parts), `stores` the
    node's image stores (none: the page says this node has no image store)."""

    def data(request: Request) -> dict[str, Any]:
        cursor = request.query_params.get("page", "")[:2000]
        core = acting(service, request)
        patient_id, built = request.path_params["id"], built_parts(paths())
        return imaging(core, patient_id, today(service.clock), language(), built, cursor, stores)

    return [Route(PATH, refusing(service, page("chart/imaging.html", data)), methods=["GET"])]
