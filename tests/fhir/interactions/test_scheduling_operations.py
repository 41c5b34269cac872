"""Appointment/$find, $hold, $book and $waiting-list (fhir/interactions/scheduling.py) through the
API, on both backends: the IHE ITI Scheduling flow, cancelling and moving in one transaction with
the patient's message, and the refusals as OperationOutcomes."""

from __future__ import annotations

from typing import Any

from starlette.testclient import TestClient

from tests.conftest import assert_outcome
from tests.fhir.rules.test_scheduling import at, clinic, count, free_slot, patient, post

NOTIFY = "https://lifeline.example/fhir/CodeSystem/patient-message"


def parameters(**values: Any) -> dict[str, Any]:
    found = []
    for name, value in values.items():
        name = name.replace("_", "-")
        if isinstance(value, dict) and value.get("resourceType"):
            found.append({"name": name, "resource": value})
        elif isinstance(value, dict):
            found.append({"name": name, "valueReference": value})
        else:
            found.append({"name": name, "valueString": value})
    return {"resourceType": "Parameters", "parameter": found}


def find(client: TestClient, **params: str) -> list[dict[str, Any]]:
    answer = client.get("/fhir/Appointment/$find", params=params)
    assert answer.status_code == 200, answer.text
    bundle = answer.json()
    assert bundle["resourceType"] == "Bundle" and bundle["type"] == "searchset"
    return [entry["resource"] for entry in bundle.get("entry", [])]


def with_patient(proposed: dict[str, Any], patient_id: str) -> dict[str, Any]:
    return {
        **proposed,
        "participant": [
            *proposed["participant"],
            {"actor": {"reference": f"Patient/{patient_id}"}, "status": "accepted"},
        ],
    }


def booked(client: TestClient, answer: Any) -> dict[str, Any]:
    assert answer.status_code == 200, answer.text
    bundle = answer.json()
    assert bundle["resourceType"] == "Bundle"
    appointment: dict[str, Any] = bundle["entry"][0]["resource"]
    return appointment


def messages(client: TestClient, appointment_id: str) -> list[str]:
    answer = client.get("/fhir/Communication", params={"category": f"{NOTIFY}|", "_count": "100"})
    found = [e["resource"] for e in answer.json().get("entry", [])]
    return [c["category"][0]["coding"][0]["code"] for c in found
            if any(a["reference"] == f"Appointment/{appointment_id}" for a in c.get("about", []))]  # fmt: skip


def test_find_proposes_the_free_slots_of_a_clinic(client: TestClient) -> None:
    place, other = clinic(client), clinic(client, "Ambulatorium, Andet sted")
    free = [free_slot(client, place, at(1, f"{h}:00"), at(1, f"{h}:30")) for h in (13, 11)]
    free_slot(client, place, at(1, "12:00"), at(1, "12:30"), status="busy")
    free_slot(client, other, at(1, "11:00"), at(1, "11:30"))
    free_slot(client, place, at(9, "11:00"), at(9, "11:30"))  # outside the dates asked
    found = find(client, location=f"Location/{place.location}", start="2027-03-01", end="2027-03-01")
    assert [a["slot"][0]["reference"] for a in found] == [f"Slot/{free[1]}", f"Slot/{free[0]}"]
    first = found[0]
    assert first["status"] == "proposed" and first["start"] == at(1, "11:00") and first["minutesDuration"] == 30
    assert first["participant"][0]["actor"]["reference"] == f"Location/{place.location}"
    by_schedule = find(client, schedule=f"Schedule/{place.schedule}", start="2027-03-01", end="2027-03-09")
    assert len(by_schedule) == 3


def test_find_by_service_type(client: TestClient) -> None:
    place = clinic(client)
    kind = {"coding": [{"system": "http://snomed.info/sct", "code": "394579002", "display": "Cardiology"}]}
    wanted = free_slot(client, place, at(2, "08:00"), at(2, "08:30"), serviceType=[kind])
    free_slot(client, place, at(2, "08:30"), at(2, "09:00"))
    found = find(client, location=place.location, start="2027-03-02", end="2027-03-02",
                 **{"service-type": "http://snomed.info/sct|394579002"})  # fmt: skip
    assert [a["slot"][0]["reference"] for a in found] == [f"Slot/{wanted}"]
    assert found[0]["serviceType"] == [kind]


def test_find_takes_the_ihe_names_and_refuses_a_parameter_it_does_not_know(client: TestClient) -> None:
    place, other = clinic(client), clinic(client, "Ambulatorium, Tredje sted")
    mine = free_slot(client, place, at(3, "10:00"), at(3, "10:30"))
    free_slot(client, other, at(3, "10:00"), at(3, "10:30"))
    found = find(client, start="2027-03-03", end="2027-03-03", **{"location-reference": f"Location/{place.location}"})
    assert [a["slot"][0]["reference"] for a in found] == [f"Slot/{mine}"]
    # A filter left out would answer every clinic's free times as the one asked for.
    unknown = client.get("/fhir/Appointment/$find", params={"clinic": place.location, "start": "2027-03-03"})
    assert_outcome(unknown, 400, text="$find does not take clinic")


