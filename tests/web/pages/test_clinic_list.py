"""A clinic's list (web/pages/clinic_list.py) through its JSON form, on both backends: the day's
appointments of the clinic with time, patient, reason, status and arrival; the doctor's own
clinic by default; marking a patient arrived. (A patient booked at a clinic is in the care of its
department: access/care.py.)"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import orjson
from starlette.testclient import TestClient

from lifeline.clock import today
from lifeline.fhir.request import FhirRequest
from lifeline.fhir.service import FhirService
from lifeline.identity.principal import OPERATOR
from tests.web.pages.test_chart import Ward, admitted_patient, doctor_logged_in, put, ref

CLINIC_TYPE = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-RoleCode", "code": "OF"}]}


@dataclass
class ClinicDay:
    ward: Ward
    clinic: str
    name: str
    day: date
    slots: list[str]  # free at 09:00, 09:30, 10:00, 10:30 ... of `day`


def at(day: date, minute: int) -> str:
    return f"{day.isoformat()}T{minute // 60:02d}:{minute % 60:02d}:00+01:00"


def clinic_day(service: FhirService, days_ahead: int = 10, slots: int = 4) -> ClinicDay:
    """The ward's department with a clinic (its Schedule and free Slots on a coming day)."""
    ward = admitted_patient(service)
    tag = ward.tag
    name = f"Ambulatorium, Kardiologisk Afdeling {tag}"
    put(service, {"resourceType": "Location", "id": f"clinic-{tag}", "status": "active", "name": name,
                  "type": [CLINIC_TYPE], "managingOrganization": ref(f"Organization/dep-{tag}")})  # fmt: skip
    put(service, {"resourceType": "Schedule", "id": f"sched-{tag}", "active": True,
                  "actor": [ref(f"Location/clinic-{tag}", name)]})  # fmt: skip
    day = today(service.clock) + timedelta(days=days_ahead)
    ids = []
    for number in range(slots):
        slot_id = f"slot-{tag}-{number}"
        put(service, {"resourceType": "Slot", "id": slot_id, "schedule": ref(f"Schedule/sched-{tag}"),
                      "status": "free", "start": at(day, 540 + 30 * number),
                      "end": at(day, 570 + 30 * number)})  # fmt: skip
        ids.append(slot_id)
    return ClinicDay(ward, f"clinic-{tag}", name, day, ids)


def book(service: FhirService, place: ClinicDay, patient: str, slot: str, **extra: Any) -> dict[str, Any]:
    """Book `patient` into `slot` through $book, as the operator."""
    appointment = {"resourceType": "Appointment", "status": "proposed", "slot": [ref(f"Slot/{slot}")],
                   "description": "Ambulant kontrol",
                   "participant": [{"actor": ref(f"Patient/{patient}"), "status": "accepted"},
                                   {"actor": ref(f"Location/{place.clinic}", place.name), "status": "accepted"}],
                   **extra}  # fmt: skip
    body = {"resourceType": "Parameters", "parameter": [{"name": "appointment-resource", "resource": appointment}]}
    asking = FhirRequest("operation", "Appointment", operation="$book", body=body)
    answer = service.as_user(OPERATOR).handle(asking)
    booked: dict[str, Any] = orjson.loads(orjson.dumps(answer.resource))["entry"][0]["resource"]
    return booked


def clinic_json(web: TestClient, **params: str) -> dict[str, Any]:
    answer = web.get("/clinics", params={**params, "_format": "json"})
    assert answer.status_code == 200, answer.text
    shown: dict[str, Any] = answer.json()
    return shown


def read(service: FhirService, res_type: str, res_id: str) -> dict[str, Any]:
    answer = service.as_user(OPERATOR).handle(FhirRequest("read", res_type, id=res_id))
    found: dict[str, Any] = orjson.loads(answer.raw) if answer.raw is not None else dict(answer.resource or {})
    return found


