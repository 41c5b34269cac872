"""The theatre rules (fhir/rules/theatres.py) on both backends: two cases overlapping in one theatre,
one surgeon in two theatres at once, a case outside the theatre day or across midnight; each
refused in the core and through a plain FHIR PUT (an OperationOutcome, nothing stored), and the
refusal names no other patient."""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

import pytest
from starlette.testclient import TestClient

from lifeline.clock import COPENHAGEN, today
from lifeline.errors import Unprocessable
from lifeline.fhir.request import FhirRequest
from lifeline.fhir.service import FhirService
from lifeline.identity.principal import OPERATOR
from tests.conftest import assert_outcome

ROLE_CODE = "http://terminology.hl7.org/CodeSystem/v3-RoleCode"
PHYSICAL = "http://terminology.hl7.org/CodeSystem/location-physical-type"


def put(service: FhirService, resource: dict[str, Any]) -> None:
    request = FhirRequest("update", resource["resourceType"], resource["id"], body=resource, principal=OPERATOR)
    assert service.handle(request).status in (200, 201)


def ref(reference: str, display: str | None = None) -> dict[str, str]:
    return {"reference": reference, **({"display": display} if display else {})}


@dataclass
class Site:
    """A hospital with two theatres and their Schedules, an anaesthesia department, two surgeons, an
    anaesthetist and four patients; every id carries `tag`."""

    tag: str
    day: date  # a coming day

    def id(self, name: str) -> str:
        return f"{name}-{self.tag}"

    def at(self, hour: int, minute: int = 0, days: int = 0) -> datetime:
        return datetime.combine(self.day + timedelta(days=days), time(hour, minute), COPENHAGEN)


def theatre_site(service: FhirService) -> Site:
    site = Site(uuid.uuid4().hex[:8], today(service.clock) + timedelta(days=3))
    i = site.id
    put(service, {"resourceType": "Organization", "id": i("anae"), "name": f"Anæstesiologisk {site.tag}"})
    put(
        service,
        {
            "resourceType": "Location",
            "id": i("site"),
            "name": f"Hospital {site.tag}",
            "physicalType": {"coding": [{"system": PHYSICAL, "code": "si"}]},
        },
    )
    put(
        service,
        {
            "resourceType": "Location",
            "id": i("dept"),
            "name": f"Anæstesiologisk, Hospital {site.tag}",
            "physicalType": {"coding": [{"system": PHYSICAL, "code": "wi"}]},
            "partOf": ref(f"Location/{i('site')}"),
            "managingOrganization": ref(f"Organization/{i('anae')}"),
        },
    )
    for n in (1, 2):
        put(
            service,
            {
                "resourceType": "Location",
                "id": i(f"or{n}"),
                "name": f"Operationsstue {n}, Hospital {site.tag}",
                "type": [{"coding": [{"system": ROLE_CODE, "code": "OR", "display": "Operating room"}]}],
                "physicalType": {"coding": [{"system": PHYSICAL, "code": "ro"}]},
                "partOf": ref(f"Location/{i('dept')}"),
                "managingOrganization": ref(f"Organization/{i('anae')}"),
            },
        )
        put(
            service,
            {"resourceType": "Schedule", "id": i(f"sch{n}"), "active": True, "actor": [ref(f"Location/{i(f'or{n}')}")]},
        )
    for person, role in (("surgeon", "surgeon"), ("surgeon2", "surgeon"), ("anaesthetist", "anaesthetist")):
        put(
            service,
            {"resourceType": "Practitioner", "id": i(person), "name": [{"family": person.title(), "given": ["Dr"]}]},
        )
        put(
            service,
            {
                "resourceType": "PractitionerRole",
                "id": i(f"role-{person}"),
                "active": True,
                "practitioner": ref(f"Practitioner/{i(person)}", f"Dr {person.title()}"),
                "organization": ref(f"Organization/{i('anae')}"),
                "location": [ref(f"Location/{i('dept')}")],
                "code": [{"coding": [{"system": "urn:lifeline:staff-role", "code": role}]}],
            },
        )
    for n in range(1, 5):
        put(
            service,
            {
                "resourceType": "Patient",
                "id": i(f"pat{n}"),
                "name": [{"family": f"Patient{n}{site.tag}", "given": ["Ib"]}],
                "birthDate": "1960-02-03",
            },
        )
    return site


