"""`/patients/{id}/timeline`: the patient's encounters and operations on one timeline across the
years (issue 21), so a clinician sees the history at a glance: inpatient stays, outpatient visits
and emergency visits (Encounter.class IMP, AMB, EMER: https://hl7.org/fhir/R4/encounter.html),
operations done (Procedure: https://hl7.org/fhir/R4/procedure.html) and those ordered or booked
(ServiceRequest, and booked clinic Appointments as planned visits: generate/logistics.py).

At the top an overview drawn by pygal (trend.py's style, its script taken out) at
`/patients/{id}/timeline/chart.svg`: one time axis, one lane per kind; below, the same events as
a list by year, newest first, filtered by kind with `?kind=`. The reads are bounded (`READ` of
each, the newest) and the page says when older ones exist. Every read goes through the core as
the clinician, the patient first (page.py), so a patient outside care is refused before anything
else is asked.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

import pygal
from babel.dates import format_date
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from lifeline.access.errors import Withheld
from lifeline.clock import today
from lifeline.errors import BadRequest, NotFound
from lifeline.fhir.acting import Acting
from lifeline.fhir.service import FhirService
from lifeline.web import i18n
from lifeline.web.pages import acting, page
from lifeline.web.pages.chart import header, trend, words
from lifeline.web.pages.chart.page import _ID, Reader, built_parts, chart_header, language, part_path, refusing

PATH = part_path("timeline")
CHART_PATH = f"{PATH}/chart.svg"
READ = 500  # the newest encounters, and the newest operations: a long life's worth
PLANNED_READ = 100
KINDS = ("stay", "visit", "emergency", "operation")  # the lanes, top to bottom
STAYS = frozenset({"IMP", "ACUTE", "NONAC", "SS"})  # v3 ActCode: the inpatient classes
NOT_SHOWN = frozenset({"entered-in-error"})
# Per lane its colour (distinct also in grey, as trend.py's); the planned in grey, today in red.
COLOURS = {"stay": "#1b4f8a", "visit": "#0b6168", "emergency": "#a34400", "operation": "#5b2a86"}
PLANNED, TODAY = "#8c959f", "#c62828"


def timeline(
    core: Acting, patient_id: str, today_: date, language_: str, built: frozenset[str], kind: str = ""
) -> dict[str, Any]:
    """What the timeline shows of `patient_id` to the person `core` acts as: the header, how
    many events of each kind, the overview's address, and the events of `kind` (all: "") by year."""
    read, top = chart_header(core, patient_id, today_, language_, built, showing="timeline")
    found, older = events(read, today_, language_)
    shown = [e for e in found if not kind or e["kind"] == kind]
    years: list[dict[str, Any]] = []
    for event in shown:
        if not years or years[-1]["year"] != event["year"]:
            years.append({"year": event["year"], "events": []})
        years[-1]["events"].append(event)
    dated = [e["year"] for e in found if e["year"]]
    return {
        **top,
        "kind": kind,
        "counts": {k: sum(e["kind"] == k for e in found) for k in KINDS},
        "planned": sum(e["planned"] for e in found),
        "first": min(dated, default=None),
        "last": max(dated, default=None),
        "years": years,
        "shown": len(shown),
        "older": older,
        "read": READ,
        "chart": CHART_PATH.replace("{id}", read.patient_id) if found else None,
        "language": language_,
    }