def test_find_refuses_a_bad_date(client: TestClient) -> None:
    assert_outcome(
        client.get("/fhir/Appointment/$find", params={"start": "tomorrow"}), 400, text="start must be a date"
    )
    assert_outcome(client.get("/fhir/Appointment/$find", params={"start": "2027-03-05", "end": "2027-03-01"}), 400)


def test_hold_then_book_tells_the_patient(client: TestClient) -> None:
    place, who = clinic(client), patient(client)
    slot = free_slot(client, place, at(3, "09:00"), at(3, "09:30"))
    proposed = find(client, location=place.location, start="2027-03-03", end="2027-03-03")[0]
    held = booked(
        client,
        client.post("/fhir/Appointment/$hold", json=parameters(appointment_resource=with_patient(proposed, who))),
    )
    assert held["status"] == "pending"
    assert client.get(f"/fhir/Slot/{slot}").json()["status"] == "busy-tentative"
    assert find(client, location=place.location, start="2027-03-03", end="2027-03-03") == []
    assert messages(client, held["id"]) == []  # a hold tells nobody
    done = booked(
        client,
        client.post(
            "/fhir/Appointment/$book", json=parameters(appointment_reference={"reference": f"Appointment/{held['id']}"})
        ),
    )
    assert done["id"] == held["id"] and done["status"] == "booked"
    assert client.get(f"/fhir/Slot/{slot}").json()["status"] == "busy"
    assert messages(client, done["id"]) == ["booked"]
    # R4 has no search parameter for Communication.about: the patient's messages, then the one about it.
    sent = client.get("/fhir/Communication", params={"recipient": f"Patient/{who}"}).json()["entry"]
    [message] = [
        e["resource"] for e in sent if {"reference": f"Appointment/{done['id']}"} in e["resource"].get("about", [])
    ]
    assert message["status"] == "preparation" and message["recipient"] == [{"reference": f"Patient/{who}"}]
    assert "kl. 09:00" in message["payload"][0]["contentString"]
    mine = client.get("/fhir/Appointment", params={"patient": f"Patient/{who}"}).json()  # [ITI-118]
    assert [e["resource"]["id"] for e in mine["entry"]] == [done["id"]]


def test_book_a_taken_slot_is_refused_and_writes_nothing(client: TestClient) -> None:
    place, first, second = clinic(client), patient(client), patient(client)
    free_slot(client, place, at(3, "10:00"), at(3, "10:30"))
    proposed = find(client, location=place.location, start=at(3, "10:00"), end=at(3, "10:30"))[0]
    booked(
        client,
        client.post("/fhir/Appointment/$book", json=parameters(appointment_resource=with_patient(proposed, first))),
    )
    answer = client.post(
        "/fhir/Appointment/$book", json=parameters(appointment_resource=with_patient(proposed, second))
    )
    body = assert_outcome(answer, 422, "business-rule", "already booked")
    assert first not in answer.text and not body["issue"][0]["diagnostics"].startswith("Entry")
    assert count(client, "Appointment", ("patient", f"Patient/{second}")) == 0
    assert count(client, "Communication", ("recipient", f"Patient/{second}")) == 0


def test_the_same_booking_sent_twice_books_once_and_tells_the_patient_once(client: TestClient) -> None:
    place, who = clinic(client), patient(client)
    free_slot(client, place, at(4, "10:00"), at(4, "10:30"))
    proposed = find(client, location=place.location, start=at(4, "10:00"), end=at(4, "10:30"))[0]
    body = parameters(appointment_resource=with_patient(proposed, who))
    first = booked(client, client.post("/fhir/Appointment/$book", json=body))
    again = booked(client, client.post("/fhir/Appointment/$book", json=body))  # a double click, a retry
    assert again["id"] == first["id"] and again["status"] == "booked"
    assert count(client, "Appointment", ("patient", f"Patient/{who}")) == 1
    assert count(client, "Communication", ("recipient", f"Patient/{who}")) == 1


