"""The planned cases of a hospital or a department in a period (issue 24): every clinic appointment
and planned operation still to happen there, with its patient, time, clinical priority and waiting
time, found through the core acting as the person who asks (so the access rule decides whom they
see, and every search is on the audit trail).

"There" is where the case happens: the clinic or theatre Location the Appointment names, managed by
the department (a department's clinic) or by a department of the hospital (its clinics and
theatres; the theatres are the anaesthetists'), and, for a department, also the cases its own staff
take part in (a surgeon's operations in the anaesthetists' theatres).

Appointment.priority is a number, 1 the most urgent (https://hl7.org/fhir/R4/appointment.html):
the generator writes 1 acute, 3 urgent (within 24 hours), 5 elective (generate/logistics.py).
The waiting time runs from `Appointment.created`, the date the patient was referred.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from lifeline.clock import COPENHAGEN
from lifeline.errors import BadRequest
from lifeline.fhir.acting import Acting
from lifeline.fhir.found import searched

ACTIVE = ("proposed", "pending", "booked", "arrived", "checked-in")  # still to happen
LEVELS = ("acute", "urgent", "elective")  # the order of the lists: acute first
PAGE = 1000  # the most one search page holds (Settings.max_count)
IDS_PER_SEARCH = 500  # ids in one `_id` search: a hospital's week in a few searches


@dataclass(frozen=True)
class Case:
    """One planned appointment or operation, as a list of cases shows it."""

    appointment: str  # Appointment/id
    version: str  # its meta.versionId when read
    patient: str  # Patient/id
    name: str
    start: str | None
    end: str | None
    what: str
    priority: int
    created: str | None  # referred: the waiting time runs from here
    operation: bool  # an operation (based on a surgeon's order), else a clinic appointment
    slot: str | None  # Slot/id it holds
    location: str | None  # Location/id: the clinic or theatre
    status: str
    minutes: int | None = None  # how long it takes
    requested: str | None = None  # on the rebooking list: not before this moment
    place: str = ""  # the clinic's or theatre's name

    @property
    def level(self) -> str:
        return level_of(self.priority)

    def waiting_days(self, on: date) -> int:
        if not self.created:
            return 0
        return max(0, (on - _local(self.created).date()).days)


def level_of(priority: int) -> str:
    """The clinical priority in words: 1-2 acute, 3-4 urgent, else elective (none: elective)."""
    return "acute" if priority <= 2 else "urgent" if priority <= 4 else "elective"


def order_key(case: Case) -> tuple[int, str, str]:
    """Clinical priority first, then the longest waiting (the oldest referral), then time."""
    return (case.priority, case.created or "9999", case.start or "")


def period_bounds(first: date, last: date) -> tuple[datetime, datetime]:
    """A period of whole Danish days, `first` to `last` inclusive, as [start, end)."""
    if last < first:
        raise BadRequest("The period ends before it begins.")
    if (last - first).days > 92:
        raise BadRequest("A period of more than 92 days cannot be reduced at once.")
    start = datetime.combine(first, time(), COPENHAGEN)
    return start, datetime.combine(last + timedelta(days=1), time(), COPENHAGEN)


def scope_searches(core: Acting, organization: str) -> list[list[tuple[str, str]]]:
    """The searches that find the cases of `organization` (Organization/id): by the places it or its
    departments manage, and for a department by its own staff."""
    found = searched(core, "Organization", [("_id", organization.removeprefix("Organization/"))])
    if not found.matches:
        raise BadRequest(f"No hospital or department {organization} is known here.")
    # A hospital has departments (Organization.partOf it); a department has none of its own.
    parts = searched(core, "Organization", [("partof", organization), ("_count", "1")])
    searches = [[("location:Location.organization", organization)]]
    if not parts.matches:
        searches.append([("actor:PractitionerRole.organization", organization)])
    else:
        searches.append([("location:Location.organization.partof", organization)])
    return searches


def cases_in(
    core: Acting, organization: str, start: datetime, end: datetime, statuses: Iterable[str] = ACTIVE
) -> list[Case]:
    """Every case of `organization` starting in [start, end), in the order of the lists."""
    found: dict[str, Case] = {}
    for scope in scope_searches(core, organization):
        params = [
            *scope,
            ("date", f"ge{start.isoformat()}"),
            ("date", f"lt{end.isoformat()}"),
            ("status", ",".join(statuses)),
            ("_include", "Appointment:patient"),
            ("_count", str(PAGE)),
        ]
        for appointment, included in _all_pages(core, "Appointment", params):
            case = case_of(appointment, included)
            if case is not None:
                found[case.appointment] = case
    return sorted(found.values(), key=order_key)


def waiting(core: Acting, organization: str) -> list[Case]:
    """The rebooking list of `organization`: its cases waiting for a new time (status `waitlist`),
    by clinical priority, then waiting time."""
    found: dict[str, Case] = {}
    for scope in scope_searches(core, organization):
        params = [*scope, ("status", "waitlist"), ("_include", "Appointment:patient"),
                  ("_include", "Appointment:location"), ("_count", str(PAGE))]  # fmt: skip
        for appointment, included in _all_pages(core, "Appointment", params):
            case = case_of(appointment, included)
            if case is not None:
                found[case.appointment] = case
    return sorted(found.values(), key=order_key)


def by_ids(core: Acting, res_type: str, ids: Iterable[str], *more: tuple[str, str]) -> dict[str, Any]:
    """The current resources of `res_type` with these ids (Type/id or id), by Type/id, with what
    `more` includes (by Type/id too)."""
    wanted = sorted({i.rsplit("/", 1)[-1] for i in ids})
    found: dict[str, Any] = {}
    for at in range(0, len(wanted), IDS_PER_SEARCH):
        chunk = wanted[at : at + IDS_PER_SEARCH]
        answer = searched(core, res_type, [("_id", ",".join(chunk)), *more, ("_count", str(PAGE))])
        for resource in answer.matches:
            found[f"{res_type}/{resource['id']}"] = resource
        found.update(answer.included)
    return found


def case_of(appointment: dict[str, Any], included: dict[str, dict[str, Any]]) -> Case | None:
    """The case an Appointment is, or None for one without a patient."""
    patient = next(
        (ref for p in appointment.get("participant") or []
         if (ref := (p.get("actor") or {}).get("reference", "")).startswith("Patient/")),
        None,
    )  # fmt: skip
    if patient is None:
        return None
    location = next(
        (ref for p in appointment.get("participant") or []
         if (ref := (p.get("actor") or {}).get("reference", "")).startswith("Location/")),
        None,
    )  # fmt: skip
    slots = [s.get("reference") for s in appointment.get("slot") or [] if s.get("reference")]
    service = (appointment.get("serviceType") or [{}])[0]
    what = appointment.get("description") or service.get("text") or ((service.get("coding") or [{}])[0]).get("display")
    return Case(
        appointment=f"Appointment/{appointment['id']}",
        version=str((appointment.get("meta") or {}).get("versionId") or ""),
        patient=patient,
        name=_name(included.get(patient)),
        start=appointment.get("start"),
        end=appointment.get("end"),
        what=str(what or ""),
        priority=int(appointment.get("priority") or 5),
        created=appointment.get("created"),
        operation=any(b.get("reference", "").startswith("ServiceRequest/") for b in appointment.get("basedOn") or []),
        slot=slots[0] if slots else None,
        location=location,
        status=str(appointment.get("status") or ""),
        minutes=_minutes(appointment),
        requested=((appointment.get("requestedPeriod") or [{}])[0]).get("start"),
        place=_place(appointment, location, included),
    )


def _place(appointment: dict[str, Any], location: str | None, included: dict[str, dict[str, Any]]) -> str:
    if location is None:
        return ""
    named = (included.get(location) or {}).get("name")
    shown = next((p["actor"].get("display") for p in appointment.get("participant") or []
                  if (p.get("actor") or {}).get("reference") == location), None)  # fmt: skip
    return str(named or shown or "")


def _minutes(appointment: dict[str, Any]) -> int | None:
    if appointment.get("minutesDuration"):
        return int(appointment["minutesDuration"])
    start, end = local(appointment.get("start")), local(appointment.get("end"))
    return int((end - start).total_seconds() // 60) if start and end else None


def _name(patient: dict[str, Any] | None) -> str:
    if patient is None:
        return ""
    names = patient.get("name") or [{}]
    name = next((n for n in names if n.get("use") == "official"), names[0])
    if name.get("text"):
        return str(name["text"])
    return " ".join([*(name.get("given") or []), name.get("family") or ""]).strip()


def _all_pages(
    core: Acting, res_type: str, params: list[tuple[str, str]]
) -> Iterator[tuple[dict[str, Any], dict[str, dict[str, Any]]]]:
    """Every match of a search, page after page, with what its page included."""
    while True:
        answer = searched(core, res_type, params)
        for match in answer.matches:
            yield match, answer.included
        following = answer.links.get("next")
        if not following:
            return
        params = parse_qsl(urlsplit(following).query, keep_blank_values=True)


def _local(value: str) -> datetime:
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=COPENHAGEN)
    return moment.astimezone(COPENHAGEN)


def local(value: str | None) -> datetime | None:
    """A FHIR dateTime in Danish time (a date alone: its midnight there)."""
    return _local(value) if value else None
