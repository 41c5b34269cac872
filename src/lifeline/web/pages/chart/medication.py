"""`/patients/{id}/medication`: the chart's medication (issue 21): what the patient takes now, what
they took before, and what was given. Prescriptions (MedicationRequest) and what the patient
reports taking (MedicationStatement), each with the drug and its ATC code, the dose, route, start
and end, status and who prescribed it; current (active, on hold, intended) in one table, past
(completed, stopped, cancelled …) in another; and the doses given (MedicationAdministration),
newest first, in a third.

The drug, its ATC code and the dose are read as the chart's summary reads them
(summary.medication); a prescriber is the requester's Practitioner, through their role where the
request names that, as a note's author is (notes.author). Everything is asked of the core as the
clinician, as the chart's other parts are (page.py), so the audit trail names the patient.
https://hl7.org/fhir/R4/medicationrequest.html, https://hl7.org/fhir/R4/medicationstatement.html,
https://hl7.org/fhir/R4/medicationadministration.html
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

from starlette.requests import Request
from starlette.routing import Route

from lifeline.clock import today
from lifeline.fhir.acting import Acting
from lifeline.fhir.service import FhirService
from lifeline.web.pages import acting, page
from lifeline.web.pages.chart import notes, summary, words
from lifeline.web.pages.chart.page import built_parts, chart_header, language, part_path, refusing

PATH = part_path("medication")
READ = 300  # the newest prescriptions, and as many reported drugs, on the page
GIVEN_READ = 100  # the newest doses given
CURRENT = ("active", "on-hold", "intended")  # in that order; the rest is past
HIDDEN = "entered-in-error"
PRESCRIBER = ("_include:iterate", "PractitionerRole:practitioner")


def medication(core: Acting, patient_id: str, today_: date, language_: str, built: frozenset[str]) -> dict[str, Any]:
    """What the medication part shows of `patient_id` to the person `core` acts as: the header,
    the current and past prescriptions and reported drugs, and the doses given."""
    read, top = chart_header(core, patient_id, today_, language_, built, showing="medication")
    requests, included = read.search(
        "MedicationRequest",
        ("status:not", HIDDEN),
        ("_sort", "-authoredon"),
        ("_count", str(READ)),
        ("_include", "MedicationRequest:medication"),
        ("_include", "MedicationRequest:requester"),
        PRESCRIBER,
    )
    older = read.more
    statements, reported = read.search(
        "MedicationStatement",
        ("status:not", HIDDEN),
        ("_sort", "-effective"),
        ("_count", str(READ)),
        ("_include", "MedicationStatement:medication"),
        ("_include", "MedicationStatement:source"),
        PRESCRIBER,
    )
    older = older or read.more
    given, given_included = read.search(
        "MedicationAdministration",
        ("status:not", HIDDEN),
        ("_sort", "-effective-time"),
        ("_count", str(GIVEN_READ)),
        ("_include", "MedicationAdministration:medication"),
        ("_include", "MedicationAdministration:performer"),
        PRESCRIBER,
    )
    rows = drugs(requests, statements, {**included, **reported}, language_)
    current = [r for r in rows if r["status"] in CURRENT]
    current.sort(key=lambda r: (CURRENT.index(r["status"]), r["source"] != "prescribed", r["name"].lower()))
    past = [r for r in rows if r["status"] not in CURRENT]
    past.sort(key=lambda r: words.in_order(r["end"] or r["start"]), reverse=True)  # the latest ended first
    return {
        **top,
        "current": current,
        "past": past,
        "given": [administration(a, given_included, language_) for a in given],
        "older": older,
        "givenOlder": read.more,
        "read": READ,
        "givenRead": GIVEN_READ,
        "language": language_,
    }


def drugs(
    requests: list[dict[str, Any]],
    statements: list[dict[str, Any]],
    included: dict[str, dict[str, Any]],
    language_: str,
) -> list[dict[str, Any]]:
    """Each prescription and reported drug: the summary's row (name, ATC code, dose), with its
    status, start and end, and who prescribed it or reported it."""
    by_key = {("prescribed", r.get("id")): r for r in requests} | {("reported", s.get("id")): s for s in statements}
    rows = []
    for row in summary.medication(requests, statements, included, language_):
        resource = by_key[(row["source"], row["id"])]
        period = _period(resource, row["source"])
        who = resource.get("requester") if row["source"] == "prescribed" else resource.get("informationSource")
        person = notes.author(who, included) if isinstance(who, dict) else {"name": None, "role": None}
        rows.append(
            {
                **row,
                "status": resource.get("status") or "unknown",
                "start": words.when(period.get("start"), language_, day=True) or row["since"],
                "end": words.when(period.get("end"), language_, day=True),
                "prescriber": person,
                "byPatient": isinstance(who, dict) and str(who.get("reference", "")).startswith("Patient/"),
                "reason": _reason(resource.get("statusReason")),
            }
        )
    return rows


def administration(given: dict[str, Any], included: dict[str, dict[str, Any]], language_: str) -> dict[str, Any]:
    """A dose given: the drug, the dose and route, when, its status and who gave it."""
    drug = given.get("medicationCodeableConcept")
    if drug is None:
        reference = given.get("medicationReference") or {}
        drug = included.get(reference.get("reference", ""), {}).get("code") or {"text": reference.get("display")}
    dosage = given.get("dosage") or {}
    amount, unit = words.quantity(dosage.get("dose"), language_)
    moment = given.get("effectiveDateTime") or (given.get("effectivePeriod") or {}).get("start")
    performers = [p.get("actor") for p in given.get("performer") or [] if isinstance(p.get("actor"), dict)]
    return {
        "id": given.get("id"),
        "name": words.concept(drug) or "?",
        "atc": words.coded(drug, summary.ATC),
        "dose": str(dosage.get("text") or f"{amount} {unit}".strip()),
        "route": words.concept(dosage.get("route")),
        "when": words.when(moment, language_),
        "status": given.get("status") or "unknown",
        "reason": _reason(given.get("statusReason")),
        "givenBy": [notes.author(p, included) for p in performers],
    }


def _reason(value: Any) -> str:
    """Why it was stopped or not given: a CodeableConcept (a request's) or a list of them."""
    concepts = value if isinstance(value, list) else [value]
    return ", ".join(words.concept(c) for c in concepts if isinstance(c, dict) and words.concept(c))


def _period(resource: dict[str, Any], source: str) -> dict[str, Any]:
    """When a drug was to be taken: a prescription's validity or its dosage's bounds, or the
    period a reported drug was taken."""
    if source == "reported":
        taken = resource.get("effectivePeriod") or {}
        return taken or {"start": resource.get("effectiveDateTime")}
    validity = (resource.get("dispenseRequest") or {}).get("validityPeriod") or {}
    if validity:
        return dict(validity)
    for dosage in resource.get("dosageInstruction") or []:
        bounds = ((dosage.get("timing") or {}).get("repeat") or {}).get("boundsPeriod")
        if bounds:
            return dict(bounds)
    return {}


def routes(service: FhirService, paths: Callable[[], set[str]] = set) -> list[Route]:
    """The medication page; `paths` gives the app's route paths (the chart's parts)."""

    def data(request: Request) -> dict[str, Any]:
        core = acting(service, request)
        return medication(core, request.path_params["id"], today(service.clock), language(), built_parts(paths()))

    return [Route(PATH, refusing(service, page("chart/medication.html", data)), methods=["GET"])]
