"""Booking (web/pages/booking.py) through its JSON form, on both backends: a clinic's free times,
booking one for a patient found by CPR number, moving and cancelling with a reason, the waiting
list; every problem said beside its field and nothing written."""

from __future__ import annotations

from typing import Any

from starlette.testclient import TestClient

from lifeline.fhir.service import FhirService
from tests.web.pages.test_chart import doctor_logged_in, put, ref
from tests.web.pages.test_clinic_list import ClinicDay, at, book, clinic_day, read

CPR = "2507582065"  # the ward's patient (tests/web/pages/test_chart.py)


def booking_json(web: TestClient, **params: str) -> dict[str, Any]:
    answer = web.get("/clinics/book", params={**params, "_format": "json"})
    assert answer.status_code == 200, answer.text
    shown: dict[str, Any] = answer.json()
    return shown


def week(place: ClinicDay) -> dict[str, str]:
    return {"clinic": place.clinic, "from": place.day.isoformat(), "to": place.day.isoformat()}


def posting(web: TestClient, path: str, csrf: str, **form: str) -> Any:
    return web.post(path, data={"csrf": csrf, **form}, params={"_format": "json"}, follow_redirects=False)


def test_free_times_of_a_clinic(service: FhirService) -> None:
    place = clinic_day(service)
    book(service, place, place.ward.mine, place.slots[1])
    web, _ = doctor_logged_in(service, place.ward)
    shown = booking_json(web, **week(place))
    assert [f["slot"] for f in shown["free"]] == [place.slots[0], *place.slots[2:]]
    assert [f["time"] for f in shown["free"]] == ["09:00", "10:00", "10:30"]
    assert shown["clinicName"] == place.name and shown["current"] is None


def test_booking_a_free_time_by_cpr(service: FhirService) -> None:
    place = clinic_day(service)
    web, _ = doctor_logged_in(service, place.ward)
    shown = booking_json(web, **week(place))
    answer = posting(web, "/clinics/book", shown["csrf"], slot=place.slots[0], cpr="250758-2065",
                     reason="Kontrol efter ablation", **week(place))  # fmt: skip
    assert answer.status_code == 303, answer.text
    where = answer.headers["location"]
    assert where.startswith(f"/clinics?clinic={place.clinic}&day={place.day.isoformat()}&done=")
    booked_id = where.split("done=")[1].split("&")[0]
    assert "told=1" in where  # the list says the patient gets a message
    booked = read(service, "Appointment", booked_id)
    assert booked["status"] == "booked" and booked["start"] == at(place.day, 540)
    assert booked["description"] == "Kontrol efter ablation"
    assert read(service, "Slot", place.slots[0])["status"] == "busy"
    assert place.slots[0] not in [f["slot"] for f in booking_json(web, **week(place))["free"]]


def test_a_missing_or_wrong_cpr_is_said_beside_the_field(service: FhirService) -> None:
    place = clinic_day(service)
    web, _ = doctor_logged_in(service, place.ward)
    csrf = booking_json(web, **week(place))["csrf"]
    for cpr, problem in (("", "missing"), ("12345", "format"), ("3213451234", "invalid"), ("0101011234", "unknown")):
        answer = posting(web, "/clinics/book", csrf, slot=place.slots[0], cpr=cpr, **week(place))
        assert answer.status_code == 400 and answer.json()["problems"] == {"cpr": problem}, (cpr, answer.text)
    page = web.post("/clinics/book", data={"csrf": csrf, "slot": place.slots[0], "cpr": "12345", **week(place)})
    assert page.status_code == 400 and 'id="cpr-error"' in page.text and 'aria-invalid="true"' in page.text
    assert read(service, "Slot", place.slots[0])["status"] == "free"  # nothing written
    nothing = posting(web, "/clinics/book", csrf, cpr=CPR, **week(place))
    assert nothing.status_code == 400 and nothing.json()["problems"] == {"slot": "missing"}