def test_the_days_list_of_a_clinic(service: FhirService) -> None:
    place = clinic_day(service)
    booked = book(service, place, place.ward.mine, place.slots[1])
    web, _ = doctor_logged_in(service, place.ward)
    shown = clinic_json(web, clinic=place.clinic, day=place.day.isoformat())
    assert shown["clinicName"] == place.name
    assert len(shown["rows"]) == 1
    row = shown["rows"][0]
    assert row["id"] == booked["id"] and (row["time"], row["until"]) == ("09:30", "10:00")
    assert row["patient"]["name"] == "Karen Sørensen" and row["patient"]["href"] == f"/patients/{place.ward.mine}"
    assert (row["reason"], row["status"], row["arrived"], row["canArrive"]) == (
        "Ambulant kontrol",
        "booked",
        False,
        True,
    )
    page = web.get("/clinics", params={"clinic": place.clinic, "day": place.day.isoformat()}).text
    assert "Karen Sørensen" in page and 'id="arrive-' in page
    other_day = clinic_json(web, clinic=place.clinic, day=(place.day + timedelta(days=1)).isoformat())
    assert other_day["rows"] == []


def test_the_doctors_own_clinic_and_today_by_default(service: FhirService) -> None:
    place = clinic_day(service, days_ahead=0)
    web, _ = doctor_logged_in(service, place.ward)
    shown = clinic_json(web)
    assert shown["clinic"] == place.clinic and shown["day"] == today(service.clock).isoformat()
    assert any(c["id"] == place.clinic for c in shown["clinics"])


def test_a_bad_day_or_clinic_is_said_beside_the_field(service: FhirService) -> None:
    place = clinic_day(service)
    web, _ = doctor_logged_in(service, place.ward)
    shown = clinic_json(web, clinic="no-such-clinic", day="31-31-2026")
    assert shown["problems"] == {"clinic": "unknown", "day": "format"}
    page = web.get("/clinics", params={"clinic": "no-such-clinic", "day": "x"}).text
    assert 'id="clinic-error"' in page and 'id="day-error"' in page


def test_marking_a_patient_arrived(service: FhirService) -> None:
    place = clinic_day(service, days_ahead=0)
    booked = book(service, place, place.ward.mine, place.slots[0])
    web, _ = doctor_logged_in(service, place.ward)
    shown = clinic_json(web, clinic=place.clinic)
    row = next(r for r in shown["rows"] if r["id"] == booked["id"])
    form = {"csrf": shown["csrf"], "appointment": row["id"], "version": row["version"], "clinic": place.clinic,
            "day": shown["day"]}  # fmt: skip
    answer = web.post("/clinics/arrived", data=form, follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"].startswith(f"/clinics?clinic={place.clinic}")
    assert read(service, "Appointment", booked["id"])["status"] == "arrived"
    after = clinic_json(web, clinic=place.clinic)
    assert next(r for r in after["rows"] if r["id"] == booked["id"])["arrived"] is True
    again = web.post("/clinics/arrived", params={"_format": "json"}, data=form)  # a second press: nothing to do
    assert again.status_code == 409 and again.json()["problems"] == {"appointment": "not-booked"}


def test_a_stale_list_changes_nothing(service: FhirService) -> None:
    place = clinic_day(service, days_ahead=0)
    booked = book(service, place, place.ward.mine, place.slots[0])
    web, _ = doctor_logged_in(service, place.ward)
    shown = clinic_json(web, clinic=place.clinic)
    form = {"csrf": shown["csrf"], "appointment": booked["id"], "version": "7", "clinic": place.clinic}
    stale = web.post("/clinics/arrived", params={"_format": "json"}, data=form)
    assert stale.status_code == 412 and "version" in stale.json()["refusal"].lower()
    assert read(service, "Appointment", booked["id"])["status"] == "booked"


def test_arrived_needs_the_forms_token(service: FhirService) -> None:
    place = clinic_day(service, days_ahead=0)
    booked = book(service, place, place.ward.mine, place.slots[0])
    web, _ = doctor_logged_in(service, place.ward)
    answer = web.post("/clinics/arrived", data={"appointment": booked["id"], "csrf": "wrong"})
    assert answer.status_code == 403
    assert read(service, "Appointment", booked["id"])["status"] == "booked"
