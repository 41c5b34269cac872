"""A small hospital of its own for the logistics tests: a hospital with a surgical department, its
clinic and theatre with their Schedules, busy and free Slots, and planned cases of every priority in
one week (and one the week after), each with its own patient. Fresh ids, so tests share a database."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from lifeline.clock import COPENHAGEN
from lifeline.fhir.acting import Acting
from lifeline.fhir.request import FhirRequest
from lifeline.fhir.service import FhirService
from lifeline.identity.principal import SYSTEM, Principal
from lifeline.identity.scopes import ScopeSet

LEAD = Principal(kind=SYSTEM, subject="lead-app", client_id="lead-app", scopes=ScopeSet.parse("system/*.cruds"))
WEEK = (date(2027, 1, 11), date(2027, 1, 15))  # Monday to Friday, well after the tests' clock


@dataclass
class Hospital:
    tag: str
    hospital: str
    department: str
    clinic: str
    theatre: str
    doctor: str  # Practitioner id, with a PractitionerRole in the department
    cases: dict[str, str] = field(default_factory=dict)  # name -> Appointment/id
    slots: dict[str, str] = field(default_factory=dict)  # name -> Slot/id (busy, held by the case)
    free: list[str] = field(default_factory=list)  # Slot/id free after the week, by time
    patients: dict[str, str] = field(default_factory=dict)  # name -> Patient/id


def put(core: Acting, resource: dict[str, Any]) -> str:
    core.handle(FhirRequest("update", resource["resourceType"], resource["id"], body=resource))
    return f"{resource['resourceType']}/{resource['id']}"


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), COPENHAGEN)


# name: (priority, operation, day offset in the week, hour, referred days before)
CASES = {
    "acute-op": (1, True, 0, 8, 0),
    "urgent-op": (3, True, 1, 8, 5),
    "elective-op": (5, True, 2, 8, 120),
    "elective-old": (5, False, 0, 9, 200),
    "elective-new": (5, False, 0, 10, 20),
    "urgent-clinic": (3, False, 3, 9, 2),
}


def build(service: FhirService, with_doctor: bool = True) -> Hospital:
    core = service.as_user(LEAD, None, "HOPERAT")
    tag = uuid.uuid4().hex[:8]
    ids = {k: f"{k}-{tag}" for k in ("hosp", "dept", "anae", "clinic", "theatre", "cs", "ts", "doc", "role")}
    put(core, {"resourceType": "Organization", "id": ids["hosp"], "name": f"Testhospital {tag}", "active": True,
               "type": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/organization-type",
                                     "code": "prov"}]}]})  # fmt: skip
    for key, name in (("dept", "Kirurgisk Afdeling"), ("anae", "Anæstesiologisk Afdeling")):
        put(core, {"resourceType": "Organization", "id": ids[key], "name": f"{name} {tag}", "active": True,
                   "partOf": {"reference": f"Organization/{ids['hosp']}"}})  # fmt: skip
    put(core, {"resourceType": "Location", "id": ids["clinic"], "name": f"Ambulatorium {tag}", "status": "active",
               "managingOrganization": {"reference": f"Organization/{ids['dept']}"}})  # fmt: skip
    put(core, {"resourceType": "Location", "id": ids["theatre"], "name": f"Operationsstue {tag}", "status": "active",
               "managingOrganization": {"reference": f"Organization/{ids['anae']}"}})  # fmt: skip
    for key, place in (("cs", "clinic"), ("ts", "theatre")):
        put(core, {"resourceType": "Schedule", "id": ids[key], "active": True,
                   "actor": [{"reference": f"Location/{ids[place]}"}]})  # fmt: skip
    if with_doctor:
        put(core, {"resourceType": "Practitioner", "id": ids["doc"], "name": [{"text": f"Leder {tag}"}]})
        put(core, {"resourceType": "PractitionerRole", "id": ids["role"], "active": True,
                   "practitioner": {"reference": f"Practitioner/{ids['doc']}"},
                   "organization": {"reference": f"Organization/{ids['dept']}"}})  # fmt: skip
    found = Hospital(tag, f"Organization/{ids['hosp']}", f"Organization/{ids['dept']}",
                     f"Location/{ids['clinic']}", f"Location/{ids['theatre']}", ids["doc"])  # fmt: skip
    for name, (priority, operation, offset, hour, referred) in CASES.items():
        _case(core, found, name, priority, operation, WEEK[0] + timedelta(days=offset), hour, referred)
    _case(core, found, "next-week", 5, False, WEEK[0] + timedelta(days=7), 9, 30)
    # Free capacity after the week: two theatre slots and three clinic slots.
    for day, hour, place in ((14, 8, "ts"), (14, 10, "ts"), (14, 9, "cs"), (14, 10, "cs"), (15, 9, "cs")):
        start = at(WEEK[1] + timedelta(days=day - 11), hour)
        minutes = 90 if place == "ts" else 30
        slot_id = f"free-{tag}-{day}-{hour}-{place}"
        found.free.append(put(core, _slot(slot_id, ids[place], start, minutes, "free")))
    return found


def _slot(slot_id: str, schedule: str, start: datetime, minutes: int, status: str) -> dict[str, Any]:
    return {"resourceType": "Slot", "id": slot_id, "schedule": {"reference": f"Schedule/{schedule}"},
            "status": status, "start": start.isoformat(),
            "end": (start + timedelta(minutes=minutes)).isoformat()}  # fmt: skip


def _case(
    core: Acting, found: Hospital, name: str, priority: int, operation: bool, day: date, hour: int, referred: int
) -> None:
    tag = found.tag
    patient = put(core, {"resourceType": "Patient", "id": f"pat-{name}-{tag}",
                         "name": [{"use": "official", "family": name.title(), "given": ["Test"]}]})  # fmt: skip
    minutes = 60 if operation else 30
    start = at(day, hour)
    place = found.theatre if operation else found.clinic
    schedule = f"{'ts' if operation else 'cs'}-{tag}"
    slot = put(core, _slot(f"slot-{name}-{tag}", schedule, start, 90 if operation else 30, "busy"))
    appointment: dict[str, Any] = {
        "resourceType": "Appointment", "id": f"appt-{name}-{tag}", "status": "booked", "priority": priority,
        "description": f"{'Operation' if operation else 'Ambulant kontrol'} {name}",
        "start": start.isoformat(), "end": (start + timedelta(minutes=minutes)).isoformat(),
        "minutesDuration": minutes, "slot": [{"reference": slot}],
        "created": (start - timedelta(days=referred)).isoformat(),
        "participant": [{"actor": {"reference": patient}, "required": "required", "status": "accepted"},
                        {"actor": {"reference": place}, "required": "required", "status": "accepted"}],
    }  # fmt: skip
    if operation:
        order = put(core, {"resourceType": "ServiceRequest", "id": f"sr-{name}-{tag}", "status": "active",
                           "intent": "order", "subject": {"reference": patient}})  # fmt: skip
        appointment["basedOn"] = [{"reference": order}]
        appointment["participant"].append(
            {"actor": {"reference": f"PractitionerRole/role-{tag}"}, "required": "required", "status": "accepted"}
        )
    found.cases[name] = put(core, appointment)
    found.slots[name] = slot
    found.patients[name] = patient