def test_cancel_frees_the_slot_and_needs_a_reason(client: TestClient) -> None:
    place, who = clinic(client), patient(client)
    slot = free_slot(client, place, at(4, "09:00"), at(4, "09:30"))
    proposed = find(client, location=place.location, start="2027-03-04", end="2027-03-04")[0]
    done = booked(
        client,
        client.post("/fhir/Appointment/$book", json=parameters(appointment_resource=with_patient(proposed, who))),
    )
    no_reason = {**done, "status": "cancelled"}
    assert_outcome(
        client.post("/fhir/Appointment/$book", json=parameters(appointment_resource=no_reason)),
        422,
        text="needs a reason",
    )
    assert client.get(f"/fhir/Slot/{slot}").json()["status"] == "busy"  # nothing half-changed
    cancelling = {**done, "status": "cancelled", "cancelationReason": {"text": "Lægen er syg"}}
    cancelled = booked(client, client.post("/fhir/Appointment/$book", json=parameters(appointment_resource=cancelling)))
    assert cancelled["status"] == "cancelled"
    assert client.get(f"/fhir/Slot/{slot}").json()["status"] == "free"
    assert sorted(messages(client, done["id"])) == ["booked", "cancelled"]


def test_move_books_the_new_slot_and_frees_the_old(client: TestClient) -> None:
    place, who = clinic(client), patient(client)
    old = free_slot(client, place, at(5, "09:00"), at(5, "09:30"))
    new = free_slot(client, place, at(5, "13:00"), at(5, "13:30"))
    proposed = find(client, location=place.location, start=at(5, "09:00"), end=at(5, "09:30"))[0]
    done = booked(
        client,
        client.post("/fhir/Appointment/$book", json=parameters(appointment_resource=with_patient(proposed, who))),
    )
    moving = {**done, "slot": [{"reference": f"Slot/{new}"}]}
    moved = booked(client, client.post("/fhir/Appointment/$book", json=parameters(appointment_resource=moving)))
    assert moved["start"] == at(5, "13:00") and moved["end"] == at(5, "13:30")
    assert client.get(f"/fhir/Slot/{old}").json()["status"] == "free"
    assert client.get(f"/fhir/Slot/{new}").json()["status"] == "busy"
    assert sorted(messages(client, done["id"])) == ["booked", "moved"]


def test_book_needs_an_appointment_with_a_patient_and_a_slot(client: TestClient) -> None:
    assert_outcome(
        client.post("/fhir/Appointment/$book", json={"resourceType": "Parameters"}), 400, text="appointment-resource"
    )
    bare = {
        "resourceType": "Appointment",
        "status": "proposed",
        "participant": [{"actor": {"display": "x"}, "status": "accepted"}],
    }
    assert_outcome(
        client.post("/fhir/Appointment/$book", json=parameters(appointment_resource=bare)), 422, text="patient"
    )
    who = patient(client)
    no_slot = with_patient(bare, who)
    assert_outcome(
        client.post("/fhir/Appointment/$book", json=parameters(appointment_resource=no_slot)), 400, text="slot"
    )


def test_waiting_list_by_priority_then_waiting_time(client: TestClient) -> None:
    place = clinic(client)

    def waiting(priority: int, created: str) -> str:
        body = {
            "resourceType": "Appointment",
            "status": "waitlist",
            "priority": priority,
            "created": created,
            "participant": [
                {"actor": {"reference": f"Patient/{patient(client)}"}, "status": "needs-action"},
                {"actor": {"reference": f"Location/{place.location}"}, "status": "needs-action"},
            ],
        }
        return str(post(client, body)["id"])

    elective_old = waiting(5, "2026-09-01")
    urgent_new = waiting(3, "2026-11-20")
    elective_new = waiting(5, "2026-11-01")
    urgent_old = waiting(3, "2026-10-01")
    answer = client.get("/fhir/Appointment/$waiting-list", params={"location": f"Location/{place.location}"})
    assert answer.status_code == 200, answer.text
    order = [e["resource"]["id"] for e in answer.json()["entry"]]
    assert order == [urgent_old, urgent_new, elective_old, elective_new]


def test_booking_from_the_waiting_list(client: TestClient) -> None:
    place, who = clinic(client), patient(client)
    slot = free_slot(client, place, at(6, "09:00"), at(6, "09:30"))
    waiting = post(
        client,
        {
            "resourceType": "Appointment",
            "status": "waitlist",
            "priority": 3,
            "created": "2026-10-01",
            "participant": [{"actor": {"reference": f"Patient/{who}"}, "status": "needs-action"}],
        },
    )
    booking = {**waiting, "status": "booked", "slot": [{"reference": f"Slot/{slot}"}]}
    done = booked(client, client.post("/fhir/Appointment/$book", json=parameters(appointment_resource=booking)))
    assert done["id"] == waiting["id"] and done["status"] == "booked" and done["start"] == at(6, "09:00")
    assert done["created"] == "2026-10-01"  # the date referred is kept
    assert messages(client, done["id"]) == ["booked"]


def test_the_capability_statement_lists_the_operations(client: TestClient) -> None:
    statement = client.get("/fhir/metadata").json()
    appointment = next(r for r in statement["rest"][0]["resource"] if r["type"] == "Appointment")
    names = {o["name"] for o in appointment.get("operation", [])}
    assert {"find", "hold", "book", "waiting-list"} <= names
    assert "patient" in {p["name"] for p in appointment["searchParam"]}