def test_a_time_taken_meanwhile_is_refused_in_words(service: FhirService) -> None:
    place = clinic_day(service)
    web, _ = doctor_logged_in(service, place.ward)
    csrf = booking_json(web, **week(place))["csrf"]
    put(service, {"resourceType": "Patient", "id": f"other-{place.ward.tag}", "name": [{"family": "Anden"}]})
    book(service, place, f"other-{place.ward.tag}", place.slots[0])  # someone else was quicker
    answer = posting(web, "/clinics/book", csrf, slot=place.slots[0], cpr=CPR, **week(place))
    assert answer.status_code == 422
    assert "already booked" in answer.json()["refusal"] and "Anden" not in answer.text


def test_moving_an_appointment(service: FhirService) -> None:
    place = clinic_day(service)
    booked = book(service, place, place.ward.mine, place.slots[0])
    web, _ = doctor_logged_in(service, place.ward)
    shown = booking_json(web, appointment=booked["id"], **week(place))
    assert shown["current"]["id"] == booked["id"] and shown["current"]["patient"]["name"] == "Karen Sørensen"
    answer = posting(web, "/clinics/book", shown["csrf"], appointment=booked["id"], slot=place.slots[3], **week(place))
    assert answer.status_code == 303, answer.text
    moved = read(service, "Appointment", booked["id"])
    assert moved["start"] == at(place.day, 630) and moved["status"] == "booked"
    assert read(service, "Slot", place.slots[0])["status"] == "free"
    assert read(service, "Slot", place.slots[3])["status"] == "busy"


def test_cancelling_needs_a_reason(service: FhirService) -> None:
    place = clinic_day(service)
    booked = book(service, place, place.ward.mine, place.slots[0])
    web, _ = doctor_logged_in(service, place.ward)
    csrf = booking_json(web, appointment=booked["id"])["csrf"]
    bare = posting(web, "/clinics/cancel", csrf, appointment=booked["id"], cancel_reason="  ", clinic=place.clinic)
    assert bare.status_code == 400 and bare.json()["problems"] == {"cancel_reason": "missing"}
    page = web.post("/clinics/cancel", data={"csrf": csrf, "appointment": booked["id"], "clinic": place.clinic})
    assert 'id="cancel-reason-error"' in page.text
    assert read(service, "Appointment", booked["id"])["status"] == "booked"
    done = posting(
        web, "/clinics/cancel", csrf, appointment=booked["id"], cancel_reason="Lægen er syg", clinic=place.clinic
    )
    assert done.status_code == 303, done.text
    cancelled = read(service, "Appointment", booked["id"])
    assert cancelled["status"] == "cancelled" and cancelled["cancelationReason"] == {"text": "Lægen er syg"}
    assert read(service, "Slot", place.slots[0])["status"] == "free"


def test_the_waiting_list_and_booking_from_it(service: FhirService) -> None:
    place = clinic_day(service)
    tag = place.ward.tag
    put(service, {"resourceType": "Appointment", "id": f"wait-{tag}", "status": "waitlist", "priority": 3,
                  "created": "2026-10-01", "description": "Henvist: hjertebanken",
                  "participant": [{"actor": ref(f"Patient/{place.ward.mine}"), "status": "needs-action"},
                                  {"actor": ref(f"Location/{place.clinic}"), "status": "needs-action"}]})  # fmt: skip
    web, _ = doctor_logged_in(service, place.ward)
    shown = booking_json(web, **week(place))
    assert [w["id"] for w in shown["waiting"]] == [f"wait-{tag}"]
    assert shown["waiting"][0]["priority"] == 3 and shown["waiting"][0]["patient"]["name"] == "Karen Sørensen"
    answer = posting(web, "/clinics/book", shown["csrf"], appointment=f"wait-{tag}", slot=place.slots[2], **week(place))
    assert answer.status_code == 303, answer.text
    booked = read(service, "Appointment", f"wait-{tag}")
    assert booked["status"] == "booked" and booked["created"] == "2026-10-01"
    assert booking_json(web, **week(place))["waiting"] == []


def test_a_day_passed_or_a_range_too_long_is_said(service: FhirService) -> None:
    place = clinic_day(service)
    web, _ = doctor_logged_in(service, place.ward)
    shown = booking_json(web, clinic=place.clinic, **{"from": "2020-01-01", "to": "2020-01-02"})
    assert shown["problems"]["from"] == "past" and shown["from"] == shown["today"]
    far = booking_json(web, clinic=place.clinic, **{"to": "2030-01-01"})
    assert far["problems"] == {"to": "far"}
