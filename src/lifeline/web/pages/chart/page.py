"""`/patients/{id}`: the chart's data function and its route. Every read goes through the core
acting as the clinician (`acting`, fhir/acting.py), a handful of FHIR searches for the whole page,
so the access rule and the audit trail apply exactly as for the API: each read is on the trail as
the clinician's, naming the patient.

A patient outside the clinician's care is refused by the core (403, issue code `suppressed`): the
page says so and how to break the glass, and shows nothing of the patient, not even the name. An
unknown or malformed id is a 404.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from datetime import date
from typing import Any

import orjson
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from lifeline.access.errors import Withheld
from lifeline.clock import today
from lifeline.errors import NotFound
from lifeline.fhir.acting import Acting
from lifeline.fhir.found import searched
from lifeline.fhir.request import FhirRequest
from lifeline.fhir.service import FhirService
from lifeline.web import i18n
from lifeline.web.errors import wants_json
from lifeline.web.layout import CURRENT, NO_STORE, render
from lifeline.web.pages import acting, page
from lifeline.web.pages.chart import header, summary

PATH = "/patients/{id}"
_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")  # https://hl7.org/fhir/R4/datatypes.html#id
VITALS_READ = 60  # the newest vital signs: enough for the latest of each kind
LABS_READ = 300  # the newest laboratory results, of which the abnormal ones are shown
COMING_READ = 30
Endpoint = Callable[[Request], Awaitable[Response]]
# The chart's later parts (issue 21): each a page at /patients/{id}/<part>, shown as coming until
# its route exists (web/routes.py hands the app's paths in).
PARTS = ("results", "vitals", "notes", "imaging", "timeline", "medication", "orders")


def part_path(part: str) -> str:
    return f"{PATH}/{part}"


class Reader:
    """The chart's searches about one patient, through the core as the clinician."""

    def __init__(self, core: Acting, patient_id: str) -> None:
        self.core, self.patient_id = core, patient_id
        self.more = False  # whether the last search had more matches than it returned

    def read_patient(self) -> dict[str, Any]:
        answer = self.core.handle(FhirRequest("read", "Patient", self.patient_id))
        return _parsed(answer.raw) if answer.raw is not None else dict(answer.resource or {})

    def search(self, res_type: str, *params: tuple[str, str]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        """The matches of one search for the patient, and what it included, by Type/id."""
        answered = searched(self.core, res_type, [("patient", self.patient_id), *params])
        self.more = answered.more
        return answered.matches, answered.included


def chart_header(
    core: Acting, patient_id: str, today_: date, language: str, built: frozenset[str], showing: str = "summary"
) -> tuple[Reader, dict[str, Any]]:
    """What every part of the chart shows at its top: the patient read first (Withheld outside
    the clinician's care, NotFound for no such patient), then allergies, flags, the current stay
    and the team; `built` names the parts whose pages exist, `showing` the part shown. Returns
    the reader for the part's own searches."""
    if not _ID.fullmatch(patient_id):
        raise NotFound(f"Patient/{patient_id} is not known")
    read = Reader(core, patient_id)
    patient = read.read_patient()  # first: outside care, nothing else is asked
    allergies, _ = read.search("AllergyIntolerance")
    flags, _ = read.search("Flag")  # R4 has no Flag search by status: the active ones are kept below
    encounters, places = read.search(
        "Encounter",
        ("status", "in-progress"),
        ("_include", "Encounter:location"),
        ("_include", "Encounter:service-provider"),
    )
    teams, _ = read.search("CareTeam", ("status", "active"))
    return read, {
        "patient": header.person(patient, today_, language),
        "allergies": header.allergies(allergies),
        "flags": header.flags(patient, [f for f in flags if f.get("status") == "active"], language),
        "stay": header.stay(encounters, places, language),
        "team": header.team(teams, encounters),
        "parts": [{"id": part, "available": part in built} for part in PARTS],
        "showing": showing,
    }


def chart(
    core: Acting, patient_id: str, today_: date, language: str, built: frozenset[str] = frozenset()
) -> dict[str, Any]:
    """What the chart's summary shows of `patient_id` to the person `core` acts as on `today_`
    (in Danish time), in `language`: the header (`chart_header`), then one search per part of
    the summary."""
    read, top = chart_header(core, patient_id, today_, language, built)
    conditions, _ = read.search("Condition", ("clinical-status", "active"))
    requests, medications = read.search(
        "MedicationRequest", ("status", "active"), ("_include", "MedicationRequest:medication")
    )
    statements, more_medications = read.search(
        "MedicationStatement", ("status", "active"), ("_include", "MedicationStatement:medication")
    )
    vitals, _ = read.search(
        "Observation", ("category", "vital-signs"), ("_sort", "-date"), ("_count", str(VITALS_READ))
    )
    labs, _ = read.search("Observation", ("category", "laboratory"), ("_sort", "-date"), ("_count", str(LABS_READ)))
    from_today = today_.isoformat()
    appointments, _ = read.search(
        "Appointment", ("date", f"ge{from_today}"), ("_sort", "date"), ("_count", str(COMING_READ))
    )
    orders, _ = read.search(
        "ServiceRequest", ("status", "active"), ("occurrence", f"ge{from_today}"), ("_count", str(COMING_READ))
    )
    return {
        **top,
        "problems": summary.problems(conditions, language),
        "medication": summary.medication(requests, statements, {**medications, **more_medications}, language),
        "vitals": summary.vital_signs(vitals, language),
        "abnormal": summary.abnormal_results(labs, language),
        "coming": summary.coming(appointments, orders, language),
        "parts": [{"id": part, "available": part in built} for part in PARTS],
        "today": from_today,
        "language": language,
    }


def routes(service: FhirService, paths: Callable[[], set[str]] = set) -> list[Route]:
    """The chart's route; `paths` gives the app's route paths, so a part links once it exists."""

    def data(request: Request) -> dict[str, Any]:
        built = built_parts(paths())
        return chart(acting(service, request), request.path_params["id"], today(service.clock), language(), built)

    return [Route(PATH, refusing(service, page("chart/chart.html", data)), methods=["GET"])]


def language() -> str:
    """The reader's language, as the layout chose it for this request."""
    context = CURRENT.get()
    return context.language if context is not None else i18n.DEFAULT


def built_parts(paths: set[str]) -> frozenset[str]:
    """The parts of the chart whose pages exist among the app's route `paths`."""
    return frozenset(part for part in PARTS if part_path(part) in paths)


def refusing(service: FhirService, shown: Endpoint) -> Endpoint:
    """A part of the chart's endpoint: `shown`, or for a patient outside the clinician's care the
    refusal page (the OperationOutcome when JSON was asked for, as the API answers)."""

    async def endpoint(request: Request) -> Response:
        try:
            return await shown(request)
        except Withheld:
            if wants_json(request.scope):
                raise  # web/errors.py answers the OperationOutcome
            return await run_in_threadpool(refused, request)

    def refused(request: Request) -> Response:
        """Not in this clinician's care: what they may do, and nothing of the patient."""
        hours = service.settings.break_glass_hours
        return render("chart/refused.html", 403, NO_STORE, patient_id=request.path_params["id"], hours=hours)

    return endpoint


def _parsed(text: str | bytes) -> dict[str, Any]:
    value = orjson.loads(text)
    return value if isinstance(value, dict) else {}
