"""The department's inbox (issue 25) through its JSON, on both backends: the threads of the staff
member's departments with unread ones first, opening one marks the patient's messages read,
answering as the department (once, however often the form is sent), closing; a colleague of
another department, or staff without the patient in their care, do not see it."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from starlette.testclient import TestClient

from lifeline.fhir import message_threads as threads
from lifeline.fhir.service import FhirService
from lifeline.identity.sessions import STAFF
from lifeline.web.pages import inbox
from tests.web.pages.portal.test_messages import Talk, conversation, in_thread, reply, stored
from tests.web.pages.test_chart import admitted_patient, put
from tests.web.pages.test_portal import json_of, patient_browser
from tests.web.test_login_pages import add_user, browser
from tests.web.test_middleware import logged_in_as


@pytest.fixture
def talk(service: FhirService) -> Talk:
    return conversation(service, admitted_patient(service))


def answer(web: TestClient, csrf: str, thread_id: str, text: str, key: str | None = None) -> Any:
    fields = {"csrf": csrf, "text": text, "key": key or uuid.uuid4().hex}
    return web.post(f"/inbox/{thread_id}", data=fields, follow_redirects=False)


def staff_of(service: FhirService, practitioner: str) -> tuple[TestClient, str]:
    web = browser(service)
    staff = add_user(service, practitioner=practitioner)
    return web, logged_in_as(service, web, STAFF, username=staff.username, fhir_user=f"Practitioner/{practitioner}")


def test_the_inbox_lists_unread_first(service: FhirService, talk: Talk) -> None:
    tag = talk.ward.tag
    patient, csrf = patient_browser(service, talk.ward.mine)
    assert reply(patient, csrf, talk.open, "Blodtrykket er 150/95.").status_code == 303
    quiet = threads.header(f"Patient/{talk.ward.mine}", f"Organization/dep-{tag}", "Stille tråd", service.clock())
    put(service, {**quiet, "id": f"quiet-{tag}"})  # newer, but nothing unread in it
    doctor, _ = staff_of(service, talk.ward.doctor)
    shown = json_of(doctor, "/inbox")
    assert shown["departments"] == [f"Kardiologisk Afdeling {tag}"]
    ids = [t["id"] for t in shown["threads"]]
    assert ids[:2] == [talk.open, f"quiet-{tag}"]
    assert talk.old not in ids  # another department's
    assert talk.theirs not in ids  # the department's thread with a patient outside the doctor's care
    first = shown["threads"][0]
    assert (first["patient"], first["unread"], first["last"]) == ("Karen Sørensen", 1, "Blodtrykket er 150/95.")
    html = doctor.get("/inbox").text
    assert "1 unread message" in html and f'href="/inbox/{talk.open}"' in html


def test_opening_marks_read_and_the_answer_is_written_once(service: FhirService, talk: Talk) -> None:
    tag = talk.ward.tag
    patient, patient_csrf = patient_browser(service, talk.ward.mine)
    assert reply(patient, patient_csrf, talk.open, "Skal jeg tage en ekstra pille?").status_code == 303
    doctor, csrf = staff_of(service, talk.ward.doctor)
    opened = json_of(doctor, f"/inbox/{talk.open}")
    assert opened["patient"]["name"] == "Karen Sørensen"
    assert [(m["fromPatient"], m["new"]) for m in opened["messages"]] == [(False, False), (True, True)]
    asked = [m for m in in_thread(service, talk.open) if m["sender"]["reference"] == f"Patient/{talk.ward.mine}"][0]
    assert threads.read_at(asked) is not None
    assert json_of(doctor, "/inbox")["threads"][0]["unread"] == 0
    key = uuid.uuid4().hex
    first = answer(doctor, csrf, talk.open, "Nej, tag den sædvanlige dosis.", key)
    assert first.status_code == 303 and first.headers["location"].startswith(f"/inbox/{talk.open}?sent=1#message-")
    assert (
        answer(doctor, csrf, talk.open, "Nej, tag den sædvanlige dosis.", key).headers["location"]
        == first.headers["location"]
    )
    answers = [m for m in in_thread(service, talk.open) if m["payload"][0]["contentString"].startswith("Nej, tag")]
    assert len(answers) == 1
    written = answers[0]
    assert written["sender"] == {"reference": f"Organization/dep-{tag}"}
    assert written["recipient"] == [{"reference": f"Patient/{talk.ward.mine}"}]
    assert written["inResponseTo"] == [{"reference": f"Communication/{asked['id']}"}]
    seen = json_of(patient, f"/portal/messages/{talk.open}")["messages"]
    assert (seen[-1]["text"], seen[-1]["mine"], seen[-1]["new"]) == ("Nej, tag den sædvanlige dosis.", False, True)
    assert json_of(doctor, f"/inbox/{talk.open}")["messages"][-1]["readAt"] is not None


@pytest.mark.parametrize(("text", "problem"), [("", "empty"), ("y" * 2001, "too-long")])
def test_a_bad_answer_writes_nothing(service: FhirService, talk: Talk, text: str, problem: str) -> None:
    doctor, csrf = staff_of(service, talk.ward.doctor)
    refused = answer(doctor, csrf, talk.open, text)
    assert refused.status_code == 400 and 'id="reply-error"' in refused.text
    as_json = doctor.post(
        f"/inbox/{talk.open}?_format=json", data={"csrf": csrf, "text": text, "key": uuid.uuid4().hex}
    )
    assert as_json.status_code == 400 and as_json.json()["problems"] == {"text": problem}
    assert len(in_thread(service, talk.open)) == 1


def test_closing_stops_answers_from_both_sides(service: FhirService, talk: Talk) -> None:
    doctor, csrf = staff_of(service, talk.ward.doctor)
    closed = doctor.post(f"/inbox/{talk.open}", data={"csrf": csrf, "action": inbox.CLOSE}, follow_redirects=False)
    assert closed.status_code == 303 and stored(service, talk.open)["status"] == threads.CLOSED
    assert answer(doctor, csrf, talk.open, "Et svar mere").status_code == 400
    patient, patient_csrf = patient_browser(service, talk.ward.mine)
    assert reply(patient, patient_csrf, talk.open, "Hallo?").status_code == 400
    assert len(in_thread(service, talk.open)) == 1
    assert "Closed" in doctor.get("/inbox").text


def test_staff_outside_care_or_department_see_nothing(service: FhirService, talk: Talk) -> None:
    tag = talk.ward.tag
    # A doctor of the other department: the thread is theirs, but the patient is not in their care.
    other = f"doc2-{tag}"
    put(service, {"resourceType": "Practitioner", "id": other, "name": [{"family": "Kirurg"}]})
    put(service, {"resourceType": "PractitionerRole", "id": f"role2-{tag}", "active": True,
                  "practitioner": {"reference": f"Practitioner/{other}"},
                  "organization": {"reference": f"Organization/dep2-{tag}"}})  # fmt: skip
    surgeon, csrf = staff_of(service, other)
    assert json_of(surgeon, "/inbox")["threads"] == []
    refused = surgeon.get(f"/inbox/{talk.old}")
    assert (
        refused.status_code == 403
        and "Karen Sørensen" not in refused.text
        and "Husk genoptræningen" not in refused.text
    )
    before = stored(service, f"m2-{tag}")["meta"]
    assert answer(surgeon, csrf, talk.old, "Hej").status_code == 403
    assert len(in_thread(service, talk.old)) == 1 and stored(service, f"m2-{tag}")["meta"] == before
    # The cardiologist: the other department's thread, an unknown id, a message's id: 404.
    doctor, doctor_csrf = staff_of(service, talk.ward.doctor)
    for thread_id in (talk.old, "no-such-thread", f"m1-{tag}"):
        assert doctor.get(f"/inbox/{thread_id}").status_code == 404
        assert answer(doctor, doctor_csrf, thread_id, "Hej").status_code == 404
    assert doctor.get(f"/inbox/{talk.theirs}").status_code == 403  # a patient outside the doctor's care


def test_a_patient_is_sent_away_from_the_inbox(service: FhirService, talk: Talk) -> None:
    patient, _ = patient_browser(service, talk.ward.mine)
    assert patient.get("/inbox").status_code == 403 and patient.get(f"/inbox/{talk.open}").status_code == 403


def test_staff_can_open_a_thread(service: FhirService, talk: Talk) -> None:
    from lifeline.web.layout import PageUser

    tag = talk.ward.tag
    doctor = PageUser(kind=STAFF, username="x", fhir_user=f"Practitioner/{talk.ward.doctor}")
    core = service.as_user(doctor.principal, None, "TREAT")
    key = uuid.uuid4().hex
    made = inbox.start(
        core, f"Organization/dep-{tag}", talk.ward.mine, "Prøvesvar", "Dine prøver er fine.", key, service.clock()
    )
    again = inbox.start(
        core, f"Organization/dep-{tag}", talk.ward.mine, "Prøvesvar", "Dine prøver er fine.", key, service.clock()
    )
    assert made == again and len(in_thread(service, made)) == 1
    patient, _ = patient_browser(service, talk.ward.mine)
    assert json_of(patient, "/portal/messages")["threads"][0]["topic"] == "Prøvesvar"