def case(
    site: Site,
    name: str,
    patient: int,
    theatre: int,
    start: datetime,
    minutes: int,
    *,
    surgeon: str = "surgeon",
    priority: str = "routine",
    status: str = "booked",
) -> list[dict[str, Any]]:
    """A planned operation: its order, its busy Slot and its Appointment (in that order)."""
    i = site.id
    end = start + timedelta(minutes=minutes)
    order = {
        "resourceType": "ServiceRequest",
        "id": i(f"sr-{name}"),
        "status": "active",
        "intent": "order",
        "priority": priority,
        "code": {"text": f"Operation {name}"},
        "subject": ref(f"Patient/{i(f'pat{patient}')}"),
    }
    slot = {
        "resourceType": "Slot",
        "id": i(f"slot-{name}"),
        "schedule": ref(f"Schedule/{i(f'sch{theatre}')}"),
        "status": "busy",
        "start": start.isoformat(),
        "end": end.isoformat(),
    }
    appointment = {
        "resourceType": "Appointment",
        "id": i(f"app-{name}"),
        "status": status,
        "priority": {"stat": 1, "urgent": 3}.get(priority, 5),
        "description": f"Operation {name}, Operationsstue {theatre}",
        "start": start.isoformat(),
        "end": end.isoformat(),
        "minutesDuration": minutes,
        "slot": [ref(f"Slot/{i(f'slot-{name}')}")],
        "basedOn": [ref(f"ServiceRequest/{i(f'sr-{name}')}")],
        "participant": [
            {"actor": ref(f"Patient/{i(f'pat{patient}')}"), "status": "accepted"},
            {"actor": ref(f"PractitionerRole/{i(f'role-{surgeon}')}", f"Dr {surgeon.title()}"), "status": "accepted"},
            {"actor": ref(f"PractitionerRole/{i('role-anaesthetist')}", "Dr Anaesthetist"), "status": "accepted"},
            {"actor": ref(f"Location/{i(f'or{theatre}')}", f"Operationsstue {theatre}"), "status": "accepted"},
        ],
    }
    return [order, slot, appointment]


def book(service: FhirService, resources: list[dict[str, Any]]) -> None:
    for resource in resources:
        put(service, resource)


def refused(service: FhirService, resource: dict[str, Any]) -> Exception:
    with pytest.raises(Unprocessable) as raised:
        put(service, resource)
    return raised.value


def stored(service: FhirService, res_type: str, res_id: str) -> bool:
    with service.repo.reading() as session:
        found = session.read(res_type, res_id)
    return found is not None and not found.deleted


@pytest.fixture(scope="module")
def site(service: FhirService) -> Site:
    return theatre_site(service)


def test_two_cases_in_one_theatre_at_once_are_refused(service: FhirService, site: Site) -> None:
    book(service, case(site, "a", 1, 1, site.at(9), 120))
    order, slot, appointment = case(site, "b", 2, 1, site.at(10), 60, surgeon="surgeon2")
    book(service, [order, slot])
    error = refused(service, appointment)
    assert "Operationsstue 1 is taken 09:00-11:00 by another case" in str(error)
    assert site.id("pat1") not in str(error) and "Patient1" not in str(error)
    assert not stored(service, "Appointment", site.id("app-b"))
    # Back to back is fine, and so is the other theatre at the same time with another surgeon.
    book(service, case(site, "c", 2, 1, site.at(11), 60, surgeon="surgeon2"))
    other = case(site, "d", 3, 2, site.at(9, 30), 60, surgeon="surgeon2")
    other[2]["participant"] = other[2]["participant"][:2] + other[2]["participant"][3:]  # no shared anaesthetist
    book(service, other)


def test_one_surgeon_in_two_theatres_is_refused(service: FhirService, site: Site) -> None:
    book(service, case(site, "e", 1, 1, site.at(14), 90))
    *first, appointment = case(site, "f", 2, 2, site.at(15), 60)
    book(service, first)
    error = refused(service, appointment)
    assert "Dr Surgeon is in Operationsstue 1 14:00-15:30" in str(error)
    assert not stored(service, "Appointment", site.id("app-f"))


def test_a_case_outside_the_theatre_day_is_refused(service: FhirService, site: Site) -> None:
    early, late, long = (
        case(site, "g", 4, 2, site.at(6, 30), 60),
        case(site, "h", 4, 2, site.at(22, 30), 120),
        case(site, "i", 4, 2, site.at(7), 17 * 60),
    )
    for one in (early, late, long):
        book(service, one[:2])
    assert "07:00-23:00" in str(refused(service, early[2]))
    assert "crosses midnight" in str(refused(service, late[2]))
    assert "theatre day" in str(refused(service, long[2]))
    for name in ("g", "h", "i"):
        assert not stored(service, "Appointment", site.id(f"app-{name}"))


def test_what_is_not_an_active_theatre_case_is_not_checked(service: FhirService, site: Site) -> None:
    cancelled = case(site, "j", 4, 1, site.at(9), 60, status="cancelled", surgeon="surgeon2")
    cancelled[2]["cancelationReason"] = {"text": "Patienten er syg"}
    book(service, cancelled)  # a cancelled case takes no theatre
    *first, clinic = case(site, "k", 4, 1, site.at(9), 60, surgeon="surgeon2")
    book(service, first)
    clinic["participant"] = clinic["participant"][:3]  # no theatre: the clinic's rules, not these
    put(service, clinic)


