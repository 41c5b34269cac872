"""A patient's own changes through `$book` (issue 25), on both backends: cancel with a reason or
move to a free slot of the same clinic and visit type, each with the slot statuses and the message
in one transaction; every other change refused with an OperationOutcome and nothing written."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import orjson
import pytest

from lifeline import jsontext
from lifeline.errors import FhirError
from lifeline.fhir.interactions.scheduling import SELF_SERVICE
from lifeline.fhir.request import FhirRequest
from lifeline.fhir.service import FhirService
from lifeline.identity.principal import OPERATOR, PATIENT, Principal
from lifeline.identity.scopes import ScopeSet

SCOPES = ScopeSet.parse("patient/*.rs patient/Appointment.u patient/Slot.u patient/Communication.c")
KIND = {"coding": [{"system": "urn:test:visit", "code": "control"}]}
OTHER_KIND = {"coding": [{"system": "urn:test:visit", "code": "first"}]}
CANCEL_SYSTEM = "http://terminology.hl7.org/CodeSystem/appointment-cancellation-reason"
REASON = {"coding": [{"system": CANCEL_SYSTEM, "code": "pat"}], "text": "Patient: cannot come"}


@dataclass
class Clinic:
    tag: str
    mine: str
    other: str

    def ref(self, name: str) -> str:
        return f"{name}-{self.tag}"


def put(service: FhirService, resource: dict[str, Any]) -> None:
    request = FhirRequest("update", resource["resourceType"], resource["id"], body=resource, principal=OPERATOR)
    assert service.handle(request).status in (200, 201)


def read(service: FhirService, key: str) -> dict[str, Any]:
    res_type, _, res_id = key.partition("/")
    answer = service.handle(FhirRequest("read", res_type, res_id, principal=OPERATOR))
    return dict(orjson.loads(answer.raw)) if answer.raw else dict(answer.resource or {})


def slot(id_: str, schedule: str, start: str, status: str = "free", kind: dict[str, Any] = KIND) -> dict[str, Any]:
    end = start.replace(":00:00", ":30:00")
    return {"resourceType": "Slot", "id": id_, "schedule": {"reference": f"Schedule/{schedule}"},
            "status": status, "start": start, "end": end, "serviceType": [kind]}  # fmt: skip


def appointment(id_: str, patient: str, slot_: str, start: str, status: str = "booked") -> dict[str, Any]:
    place = "Location/" + slot_.split("-", 1)[1]
    return {"resourceType": "Appointment", "id": id_, "status": status, "start": start,
            "end": start.replace(":00:00", ":30:00"), "slot": [{"reference": f"Slot/{slot_}"}],
            "serviceType": [KIND], "created": "2026-10-01",
            "participant": [{"actor": {"reference": f"Patient/{patient}"}, "status": "accepted"},
                            {"actor": {"reference": place}, "status": "accepted"}]}  # fmt: skip


@pytest.fixture
def clinic(service: FhirService) -> Clinic:
    return open_clinic(service)


def open_clinic(service: FhirService, mine: str | None = None) -> Clinic:
    """A clinic with one schedule: the patient (`mine`, or a new one) booked into s1; s2 free
    alike; s3 free of another visit type; s4 held by another patient; an appointment tomorrow
    morning (within the notice) and a proposed one."""
    tag = uuid.uuid4().hex[:8]
    c = Clinic(tag, mine or f"pm-{tag}", f"po-{tag}")
    put(service, {"resourceType": "Location", "id": tag, "name": f"Ambulatorium {tag[:3].upper()}"})
    for patient in (c.mine, c.other) if mine is None else (c.other,):
        put(service, {"resourceType": "Patient", "id": patient, "name": [{"family": patient}]})
    put(service, {"resourceType": "Schedule", "id": tag, "actor": [{"reference": f"Location/{tag}"}]})
    day = "2026-12-0{}T{}:00:00+01:00"
    put(service, slot(f"s1-{tag}", tag, day.format(2, "09"), "busy"))
    put(service, slot(f"s2-{tag}", tag, day.format(3, "10")))
    put(service, slot(f"s3-{tag}", tag, day.format(3, "11"), kind=OTHER_KIND))
    put(service, slot(f"s4-{tag}", tag, day.format(3, "12"), "busy"))
    put(service, slot(f"s5-{tag}", tag, "2026-11-23T08:00:00+01:00", "busy"))
    put(service, slot(f"s6-{tag}", tag, day.format(4, "09"), "busy-tentative"))
    put(service, appointment(f"a-{tag}", c.mine, f"s1-{tag}", day.format(2, "09")))
    put(service, appointment(f"b-{tag}", c.other, f"s4-{tag}", day.format(3, "12")))
    put(service, appointment(f"soon-{tag}", c.mine, f"s5-{tag}", "2026-11-23T08:00:00+01:00"))
    put(service, appointment(f"prop-{tag}", c.mine, f"s6-{tag}", day.format(4, "09"), "proposed"))
    return c


def as_patient(service: FhirService, patient: str, request: FhirRequest) -> dict[str, Any]:
    request.principal = Principal(PATIENT, f"citizen-{patient}", "lifeline-web", SCOPES, fhir_user=f"Patient/{patient}")
    request.purpose = "PATRQT"
    return service.handle(request).resource or {}


def book(service: FhirService, patient: str, wanted: dict[str, Any]) -> dict[str, Any]:
    body = {"resourceType": "Parameters", "parameter": [{"name": "appointment-resource", "resource": wanted}]}
    answer = as_patient(service, patient, FhirRequest("operation", "Appointment", operation="$book", body=body))
    return dict(orjson.loads(jsontext.dumps(answer))["entry"][0]["resource"])


def messages(service: FhirService, patient: str) -> list[str]:
    found = (
        service.handle(
            FhirRequest("search", "Communication", params=[("subject", f"Patient/{patient}")], principal=OPERATOR)
        ).resource
        or {}
    )
    found = orjson.loads(jsontext.dumps(found))
    return [e["resource"]["category"][0]["coding"][0]["code"] for e in found.get("entry", [])]


def test_a_patient_cancels_their_appointment_with_a_reason(service: FhirService, clinic: Clinic) -> None:
    current = read(service, f"Appointment/a-{clinic.tag}")
    done = book(service, clinic.mine, {**current, "status": "cancelled", "cancelationReason": REASON})
    assert done["status"] == "cancelled"
    assert read(service, f"Slot/s1-{clinic.tag}")["status"] == "free"
    assert messages(service, clinic.mine) == ["cancelled"]


def test_a_patient_moves_their_appointment_to_a_free_slot_alike(service: FhirService, clinic: Clinic) -> None:
    current = read(service, f"Appointment/a-{clinic.tag}")
    moved = book(service, clinic.mine, {**current, "slot": [{"reference": f"Slot/s2-{clinic.tag}"}]})
    assert moved["status"] == "booked" and moved["start"].startswith("2026-12-03T10:00")
    assert read(service, f"Slot/s1-{clinic.tag}")["status"] == "free"
    assert read(service, f"Slot/s2-{clinic.tag}")["status"] == "busy"
    assert messages(service, clinic.mine) == ["moved"]


def _refused(service: FhirService, clinic: Clinic, patient: str, wanted: dict[str, Any], status: int) -> str:
    before = {k: read(service, f"{k}-{clinic.tag}") for k in ("Appointment/a", "Slot/s1", "Slot/s2", "Slot/s4")}
    with pytest.raises(FhirError) as refused:
        book(service, patient, wanted)
    assert refused.value.status == status, refused.value.message
    after = {k: read(service, f"{k}-{clinic.tag}") for k in before}
    assert after == before and messages(service, clinic.mine) == [] and messages(service, clinic.other) == []
    return refused.value.message


def test_a_cancellation_without_a_reason_is_refused(service: FhirService, clinic: Clinic) -> None:
    current = read(service, f"Appointment/a-{clinic.tag}")
    assert "reason" in _refused(service, clinic, clinic.mine, {**current, "status": "cancelled"}, 422)


def test_the_participants_cannot_change(service: FhirService, clinic: Clinic) -> None:
    current = read(service, f"Appointment/a-{clinic.tag}")
    participants = [*current["participant"], {"actor": {"reference": "Practitioner/someone"}, "status": "accepted"}]
    assert "who takes part" in _refused(service, clinic, clinic.mine, {**current, "participant": participants}, 403)
    swapped = [{**current["participant"][0], "actor": {"reference": f"Patient/{clinic.other}"}}]
    _refused(service, clinic, clinic.mine, {**current, "participant": swapped}, 403)


def test_nothing_else_of_the_appointment_changes(service: FhirService, clinic: Clinic) -> None:
    current = read(service, f"Appointment/a-{clinic.tag}")
    assert "priority" in _refused(service, clinic, clinic.mine, {**current, "priority": 1}, 403)


def test_another_patients_appointment_is_unknown(service: FhirService, clinic: Clinic) -> None:
    theirs = read(service, f"Appointment/b-{clinic.tag}")
    wanted = {**theirs, "status": "cancelled", "cancelationReason": REASON}
    # What any unknown id gets: nothing says the appointment exists.
    assert "does not exist" in _refused(service, clinic, clinic.mine, wanted, 422)


def test_a_busy_slot_or_one_of_another_kind_is_refused(service: FhirService, clinic: Clinic) -> None:
    current = read(service, f"Appointment/a-{clinic.tag}")
    for taken in ("s4", "s3"):
        wanted = {**current, "slot": [{"reference": f"Slot/{taken}-{clinic.tag}"}]}
        assert "not a free time" in _refused(service, clinic, clinic.mine, wanted, 422)


def test_an_appointment_too_soon_or_proposed_is_refused(service: FhirService, clinic: Clinic) -> None:
    soon = read(service, f"Appointment/soon-{clinic.tag}")
    assert "hours before" in _refused(
        service, clinic, clinic.mine, {**soon, "status": "cancelled", "cancelationReason": REASON}, 422
    )
    proposed = read(service, f"Appointment/prop-{clinic.tag}")
    assert "proposed" in _refused(service, clinic, clinic.mine, {**proposed, "status": "booked"}, 422)


def test_a_patient_books_nothing_new(service: FhirService, clinic: Clinic) -> None:
    new = appointment("x", clinic.mine, f"s2-{clinic.tag}", "2026-12-03T10:00:00+01:00")
    new.pop("id")
    _refused(service, clinic, clinic.mine, new, 403)


def test_a_patient_never_writes_a_slot_directly(service: FhirService, clinic: Clinic) -> None:
    for name, status in (("s4", "free"), ("s2", "busy")):
        current = read(service, f"Slot/{name}-{clinic.tag}")
        request = FhirRequest("update", "Slot", current["id"], body={**current, "status": status})
        with pytest.raises(FhirError) as refused:
            as_patient(service, clinic.mine, request)
        assert refused.value.status == 403
        assert read(service, f"Slot/{name}-{clinic.tag}")["status"] == current["status"]


def test_a_patient_writes_no_appointment_directly_but_the_allowed_changes(service: FhirService, clinic: Clinic) -> None:
    """The access rule itself (access/deciding.py), whatever path the write takes: no create, no
    delete, no other element; only cancel, move or their own answer."""
    current = read(service, f"Appointment/a-{clinic.tag}")
    new = {k: v for k, v in current.items() if k not in ("id", "meta")}
    tries = [
        FhirRequest("create", "Appointment", body=new),
        FhirRequest("delete", "Appointment", current["id"]),
        FhirRequest("update", "Appointment", current["id"], body={**current, "status": "noshow"}),
        FhirRequest("update", "Appointment", current["id"], body={**current, "description": "Akut"}),
        FhirRequest("update", "Appointment", current["id"],
                    body={**current, "participant": [{**p, "status": "tentative"} for p in current["participant"]]}),
    ]  # fmt: skip
    for request in tries:
        with pytest.raises(FhirError) as refused:
            as_patient(service, clinic.mine, request)
        assert refused.value.status == 403, refused.value.message
        assert refused.value.issues[0].code == "forbidden"
    assert read(service, f"Appointment/a-{clinic.tag}") == current


def test_a_clinic_that_keeps_moves_to_itself_refuses_a_move_but_not_a_cancellation(
    service: FhirService, clinic: Clinic
) -> None:
    place = read(service, f"Location/{clinic.tag}")
    put(service, {**place, "extension": [{"url": SELF_SERVICE, "valueBoolean": False}]})
    current = read(service, f"Appointment/a-{clinic.tag}")
    wanted = {**current, "slot": [{"reference": f"Slot/s2-{clinic.tag}"}]}
    assert "call the department" in _refused(service, clinic, clinic.mine, wanted, 422)
    assert book(service, clinic.mine, {**current, "status": "cancelled", "cancelationReason": REASON})["status"] == (
        "cancelled"
    )


def test_the_rules_hold_on_a_plain_update_too(service: FhirService, clinic: Clinic) -> None:
    """The access rule checks the notice and the slot's kind whatever the path of the write."""
    current = read(service, f"Appointment/a-{clinic.tag}")
    other_kind = {**current, "slot": [{"reference": f"Slot/s3-{clinic.tag}"}], "start": "2026-12-03T11:00:00+01:00",
                  "end": "2026-12-03T11:30:00+01:00"}  # fmt: skip
    soon = read(service, f"Appointment/soon-{clinic.tag}")
    for body, words in (
        (other_kind, "same clinic"),
        ({**soon, "status": "cancelled", "cancelationReason": REASON}, "hours"),
    ):
        with pytest.raises(FhirError) as refused:
            as_patient(service, clinic.mine, FhirRequest("update", "Appointment", body["id"], body=body))
        assert refused.value.status == 422 and words in refused.value.message
        assert refused.value.issues[0].code == "business-rule"
    assert read(service, f"Appointment/a-{clinic.tag}") == current