def events(read: Reader, today_: date, language_: str) -> tuple[list[dict[str, Any]], bool]:
    """The patient's encounters, operations and planned ones, newest first (the undated last),
    and whether older ones exist than were read."""
    encounters, included = read.search(
        "Encounter",
        ("_sort", "-date"),
        ("_count", str(READ)),
        *(("_include", f"Encounter:{p}") for p in ("location", "service-provider", "reason-reference", "diagnosis")),
    )
    older = read.more
    procedures, more = read.search(
        "Procedure",
        ("_sort", "-date"),
        ("_count", str(READ)),
        *(("_include", f"Procedure:{p}") for p in ("location", "reason-reference", "performer", "encounter")),
        ("_include:iterate", "PractitionerRole:practitioner"),
    )
    older = older or read.more
    orders, _ = read.search("ServiceRequest", ("status", "active,on-hold"), ("_count", str(PLANNED_READ)))
    booked, places = read.search(
        "Appointment",
        ("status", "proposed,pending,booked"),
        ("date", f"ge{today_.isoformat()}"),
        ("_count", str(PLANNED_READ)),
        ("_include", "Appointment:location"),
        ("_include", "Appointment:reason-reference"),
    )
    known = {**included, **more, **places, **{f"Encounter/{e.get('id')}": e for e in encounters}}
    found = [_encounter(e, known, today_, language_) for e in encounters if e.get("status") not in NOT_SHOWN]
    found += [_procedure(p, known, language_) for p in procedures if p.get("status") not in NOT_SHOWN]
    found += [_order(o, known, language_) for o in orders]
    found += [_appointment(a, known, language_) for a in booked if not a.get("basedOn")]  # an operation's: its order
    found.sort(key=lambda e: e["at"], reverse=True)
    found.sort(key=lambda e: e["year"] is None)
    return found, older


def _encounter(encounter: dict[str, Any], known: dict[str, Any], today_: date, language_: str) -> dict[str, Any]:
    code = (encounter.get("class") or {}).get("code")
    kind = "stay" if code in STAYS else "emergency" if code == "EMER" else "visit"
    period = encounter.get("period") or {}
    places = [_name(p.get("location"), known) for p in encounter.get("location") or [] if not _bed(p, known)]
    reasons = [words.concept(c) for c in encounter.get("reasonCode") or []]
    reasons += [_condition(r, known) for r in encounter.get("reasonReference") or []]
    reasons += [_condition(d.get("condition"), known) for d in encounter.get("diagnosis") or []]
    shown = _event(kind, period.get("start"), period.get("end"), encounter.get("status"), language_)
    if kind == "stay" and shown["start"]:
        until = trend._moment(period["end"]).date() if period.get("end") else today_
        shown["days"] = max(0, (until - trend._moment(period["start"]).date()).days)
    return {
        **shown,
        "id": f"Encounter/{encounter.get('id')}",
        "type": words.concept((encounter.get("type") or [None])[0]) or (encounter.get("class") or {}).get("display"),
        "department": _name(encounter.get("serviceProvider"), known),
        "place": ", ".join(dict.fromkeys(p for p in places if p)),
        "reasons": list(dict.fromkeys(r for r in reasons if r)),
        "planned": encounter.get("status") == "planned",
    }


def _procedure(procedure: dict[str, Any], known: dict[str, Any], language_: str) -> dict[str, Any]:
    period = procedure.get("performedPeriod") or {}
    start = procedure.get("performedDateTime") or period.get("start")
    during = known.get((procedure.get("encounter") or {}).get("reference", ""), {})
    reasons = [words.concept(c) for c in procedure.get("reasonCode") or []]
    reasons += [_condition(r, known) for r in procedure.get("reasonReference") or []]
    return {
        **_event("operation", start, period.get("end"), procedure.get("status"), language_),
        "id": f"Procedure/{procedure.get('id')}",
        "type": words.concept(procedure.get("code")),
        "department": _name(during.get("serviceProvider"), known),
        "place": _name(procedure.get("location"), known),
        "reasons": list(dict.fromkeys(r for r in reasons if r)),
        "surgeon": ", ".join(filter(None, (_person(p.get("actor"), known) for p in procedure.get("performer") or []))),
        "planned": False,
    }


def _order(order: dict[str, Any], known: dict[str, Any], language_: str) -> dict[str, Any]:
    """An operation ordered, not yet done (its theatre time booked or to come)."""
    period = order.get("occurrencePeriod") or {}
    start = order.get("occurrenceDateTime") or period.get("start")
    places = [p.get("display") for p in order.get("locationReference") or [] if p.get("display")]
    return {
        **_event("operation", start, period.get("end"), "planned", language_),
        "id": f"ServiceRequest/{order.get('id')}",
        "type": words.concept(order.get("code")),
        "department": None,
        "place": ", ".join(places),
        "reasons": [r for r in (_condition(c, known) for c in order.get("reasonReference") or []) if r],
        "surgeon": ", ".join(p.get("display") for p in order.get("performer") or [] if p.get("display")),
        "planned": True,
    }


