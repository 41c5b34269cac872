"""`/patients`: "My patients", the logged-in clinician's worklist for today (issue 21), from the
data that exist: the inpatients of their departments by ward and bed, today's clinic
appointments of their departments, and today's operations booked with their departments.

"Their departments" are the organisations of their active PractitionerRoles; a department's
appointments are those a PractitionerRole of the department takes part in. Every read goes
through the core acting as the clinician (fhir/acting.py), a handful of searches for the whole
list, so the access rule decides which patients appear and each search is on the audit trail.
Each row opens the chart (`/patients/{id}`).
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta
from typing import Any

from babel.dates import format_time
from starlette.requests import Request
from starlette.routing import Route

from lifeline.clock import COPENHAGEN, today
from lifeline.fhir.acting import Acting
from lifeline.fhir.found import searched
from lifeline.fhir.service import FhirService
from lifeline.web.pages import acting, page
from lifeline.web.pages.chart import header, words
from lifeline.web.pages.chart.page import language

PATH = "/patients"
MOST = 200  # rows of each list: a department's day fits; more says so
_NATURAL = re.compile(r"(\d+)")


def routes(service: FhirService) -> list[Route]:
    def data(request: Request) -> dict[str, Any]:
        practitioner = (request.user.fhir_user or "").removeprefix("Practitioner/") or None
        return worklist(acting(service, request), practitioner, today(service.clock), language())

    return [Route(PATH, page("worklist.html", data), methods=["GET"])]


def worklist(core: Acting, practitioner: str | None, day: date, language: str) -> dict[str, Any]:
    """The worklist of `practitioner` (a Practitioner id) on `day` (a Danish date), as `core`'s
    person may see it."""
    shown: dict[str, Any] = {
        "day": words.when(day.isoformat(), language),
        "linked": practitioner is not None,
        **{part: [] for part in ("departments", "inpatients", "clinic", "operations", "more")},
    }
    if practitioner is None:
        return shown  # a login with no Practitioner: nobody's worklist
    roles = _search(core, "PractitionerRole", ("practitioner", practitioner), ("active", "true"))[0]
    departments = sorted({ref for role in roles if (ref := (role.get("organization") or {}).get("reference"))})
    if not departments:
        return shown
    names = {ref: (role.get("organization") or {}).get("display") or ref for role in roles
             if (ref := (role.get("organization") or {}).get("reference"))}  # fmt: skip
    shown["departments"] = [names[ref] for ref in departments]
    shown["inpatients"] = _inpatients(core, departments, day, language, shown["more"])
    colleagues = _search(core, "PractitionerRole", ("organization", ",".join(departments)), ("_count", "1000"))[0]
    actors = sorted({f"PractitionerRole/{role['id']}" for role in colleagues if role.get("id")})
    if actors:
        clinic, operations = _appointments(core, actors, day, language, shown["more"])
        shown["clinic"], shown["operations"] = clinic, operations
    return shown


def _inpatients(
    core: Acting, departments: list[str], day: date, language: str, more: list[str]
) -> list[dict[str, Any]]:
    """The admitted patients of the departments, by ward and bed."""
    found, included = _search(
        core,
        "Encounter",
        ("status", "in-progress"),
        ("class", "IMP"),
        ("service-provider", ",".join(departments)),
        ("_include", "Encounter:patient"),
        ("_include", "Encounter:location"),
        ("_count", str(MOST)),
    )
    if len(found) >= MOST:
        more.append("inpatients")
    rows = []
    for encounter in found:
        patient = included.get((encounter.get("subject") or {}).get("reference", ""))
        if patient is None:
            continue
        stay = header.stay([encounter], included, language) or {}
        rows.append({**_who(patient, day, language), "ward": stay.get("ward"), "room": stay.get("room"),
                     "bed": stay.get("bed"), "since": stay.get("since")})  # fmt: skip
    return sorted(rows, key=lambda r: (_natural(r["ward"]), _natural(r["room"]), _natural(r["bed"]), r["name"]))


def _appointments(
    core: Acting, actors: list[str], day: date, language: str, more: list[str]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Today's booked and arrived appointments of the departments: clinic visits, and operations
    (an appointment based on a surgeon's order)."""
    start = datetime.combine(day, time(), COPENHAGEN)
    found, included = _search(
        core,
        "Appointment",
        ("date", f"ge{start.isoformat()}"),
        ("date", f"lt{(start + timedelta(days=1)).isoformat()}"),
        ("status", "booked,arrived,checked-in,fulfilled"),
        ("actor", ",".join(actors)),
        ("_include", "Appointment:patient"),
        ("_sort", "date"),
        ("_count", str(MOST)),
    )
    if len(found) >= MOST:
        more.append("appointments")
    clinic: list[dict[str, Any]] = []
    operations: list[dict[str, Any]] = []
    for appointment in found:
        patient = next(
            (included[ref] for p in appointment.get("participant") or []
             if (ref := (p.get("actor") or {}).get("reference", "")).startswith("Patient/") and ref in included),
            None,
        )  # fmt: skip
        if patient is None:
            continue
        moment = datetime.fromisoformat(appointment["start"]) if appointment.get("start") else None
        row = {
            **_who(patient, day, language),
            "time": format_time(moment.astimezone(COPENHAGEN), "HH:mm", locale=language) if moment else "",
            "what": appointment.get("description") or words.concept((appointment.get("serviceType") or [{}])[0]),
            "status": appointment.get("status"),
            "with": ", ".join(p["actor"]["display"] for p in appointment.get("participant") or []
                              if (p.get("actor") or {}).get("reference", "").startswith("PractitionerRole/")
                              and p["actor"].get("display")),
        }  # fmt: skip
        based_on = appointment.get("basedOn") or []
        (operations if any(b.get("reference", "").startswith("ServiceRequest/") for b in based_on) else clinic).append(
            row
        )
    return clinic, operations


def _who(patient: dict[str, Any], day: date, language: str) -> dict[str, Any]:
    person = header.person(patient, day, language)
    return {"id": person["id"], "name": person["name"], "cpr": person["cpr"], "age": person["age"],
            "sex": person["sex"], "href": f"/patients/{person['id']}"}  # fmt: skip


def _search(
    core: Acting, res_type: str, *params: tuple[str, str]
) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
    """A search's matches and what it included (by Type/id), as plain data."""
    answered = searched(core, res_type, list(params))
    return answered.matches, answered.included


def _natural(text: str | None) -> list[Any]:
    """ "Seng 2" before "Seng 10"."""
    return [int(part) if part.isdecimal() else part.lower() for part in _NATURAL.split(text or "")]
