"""The record's scheduling rules (fhir/rules/scheduling.py), through the API and the core, on both
backends: every refusal a 422 OperationOutcome naming nobody else, and nothing half-written; 50
racing bookings of the last slot give exactly one appointment."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from starlette.testclient import TestClient

from lifeline.errors import FhirError
from lifeline.fhir.request import FhirRequest
from lifeline.fhir.service import FhirService
from lifeline.identity.principal import OPERATOR
from tests.conftest import assert_outcome, new_patient

DAY = "2027-03-0{}"  # the tests' clock starts 2026-11-22: these days are ahead


@dataclass
class Clinic:
    location: str
    schedule: str


def post(client: TestClient, resource: dict[str, Any]) -> dict[str, Any]:
    answer = client.post(f"/fhir/{resource['resourceType']}", json=resource)
    assert answer.status_code == 201, answer.text
    created: dict[str, Any] = answer.json()
    return created


def clinic(client: TestClient, name: str = "Ambulatorium, Testafdeling") -> Clinic:
    location = post(client, {"resourceType": "Location", "name": name})
    schedule = post(
        client,
        {"resourceType": "Schedule", "active": True,
         "actor": [{"reference": f"Location/{location['id']}", "display": name}]},
    )  # fmt: skip
    return Clinic(location["id"], schedule["id"])


def free_slot(client: TestClient, place: Clinic, start: str, end: str, status: str = "free", **extra: Any) -> str:
    slot = {"resourceType": "Slot", "schedule": {"reference": f"Schedule/{place.schedule}"}, "status": status,
            "start": start, "end": end, **extra}  # fmt: skip
    return str(post(client, slot)["id"])


def patient(client: TestClient, **extra: Any) -> str:
    return str(post(client, new_patient(**extra))["id"])


def appointment(
    patient_id: str | None, start: str, end: str, slot: str | None = None, status: str = "booked", **extra: Any
) -> dict[str, Any]:
    participants = [{"actor": {"reference": f"Patient/{patient_id}"}, "status": "accepted"}] if patient_id else []
    participants.append({"actor": {"display": "Ambulatoriet"}, "status": "accepted"})
    body: dict[str, Any] = {"resourceType": "Appointment", "status": status, "start": start, "end": end,
                            "participant": participants, **extra}  # fmt: skip
    if slot is not None:
        body["slot"] = [{"reference": f"Slot/{slot}"}]
    return body


def at(day: int, hhmm: str) -> str:
    return f"{DAY.format(day)}T{hhmm}:00+01:00"


def refused(answer: Any, text: str) -> dict[str, Any]:
    return assert_outcome(answer, 422, "business-rule", text)


def count(client: TestClient, res_type: str, *params: tuple[str, str]) -> int:
    answer = client.get(f"/fhir/{res_type}", params=[*params, ("_summary", "count")])
    assert answer.status_code == 200, answer.text
    return int(answer.json()["total"])


def test_a_booking_in_a_free_slot_is_taken(client: TestClient) -> None:
    place, who = clinic(client), patient(client)
    slot = free_slot(client, place, at(1, "09:00"), at(1, "09:30"))
    answer = client.post("/fhir/Appointment", json=appointment(who, at(1, "09:00"), at(1, "09:30"), slot))
    assert answer.status_code == 201, answer.text


def test_an_active_appointment_names_its_patient(client: TestClient) -> None:
    for status in ("proposed", "pending", "booked", "arrived", "checked-in"):
        answer = client.post("/fhir/Appointment", json=appointment(None, at(1, "10:00"), at(1, "10:30"), status=status))
        body = refused(answer, "must name its patient")
        assert body["issue"][0]["expression"] == ["Appointment.participant"]
    # A waiting-list entry or a cancelled one holds no time: the rule does not ask.
    waiting = appointment(None, at(1, "10:00"), at(1, "10:30"), status="waitlist")
    waiting["participant"] = [{"actor": {"display": "Ambulatoriet"}, "status": "needs-action"}]
    assert client.post("/fhir/Appointment", json=waiting).status_code == 201


def test_a_slot_taken_is_refused_without_naming_who_took_it(client: TestClient) -> None:
    place = clinic(client)
    first = patient(client, name=[{"family": "Slotholder", "given": ["Hemmelig"]}])
    second = patient(client)
    slot = free_slot(client, place, at(2, "09:00"), at(2, "09:30"))
    assert (
        client.post("/fhir/Appointment", json=appointment(first, at(2, "09:00"), at(2, "09:30"), slot)).status_code
        == 201
    )
    answer = client.post("/fhir/Appointment", json=appointment(second, at(2, "09:00"), at(2, "09:30"), slot))
    refused(answer, "already booked")
    assert first not in answer.text and "Slotholder" not in answer.text and "Hemmelig" not in answer.text
    assert count(client, "Appointment", ("slot", f"Slot/{slot}")) == 1


def test_a_cancelled_appointment_frees_its_slot(client: TestClient) -> None:
    place, first, second = clinic(client), patient(client), patient(client)
    slot = free_slot(client, place, at(2, "10:00"), at(2, "10:30"))
    booked = post(client, appointment(first, at(2, "10:00"), at(2, "10:30"), slot))
    cancelled = {**booked, "status": "cancelled", "cancelationReason": {"text": "Patienten er rask"}}
    assert client.put(f"/fhir/Appointment/{booked['id']}", json=cancelled).status_code == 200
    answer = client.post("/fhir/Appointment", json=appointment(second, at(2, "10:00"), at(2, "10:30"), slot))
    assert answer.status_code == 201, answer.text


def test_an_unavailable_slot_is_refused(client: TestClient) -> None:
    place, who = clinic(client), patient(client)
    for status in ("busy-unavailable", "entered-in-error"):
        slot = free_slot(client, place, at(3, "09:00"), at(3, "09:30"), status=status)
        answer = client.post("/fhir/Appointment", json=appointment(who, at(3, "09:00"), at(3, "09:30"), slot))
        refused(answer, f"it is {status}")
    answer = client.post("/fhir/Appointment", json=appointment(who, at(3, "09:00"), at(3, "09:30"), "no-such-slot"))
    refused(answer, "does not exist")


def test_a_booked_slot_cannot_be_withdrawn(client: TestClient) -> None:
    place, who = clinic(client), patient(client)
    slot_id = free_slot(client, place, at(3, "11:00"), at(3, "11:30"))
    post(client, appointment(who, at(3, "11:00"), at(3, "11:30"), slot_id))
    slot = client.get(f"/fhir/Slot/{slot_id}").json()
    refused(client.put(f"/fhir/Slot/{slot_id}", json={**slot, "status": "busy-unavailable"}), "cancel or move")


def test_a_patient_is_not_booked_twice_at_one_time(client: TestClient) -> None:
    place, who = clinic(client), patient(client)
    one = free_slot(client, place, at(4, "09:00"), at(4, "09:30"))
    other = free_slot(client, clinic(client, "Ambulatorium, Anden afdeling"), at(4, "09:15"), at(4, "09:45"))
    post(client, appointment(who, at(4, "09:00"), at(4, "09:30"), one))
    refused(client.post("/fhir/Appointment", json=appointment(who, at(4, "09:15"), at(4, "09:45"), other)),
            "already has an appointment at that time")  # fmt: skip
    # Back to back is fine, and so is another patient at that time.
    assert client.post("/fhir/Appointment", json=appointment(who, at(4, "09:30"), at(4, "10:00"))).status_code == 201
    assert (
        client.post(
            "/fhir/Appointment", json=appointment(patient(client), at(4, "09:15"), at(4, "09:45"), other)
        ).status_code
        == 201
    )


def test_a_booking_in_the_past_is_refused_but_a_walk_in_today_is_not(client: TestClient, service: FhirService) -> None:
    who = patient(client)
    now = service.clock()
    past = appointment(who, "2026-01-05T09:00:00+01:00", "2026-01-05T09:30:00+01:00")
    refused(client.post("/fhir/Appointment", json=past), "day that has passed")
    # Today, even started a while ago (a walk-in recorded after the fact).
    walk_in = appointment(who, (now - timedelta(minutes=20)).isoformat(), (now + timedelta(minutes=10)).isoformat(),
                          status="arrived")  # fmt: skip
    assert client.post("/fhir/Appointment", json=walk_in).status_code == 201
    # A past appointment that happened is recorded as it was: fulfilled holds no time.
    assert client.post("/fhir/Appointment", json={**past, "status": "fulfilled"}).status_code == 201


def test_an_appointment_ends_after_it_starts(client: TestClient) -> None:
    who = patient(client)
    body = refused(client.post("/fhir/Appointment", json=appointment(who, at(5, "10:00"), at(5, "09:00"))), "end after")
    assert body["issue"][0]["expression"] == ["Appointment.end"]
    place = clinic(client)
    slot = {"resourceType": "Slot", "schedule": {"reference": f"Schedule/{place.schedule}"}, "status": "free",
            "start": at(5, "10:00"), "end": at(5, "10:00")}  # fmt: skip
    refused(client.post("/fhir/Slot", json=slot), "slot must end after")


def test_a_cancellation_needs_a_reason(client: TestClient) -> None:
    who = patient(client)
    booked = post(client, appointment(who, at(5, "11:00"), at(5, "11:30")))
    cancelled = {**booked, "status": "cancelled"}
    refused(client.put(f"/fhir/Appointment/{booked['id']}", json=cancelled), "needs a reason")
    assert client.get(f"/fhir/Appointment/{booked['id']}").json()["status"] == "booked"  # nothing half-changed
    for reason in (
        {"text": "Lægen er syg"},
        {
            "coding": [
                {"system": "http://terminology.hl7.org/CodeSystem/appointment-cancellation-reason", "code": "prov"}
            ]
        },
    ):
        again = post(client, appointment(patient(client), at(5, "11:00"), at(5, "11:30")))
        answer = client.put(
            f"/fhir/Appointment/{again['id']}", json={**again, "status": "cancelled", "cancelationReason": reason}
        )
        assert answer.status_code == 200, answer.text


def test_a_transaction_breaking_a_rule_writes_nothing(client: TestClient) -> None:
    place, who = clinic(client), patient(client)
    slot = free_slot(client, place, at(6, "09:00"), at(6, "09:30"))
    before = count(client, "Appointment", ("patient", f"Patient/{who}"))
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"fullUrl": "urn:uuid:1", "resource": appointment(who, at(6, "09:00"), at(6, "09:30"), slot),
         "request": {"method": "POST", "url": "Appointment"}},
        {"fullUrl": "urn:uuid:2", "resource": appointment(who, at(6, "09:10"), at(6, "09:40")),
         "request": {"method": "POST", "url": "Appointment"}},
    ]}  # fmt: skip
    refused(client.post("/fhir", json=bundle), "already has an appointment")
    assert count(client, "Appointment", ("patient", f"Patient/{who}")) == before


def test_racing_bookings_of_the_last_slot_have_one_winner(client: TestClient, service: FhirService) -> None:
    """N bookings of one free slot at once, each its own patient, through the core's entry: one
    wins, the others are told the slot is taken, and one Appointment holds it."""
    racers = 50 if service.repo.__class__.__name__.lower().startswith("postgres") else 20
    place = clinic(client)
    slot = free_slot(client, place, at(7, "09:00"), at(7, "09:30"))
    people = [patient(client) for _ in range(racers)]
    barrier = threading.Barrier(racers)
    results: list[Any] = []

    def book(who: str) -> None:
        asking = FhirRequest("create", "Appointment", body=appointment(who, at(7, "09:00"), at(7, "09:30"), slot))
        barrier.wait(timeout=60)
        try:
            results.append(service.as_user(OPERATOR).handle(asking).status)
        except FhirError as error:
            results.append(error)

    threads = [threading.Thread(target=book, args=(who,)) for who in people]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    won = [r for r in results if r == 201]
    lost = [r for r in results if isinstance(r, FhirError)]
    assert len(won) == 1 and len(lost) == racers - 1, results
    assert all(e.status == 422 and "already booked" in e.message for e in lost), [str(e) for e in lost]
    assert count(client, "Appointment", ("slot", f"Slot/{slot}")) == 1


@pytest.mark.parametrize("status", ["waitlist", "noshow", "fulfilled", "entered-in-error"])
def test_inactive_appointments_hold_no_time(client: TestClient, status: str) -> None:
    place, who = clinic(client), patient(client)
    slot = free_slot(client, place, at(8, "09:00"), at(8, "09:30"))
    post(client, appointment(who, at(8, "09:00"), at(8, "09:30"), slot, status=status))
    again = client.post("/fhir/Appointment", json=appointment(who, at(8, "09:00"), at(8, "09:30"), slot))
    assert again.status_code == 201, again.text