def _appointment(appointment: dict[str, Any], known: dict[str, Any], language_: str) -> dict[str, Any]:
    """A booked clinic visit to come."""
    actors = [p.get("actor") or {} for p in appointment.get("participant") or []]
    places = [_name(a, known) for a in actors if str(a.get("reference", "")).startswith("Location/")]
    return {
        **_event("visit", appointment.get("start"), appointment.get("end"), "planned", language_),
        "id": f"Appointment/{appointment.get('id')}",
        "type": appointment.get("description") or words.concept(appointment.get("appointmentType")),
        "department": None,
        "place": ", ".join(p for p in places if p),
        "reasons": [r for r in (_condition(c, known) for c in appointment.get("reasonReference") or []) if r],
        "planned": True,
    }


def _event(kind: str, start: str | None, end: str | None, status: str | None, language_: str) -> dict[str, Any]:
    """When an event was, as the list says it: its days, and its clock times where it has them."""
    first, last = (trend._moment(v) if v and len(v) >= 10 else None for v in (start, end))
    return {
        "kind": kind,
        "status": status or "unknown",
        "at": first.isoformat() if first else "",
        "year": first.year if first else None,
        "start": words.when(start, language_, day=True),
        "end": words.when(end, language_, day=True),
        "startTime": first.strftime("%H:%M") if first and start and len(start) > 10 else "",
        "endTime": last.strftime("%H:%M") if last and end and len(end) > 10 and last != first else "",
        "sameDay": bool(first and last and first.date() == last.date()),
        "endAt": last.isoformat() if last else "",
        "days": None,
    }


def _name(reference: dict[str, Any] | None, known: dict[str, Any]) -> str | None:
    target = known.get((reference or {}).get("reference", ""), {})
    return target.get("name") or (reference or {}).get("display") or None


def _bed(place: dict[str, Any], known: dict[str, Any]) -> bool:
    target = known.get((place.get("location") or {}).get("reference", ""), {})
    return words.coded(target.get("physicalType"), header.PHYSICAL_TYPE) in ("bd", "ro")


def _condition(reference: dict[str, Any] | None, known: dict[str, Any]) -> str:
    target = known.get((reference or {}).get("reference", ""), {})
    return words.concept(target.get("code")) or (reference or {}).get("display") or ""


def _person(actor: dict[str, Any] | None, known: dict[str, Any]) -> str | None:
    """A performer's name: the Practitioner behind the role, else the reference's own words."""
    target = known.get((actor or {}).get("reference", ""), {})
    if target.get("resourceType") == "PractitionerRole":
        target = known.get((target.get("practitioner") or {}).get("reference", ""), {})
    named = header.name(target) if target.get("resourceType") == "Practitioner" else ""
    return named or (actor or {}).get("display") or None


def _style(small: bool) -> Any:
    """trend.py's look, the lanes' and years' guides lighter: the marks are what counts."""
    style = trend._style([*COLOURS.values(), PLANNED, TODAY], small)
    style.guide_stroke_color = style.major_guide_stroke_color = "#c4cbd3"
    style.guide_stroke_dasharray = style.major_guide_stroke_dasharray = "2,3"
    return style


