"""What the reports hold, read through the core's one audited entry (fhir/acting.py) with FHIR
searches (https://hl7.org/fhir/R4/search.html) — never the repository — so that every read of a
report run is on the audit trail under whoever asked (the operator, or the site node).

A ward is a Location of physical type "wa" (generate/organisations.py); its inpatients are the
in-progress inpatient Encounters (class IMP) at that location, their beds the Encounter's
locations of physical type "bd". A clinic is the Location an Appointment names as a participant
(generate/logistics.py); its day is the Appointments starting that day. A theatre is a Location
of type OR; its day is the operations booked there (an Appointment based on the surgeon's
ServiceRequest).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

from lifeline.clock import COPENHAGEN
from lifeline.config import SettingError
from lifeline.fhir.acting import Acting
from lifeline.fhir.found import searched

PHYSICAL_TYPE = "http://terminology.hl7.org/CodeSystem/location-physical-type"
ROLE_CODE = "http://terminology.hl7.org/CodeSystem/v3-RoleCode"
MOST = 1000  # matches of one search: a hospital's locations, a ward, a clinic's day
PAGES = 1000  # pages of Locations read at most: a million, beds and rooms included
_NATURAL = re.compile(r"(\d+)")


class DowntimeError(SettingError):
    """A report cannot be made or read as asked (an unknown ward, a wrong key): one clear line."""


@dataclass
class Patient:
    """One inpatient: where they lie, who they are, and the parts of their record on paper."""

    resource: dict[str, Any]
    bed: str
    since: str | None
    allergies: list[dict[str, Any]] = field(default_factory=list)
    medication: list[dict[str, Any]] = field(default_factory=list)
    medicines: dict[str, dict[str, Any]] = field(default_factory=dict)
    vitals: list[dict[str, Any]] = field(default_factory=list)
    results: list[dict[str, Any]] = field(default_factory=list)
    orders: list[dict[str, Any]] = field(default_factory=list)


def search(core: Acting, res_type: str, *params: tuple[str, str]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """A search's matches and what it included (by Type/id), as plain data."""
    answered = searched(core, res_type, [*params, ("_count", str(MOST))])
    return answered.matches, answered.included


def kind(location: dict[str, Any]) -> str | None:
    """What a Location is: "ward" (physical type wa), "clinic" (type OF, an outpatient facility)
    or "theatre" (type OR, an operating room)."""
    physical = {c.get("code") for c in (location.get("physicalType") or {}).get("coding") or []}
    types = {c.get("code") for t in location.get("type") or [] for c in t.get("coding") or []}
    if "wa" in physical:
        return "ward"
    if "OF" in types:
        return "clinic"
    if "OR" in types:
        return "theatre"
    return None


def places(core: Acting) -> list[dict[str, Any]]:
    """The wards and clinics this node's record knows, by name: every page of the Locations (a
    region holds thousands: beds and rooms too, and R4 has no search by physical type)."""
    places_: list[dict[str, Any]] = []
    params: list[tuple[str, str]] = [("_count", str(MOST))]
    for _ in range(PAGES):  # bounded
        answered = searched(core, "Location", params)
        places_ += [loc for loc in answered.matches if kind(loc)]
        cursor = parse_qs(urlsplit(answered.links.get("next", "")).query).get("_page")
        if not cursor:
            break
        params = [("_count", str(MOST)), ("_page", cursor[0])]
    return sorted(places_, key=lambda loc: natural(loc.get("name")))


def place(core: Acting, id_: str, wanted: str) -> dict[str, Any]:
    """The ward or clinic `id_` (a Location id), or a clear refusal."""
    id_ = id_.removeprefix("Location/")
    found = search(core, "Location", ("_id", id_))[0]
    if not found:
        raise DowntimeError(f"no Location {id_!r}: give a {wanted}'s Location id")
    if kind(found[0]) != wanted:
        raise DowntimeError(f"Location {id_!r} ({found[0].get('name')}) is not a {wanted}")
    return found[0]