def test_marking_a_conflicting_case_started_is_not_refused_again(service: FhirService, site: Site) -> None:
    """A conflict that already stood (here: two cases booked in a room before it became a theatre)
    does not block the day: a write that moves nothing is not checked again."""
    room = {"resourceType": "Location", "id": site.id("or3"), "name": "Operationsstue 3"}
    put(service, room)
    first = case(site, "m", 1, 2, site.at(18), 60, surgeon="surgeon2")
    second = case(site, "n", 2, 2, site.at(18, 30), 60, surgeon="surgeon2")
    for one in (first, second):
        one[2]["participant"][3]["actor"] = ref(f"Location/{site.id('or3')}", "Operationsstue 3")
        one[2]["participant"] = one[2]["participant"][:2] + one[2]["participant"][3:]
        book(service, one)
    put(service, {**room, "type": [{"coding": [{"system": ROLE_CODE, "code": "OR"}]}]})
    second[2]["status"] = "arrived"
    put(service, second[2])
    second[2]["start"] = site.at(18, 15).isoformat()  # but moving it is checked
    assert "Operationsstue 3 is taken 18:00-19:00" in str(refused(service, second[2]))


def test_a_plain_fhir_put_is_refused_with_an_outcome(client: TestClient, service: FhirService, site: Site) -> None:
    book(service, case(site, "p", 1, 2, site.at(12), 60, surgeon="surgeon2"))
    *first, clash = case(site, "q", 3, 2, site.at(12, 30), 30, surgeon="surgeon2")
    book(service, first)
    answer = client.put(
        f"/fhir/Appointment/{clash['id']}", json=clash, headers={"Content-Type": "application/fhir+json"}
    )
    body = assert_outcome(answer, 422, "business-rule", "Operationsstue 2 is taken 12:00-13:00 by another case")
    assert site.id("pat1") not in str(body)
    assert client.get(f"/fhir/Appointment/{clash['id']}").status_code == 404
    *first, late = case(site, "r", 3, 1, site.at(22), 120, surgeon="surgeon2")
    book(service, first)
    answer = client.put(f"/fhir/Appointment/{late['id']}", json=late, headers={"Content-Type": "application/fhir+json"})
    assert_outcome(answer, 422, "business-rule", "crosses midnight")


def test_a_transaction_is_refused_whole(client: TestClient, service: FhirService, site: Site) -> None:
    """The second case of one bundle collides with the first: nothing of the bundle is stored."""
    one, two = case(site, "s", 1, 1, site.at(20), 60), case(site, "t", 2, 1, site.at(20, 30), 60, surgeon="surgeon2")
    entries = [
        {"resource": r, "request": {"method": "PUT", "url": f"{r['resourceType']}/{r['id']}"}} for r in [*one, *two]
    ]
    answer = client.post(
        "/fhir",
        json={"resourceType": "Bundle", "type": "transaction", "entry": entries},
        headers={"Content-Type": "application/fhir+json"},
    )
    assert_outcome(answer, 422, "business-rule", "Operationsstue 1 is taken 20:00-21:00")
    assert not stored(service, "Appointment", site.id("app-s"))
    assert not stored(service, "ServiceRequest", site.id("sr-s"))


def test_racing_bookings_of_one_theatre_hour_leave_one(service: FhirService, site: Site) -> None:
    """Six cases for one theatre hour written at once, each with its own patient and surgeon: the
    lock on the theatre makes each see the one before, so exactly one is stored."""
    racers = []
    for n in range(6):
        patient, surgeon = site.id(f"race-pat{n}"), site.id(f"race-surgeon{n}")
        put(service, {"resourceType": "Patient", "id": patient, "name": [{"family": f"Racer{n}"}]})
        *first, appointment = case(site, f"race{n}", 1, 2, site.at(21, 5 * n), 60)
        appointment["participant"] = [
            {"actor": ref(f"Patient/{patient}"), "status": "accepted"},
            {"actor": ref(f"Practitioner/{surgeon}", f"Dr Racer{n}"), "status": "accepted"},
            appointment["participant"][3],
        ]
        first[0]["subject"] = ref(f"Patient/{patient}")
        book(service, first)
        racers.append(appointment)
    start = threading.Barrier(len(racers))
    outcomes: list[str] = []

    def write(appointment: dict[str, Any]) -> None:
        start.wait(timeout=30)
        try:
            put(service, appointment)
            outcomes.append("stored")
        except Unprocessable as error:
            outcomes.append(str(error))

    threads = [threading.Thread(target=write, args=(appointment,)) for appointment in racers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert outcomes.count("stored") == 1, outcomes
    assert all("Operationsstue 2 is taken" in o for o in outcomes if o != "stored"), outcomes