def svg(found: list[dict[str, Any]], today_: date, language_: str, labels: dict[str, str], small: bool) -> bytes:
    """The overview: one lane per kind (`labels` names them, and "none" says there is nothing),
    each event a dot at its start, a stay a bar to its end; planned ones in grey; today a line."""
    dated = [e for e in found if e["at"]]
    lane = {kind: len(KINDS) - index for index, kind in enumerate(KINDS)}
    moments = [datetime.fromisoformat(e[k]) for e in dated for k in ("at", "endAt") if e[k]]
    now = datetime.combine(today_, datetime.min.time(), trend.COPENHAGEN)
    first, last = min([*moments, now]).year, max([*moments, now]).year
    step = max(1, -(-(last - first + 1) // (4 if small else 12)))
    chart = pygal.DateTimeLine(
        width=360 if small else 960,
        height=260 if small else 230,
        style=_style(small),
        js=[],
        css=["file://style.css", "file://graph.css"],
        disable_xml_declaration=True,
        show_legend=False,  # the lanes are named on their axis; the page says what grey and the line are
        truncate_label=-1,
        show_x_guides=True,
        dots_size=5,
        range=(0.5, len(KINDS) + 0.5),
        y_labels=[{"label": labels[k], "value": lane[k]} for k in KINDS],
        x_labels=[datetime(year, 1, 1, tzinfo=trend.COPENHAGEN) for year in range(first, last + 2, step)],
        x_value_formatter=lambda moment: str(format_date(_danish(moment), "yyyy", locale=language_)),
        no_data_text=labels["none"],
        margin=12,
    )
    for kind in [*KINDS, "planned"]:
        values: list[Any] = []
        for event in dated:
            if event["planned"] if kind == "planned" else event["kind"] == kind and not event["planned"]:
                y = lane[event["kind"]]
                values.append({"value": (datetime.fromisoformat(event["at"]), y), "label": event["type"] or ""})
                if event["kind"] == "stay" and event["endAt"]:
                    values.append((datetime.fromisoformat(event["endAt"]), y))
                values.append((datetime.fromisoformat(event["at"]), None))  # each its own mark
        bars = {"stroke_style": {"width": 9, "linecap": "round"}} if kind == "stay" else {"stroke": False}
        chart.add(labels.get(kind), values, allow_interruptions=True, **bars)
    chart.add(None, [(now, 0.5), (now, len(KINDS) + 0.5)], show_dots=False,
              stroke_style={"width": 2, "dasharray": "4,3"})  # fmt: skip
    return trend.document(chart)


def _danish(moment: datetime) -> datetime:
    """A moment pygal hands back (naive, in UTC) in Danish time: 1 January 00:00 is still that year."""
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(trend.COPENHAGEN)


def routes(service: FhirService, paths: Callable[[], set[str]]) -> list[Route]:
    """The timeline page and its overview; `paths` gives the app's route paths (page.routes)."""

    def chosen(request: Request) -> str:
        kind = request.query_params.get("kind", "")
        if kind and kind not in KINDS:
            raise BadRequest(f"kind is one of {', '.join(KINDS)}, or none for all")
        return kind

    def data(request: Request) -> dict[str, Any]:
        core, built, kind = acting(service, request), built_parts(paths()), chosen(request)
        return timeline(core, request.path_params["id"], today(service.clock), language(), built, kind)

    def drawn(request: Request) -> Response:
        patient_id, reader_language, today_ = request.path_params["id"], language(), today(service.clock)
        if not _ID.fullmatch(patient_id):
            raise NotFound(f"Patient/{patient_id} is not known")
        read = Reader(acting(service, request), patient_id)
        read.read_patient()  # first: outside care, nothing else is asked
        found, _ = events(read, today_, reader_language)
        gettext = i18n.translations(reader_language).gettext
        labels = {
            "stay": gettext("Stays"), "visit": gettext("Visits"), "emergency": gettext("Emergencies"),
            "operation": gettext("Operations"), "none": gettext("No encounters recorded"),
        }  # fmt: skip
        small = request.query_params.get("size") == "small"
        image = svg(found, today_, reader_language, labels, small)
        return Response(image, headers=trend.SVG_HEADERS, media_type="image/svg+xml")

    async def chart_image(request: Request) -> Response:
        try:
            return await run_in_threadpool(drawn, request)
        except Withheld:
            return Response("Not in your care", status_code=403, headers=trend.SVG_HEADERS, media_type="text/plain")

    return [
        Route(PATH, refusing(service, page("chart/timeline.html", data)), methods=["GET"]),
        Route(CHART_PATH, chart_image, methods=["GET"]),
    ]