def census(core: Acting, ward: dict[str, Any]) -> list[Patient]:
    """The ward's inpatients, by bed, each with the parts of their record the report prints."""
    encounters, included = search(
        core,
        "Encounter",
        ("location", f"Location/{ward['id']}"),
        ("status", "in-progress"),
        ("class", "IMP"),
        ("_include", "Encounter:patient"),
        ("_include", "Encounter:location"),
    )
    patients = []
    for encounter in encounters:
        patient = included.get((encounter.get("subject") or {}).get("reference", ""))
        if patient is None:
            continue
        bed = ""
        for stay in encounter.get("location") or []:
            if stay.get("status") not in (None, "active", "reserved"):
                continue
            reference = (stay.get("location") or {}).get("reference", "")
            location = included.get(reference, {})
            physical = {c.get("code") for c in (location.get("physicalType") or {}).get("coding") or []}
            if "bd" in physical:
                bed = str(location.get("name") or "").split(",")[0]
        since = (encounter.get("period") or {}).get("start")
        patients.append(record(core, Patient(patient, bed or "(no bed)", since)))
    return sorted(patients, key=lambda p: (natural(p.bed), natural(p.resource.get("id"))))


def record(core: Acting, patient: Patient) -> Patient:
    """The patient's allergies, active medication, newest vital signs and results, open orders."""
    who = ("patient", f"Patient/{patient.resource['id']}")
    patient.allergies = search(core, "AllergyIntolerance", who)[0]
    patient.medication, patient.medicines = search(
        core, "MedicationRequest", who, ("status", "active"), ("_include", "MedicationRequest:medication")
    )
    patient.vitals = search(core, "Observation", who, ("category", "vital-signs"), ("_sort", "-date"))[0]
    patient.results = search(core, "Observation", who, ("category", "laboratory"), ("_sort", "-date"))[0]
    patient.orders = search(core, "ServiceRequest", who, ("status", "active"), ("_sort", "-authored"))[0]
    return patient


def clinic_day(core: Acting, clinic: dict[str, Any], day: date) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """The clinic's appointments on `day` (Danish time), the earliest first, each with its patient."""
    start = datetime.combine(day, time(), COPENHAGEN)
    found, included = search(
        core,
        "Appointment",
        ("location", f"Location/{clinic['id']}"),
        ("date", f"ge{start.isoformat()}"),
        ("date", f"lt{(start + timedelta(days=1)).isoformat()}"),
        ("status", "proposed,pending,booked,arrived,checked-in"),
        ("_include", "Appointment:patient"),
        ("_sort", "date"),
    )
    shown = []
    for appointment in found:
        patient = next(
            (included[ref] for p in appointment.get("participant") or []
             if (ref := (p.get("actor") or {}).get("reference", "")) in included),
            None,
        )  # fmt: skip
        if patient is not None:
            shown.append((appointment, patient))
    return shown


@dataclass
class Operation:
    """One planned operation of a theatre's day: the theatre Appointment, its patient, and the
    surgeon's order it is based on (generate/logistics.py `planned_operation`), if readable."""

    appointment: dict[str, Any]
    patient: dict[str, Any]
    order: dict[str, Any] | None


def theatre_day(core: Acting, theatre: dict[str, Any], day: date) -> list[Operation]:
    """The operations planned in the theatre on `day` (Danish time), the earliest first."""
    start = datetime.combine(day, time(), COPENHAGEN)
    found, included = search(
        core,
        "Appointment",
        ("location", f"Location/{theatre['id']}"),
        ("date", f"ge{start.isoformat()}"),
        ("date", f"lt{(start + timedelta(days=1)).isoformat()}"),
        ("status", "proposed,pending,booked,arrived,checked-in"),
        ("_include", "Appointment:patient"),
        ("_include", "Appointment:based-on"),
        ("_sort", "date"),
    )
    planned = []
    for appointment in found:
        patient = next(
            (included[ref] for p in appointment.get("participant") or []
             if (ref := (p.get("actor") or {}).get("reference", "")).startswith("Patient/") and ref in included),
            None,
        )  # fmt: skip
        order = next(
            (included[r["reference"]] for r in appointment.get("basedOn") or [] if r.get("reference") in included),
            None,
        )
        if patient is not None:
            planned.append(Operation(appointment, patient, order))
    return planned


def natural(text: str | None) -> list[Any]:
    """ "Seng 2" before "Seng 10"."""
    return [int(part) if part.isdecimal() else part.lower() for part in _NATURAL.split(text or "")]
