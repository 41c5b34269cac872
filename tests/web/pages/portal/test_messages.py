"""The portal's messages (issue 25) through their JSON, on both backends: the threads newest first
with unread marked, automatic notices among them read-only, opening a thread marks it read, and the
reply rules: in treatment or not, a closed thread, an empty or over-long message, a form sent twice;
another patient's thread is 404 and writes nothing."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import orjson
import pytest
from starlette.testclient import TestClient

from lifeline.fhir import message_threads as threads
from lifeline.fhir.patient_messages import communication as notice_of
from lifeline.fhir.request import FhirRequest
from lifeline.fhir.service import FhirService
from lifeline.identity.principal import SYSTEM, Principal
from lifeline.identity.scopes import ScopeSet
from tests.web.pages.test_chart import Ward, admitted_patient, put
from tests.web.pages.test_portal import json_of, patient_browser

READER = Principal(SYSTEM, "messages-test", "tests", ScopeSet.parse("system/*.rs"))


@dataclass(frozen=True)
class Talk:
    ward: Ward
    open: str  # the cardiology department's open thread, with one unread message
    old: str  # another department's thread, opened long ago, no care there now
    notice: str
    theirs: str  # the other patient's thread


def thread_header(id_: str, patient: str, department: str, topic: str, sent: str, **extra: Any) -> dict[str, Any]:
    from datetime import datetime

    head = threads.header(f"Patient/{patient}", f"Organization/{department}", topic, datetime.fromisoformat(sent))
    return {**head, "id": id_, **extra}


def department_message(id_: str, head: dict[str, Any], text: str, sent: str) -> dict[str, Any]:
    from datetime import datetime

    key = {"system": "urn:test", "value": id_}
    written = threads.message(head, threads.department_of(head), text, datetime.fromisoformat(sent), None, key)
    return {**written, "id": id_}


def conversation(service: FhirService, ward: Ward) -> Talk:
    tag = ward.tag
    other = f"dep2-{tag}"
    put(service, {"resourceType": "Organization", "id": other, "name": f"Ortopædkirurgisk Afdeling {tag}"})
    opened = thread_header(f"t-{tag}", ward.mine, f"dep-{tag}", "Dit blodtryk", "2026-11-20T10:00:00+01:00")
    old = thread_header(f"old-{tag}", ward.mine, other, "Efter operationen", "2026-08-01T10:00:00+02:00")
    theirs = thread_header(f"their-{tag}", ward.theirs, f"dep-{tag}", "Hemmeligt emne", "2026-11-20T10:00:00+01:00")
    moved = "Din tid er flyttet til 3. december."
    notice = notice_of(
        f"Patient/{ward.mine}", f"Appointment/appt-{tag}", "moved", moved, {"reference": f"Organization/dep-{tag}"}
    )
    notice = {**notice, "id": f"n-{tag}", "status": "completed", "sent": "2026-11-19T09:00:00+01:00"}
    for resource in (
        opened,
        department_message(f"m1-{tag}", opened, "Hvordan har du det?\nMål dit blodtryk.", "2026-11-20T10:00:00+01:00"),
        old,
        department_message(f"m2-{tag}", old, "Husk genoptræningen.", "2026-08-01T10:00:00+02:00"),
        theirs,
        department_message(f"m3-{tag}", theirs, "Fortroligt svar", "2026-11-20T10:00:00+01:00"),
        notice,
    ):
        put(service, resource)
    return Talk(ward, opened["id"], old["id"], notice["id"], theirs["id"])


@pytest.fixture
def talk(service: FhirService) -> Talk:
    return conversation(service, admitted_patient(service))


def in_thread(service: FhirService, thread_id: str) -> list[dict[str, Any]]:
    """The thread's messages as stored (read past the pages, as a system)."""
    request = FhirRequest(
        "search", "Communication", params=[("part-of", f"Communication/{thread_id}"), ("_sort", "sent")]
    )
    bundle = orjson.loads(orjson.dumps(service.as_user(READER, None, None).handle(request).resource or {}))
    return [e["resource"] for e in bundle.get("entry", []) if (e.get("search") or {}).get("mode") == "match"]


def stored(service: FhirService, res_id: str) -> dict[str, Any]:
    answer = service.as_user(READER, None, None).handle(FhirRequest("read", "Communication", res_id))
    return dict(orjson.loads(answer.raw)) if answer.raw else dict(answer.resource or {})


def reply(web: TestClient, csrf: str, thread_id: str, text: str, key: str | None = None) -> Any:
    fields = {"csrf": csrf, "text": text, "key": key or uuid.uuid4().hex}
    return web.post(f"/portal/messages/{thread_id}", data=fields, follow_redirects=False)


def test_threads_newest_first_with_unread_and_notices(service: FhirService, talk: Talk) -> None:
    web, _ = patient_browser(service, talk.ward.mine)
    shown = json_of(web, "/portal/messages")
    ids = [t["id"] for t in shown["threads"]]
    assert ids == [talk.open, talk.notice, talk.old]  # the other patient's is not there
    first, notice, old = shown["threads"]
    assert (first["topic"], first["unread"], first["department"]) == (
        "Dit blodtryk",
        1,
        f"Kardiologisk Afdeling {talk.ward.tag}",
    )
    assert first["last"].startswith("Hvordan har du det?") and first["href"] == f"/portal/messages/{talk.open}"
    assert (notice["kind"], notice["notice"], notice["unread"]) == ("notice", "moved", 1)
    assert old["department"].startswith("Ortopædkirurgisk") and shown["unread"] == 3
    html = web.get("/portal/messages").text
    assert "3 unread messages" in html and "Appointment moved" in html and "Hemmeligt emne" not in html


def test_opening_a_thread_marks_it_read(service: FhirService, talk: Talk) -> None:
    web, _ = patient_browser(service, talk.ward.mine)
    opened = json_of(web, f"/portal/messages/{talk.open}")
    assert [(m["text"], m["mine"], m["new"]) for m in opened["messages"]] == [
        ("Hvordan har du det?\nMål dit blodtryk.", False, True)
    ]
    assert opened["reply"] == {"allowed": True, "whyNot": None, "longest": 2000}
    assert threads.read_at(stored(service, f"m1-{talk.ward.tag}")) is not None
    assert json_of(web, f"/portal/messages/{talk.open}")["messages"][0]["new"] is False
    notice = json_of(web, f"/portal/messages/{talk.notice}")
    assert notice["reply"]["whyNot"] == "notice" and notice["messages"][0]["text"].startswith("Din tid")
    assert stored(service, talk.notice)["status"] == "completed"  # read is not sent or unsent
    assert [t["unread"] for t in json_of(web, "/portal/messages")["threads"]] == [0, 0, 1]


def test_a_reply_in_treatment_is_written_once(service: FhirService, talk: Talk) -> None:
    web, csrf = patient_browser(service, talk.ward.mine)
    key = uuid.uuid4().hex
    first = reply(web, csrf, talk.open, "  Jeg har det bedre.\r\nTak.  ", key)
    assert first.status_code == 303 and first.headers["location"].startswith(
        f"/portal/messages/{talk.open}?sent=1#message-"
    )
    again = reply(web, csrf, talk.open, "  Jeg har det bedre.\r\nTak.  ", key)  # a double click
    assert again.status_code == 303 and again.headers["location"] == first.headers["location"]
    written = [m for m in in_thread(service, talk.open) if m["sender"]["reference"] == f"Patient/{talk.ward.mine}"]
    assert len(written) == 1
    message = written[0]
    assert message["payload"] == [{"contentString": "Jeg har det bedre.\nTak."}]
    assert message["recipient"] == [{"reference": f"Organization/dep-{talk.ward.tag}"}]
    assert message["inResponseTo"] == [{"reference": f"Communication/m1-{talk.ward.tag}"}]
    assert message["subject"] == {"reference": f"Patient/{talk.ward.mine}"}
    page = web.get(first.headers["location"]).text
    assert "Your message has been sent to the department." in page and "Jeg har det bedre." in page


@pytest.mark.parametrize(
    ("which", "text", "problem"),
    [
        ("open", "", "empty"),
        ("open", "   \r\n ", "empty"),
        ("open", "x" * 2001, "too-long"),
        ("old", "Hej", "not-in-treatment"),
        ("notice", "Hej", "notice"),
    ],
)
def test_a_reply_refused_writes_nothing(service: FhirService, talk: Talk, which: str, text: str, problem: str) -> None:
    web, csrf = patient_browser(service, talk.ward.mine)
    thread_id = getattr(talk, which)
    before = len(in_thread(service, thread_id))
    answer = reply(web, csrf, thread_id, text)
    assert answer.status_code == 400
    assert 'id="reply-error"' in answer.text and 'aria-invalid="true"' in answer.text
    assert len(in_thread(service, thread_id)) == before
    as_json = web.post(
        f"/portal/messages/{thread_id}?_format=json", data={"csrf": csrf, "text": text, "key": uuid.uuid4().hex}
    )
    assert as_json.status_code == 400 and as_json.json()["problems"] == {"text": problem}
    assert len(in_thread(service, thread_id)) == before


def test_a_thread_of_the_department_not_in_treatment_says_why(service: FhirService, talk: Talk) -> None:
    web, _ = patient_browser(service, talk.ward.mine)
    old = json_of(web, f"/portal/messages/{talk.old}")
    assert old["reply"] == {"allowed": False, "whyNot": "not-in-treatment", "longest": 2000}
    assert "only while you are in treatment there" in web.get(f"/portal/messages/{talk.old}").text


def test_a_closed_thread_cannot_be_answered(service: FhirService, talk: Talk) -> None:
    closed = {**stored(service, talk.open), "status": threads.CLOSED}
    closed.pop("meta")
    put(service, closed)
    web, csrf = patient_browser(service, talk.ward.mine)
    assert json_of(web, f"/portal/messages/{talk.open}")["reply"]["whyNot"] == "closed"
    before = len(in_thread(service, talk.open))
    answer = reply(web, csrf, talk.open, "Hallo?")
    assert answer.status_code == 400 and "has closed this conversation" in answer.text
    assert "Hallo?" in answer.text  # what they typed is kept, to copy
    assert len(in_thread(service, talk.open)) == before


def test_an_episode_of_care_lets_the_patient_answer_an_old_thread(service: FhirService, talk: Talk) -> None:
    tag = talk.ward.tag
    put(service, {"resourceType": "EpisodeOfCare", "id": f"eoc-{tag}", "status": "active",
                  "patient": {"reference": f"Patient/{talk.ward.mine}"},
                  "managingOrganization": {"reference": f"Organization/dep2-{tag}"}})  # fmt: skip
    web, csrf = patient_browser(service, talk.ward.mine)
    assert json_of(web, f"/portal/messages/{talk.old}")["reply"]["allowed"] is True
    assert reply(web, csrf, talk.old, "Genoptræningen går godt.").status_code == 303


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_another_patients_thread_is_404_and_writes_nothing(service: FhirService, talk: Talk, method: str) -> None:
    web, csrf = patient_browser(service, talk.ward.mine)
    before = stored(service, f"m3-{talk.ward.tag}")
    for thread_id in (talk.theirs, f"m1-{talk.ward.tag}", "no-such-thread", "bad%20id"):
        if method == "GET":
            answer = web.get(f"/portal/messages/{thread_id}")
        else:
            answer = reply(web, csrf, thread_id, "Hej")
        assert answer.status_code == 404, thread_id
        assert "Hemmeligt emne" not in answer.text and "Fortroligt" not in answer.text
    assert len(in_thread(service, talk.theirs)) == 1
    assert stored(service, f"m3-{talk.ward.tag}")["meta"] == before["meta"]  # not marked read either


def test_a_form_without_its_key_writes_nothing_and_asks_again(service: FhirService, talk: Talk) -> None:
    web, csrf = patient_browser(service, talk.ward.mine)
    answer = web.post(f"/portal/messages/{talk.open}?_format=json", data={"csrf": csrf, "text": "Hej", "key": "<x>"})
    assert answer.status_code == 400 and answer.json()["problems"] == {"key": "missing"}
    assert len(in_thread(service, talk.open)) == 1


def test_a_patient_writes_only_their_own_messages_and_read_marks(service: FhirService, talk: Talk) -> None:
    """Even with scopes to write Communications (an app could hold them), a patient cannot change
    a department's words, write as the department, or delete; they may mark a message read."""
    from lifeline.errors import Forbidden
    from lifeline.identity.principal import PATIENT

    mine = talk.ward.mine
    patient = Principal(PATIENT, "citizen", "portal", ScopeSet.parse("patient/*.cruds"), fhir_user=f"Patient/{mine}")
    core = service.as_user(patient)
    read = service.handle(FhirRequest("read", "Communication", f"m1-{talk.ward.tag}", principal=READER))
    message = orjson.loads(read.raw or "{}")
    rewritten = {**message, "payload": [{"contentString": "Det skrev afdelingen aldrig."}]}
    with pytest.raises(Forbidden, match="only whether you have read it"):
        core.handle(FhirRequest("update", "Communication", message["id"], body=rewritten))
    head = orjson.loads(service.handle(FhirRequest("read", "Communication", talk.open, principal=READER)).raw or "{}")
    key = {"system": "urn:test", "value": uuid.uuid4().hex}
    as_department = threads.message(head, threads.department_of(head), "Falsk", service.clock(), None, key)
    with pytest.raises(Forbidden, match="sender must be your own Patient"):
        core.handle(FhirRequest("create", "Communication", body=as_department))
    with pytest.raises(Forbidden, match="cannot delete"):
        core.handle(FhirRequest("delete", "Communication", message["id"]))
    marked = threads.marked_read(message, service.clock())
    assert core.handle(FhirRequest("update", "Communication", message["id"], body=marked)).status == 200
    department = {"reference": threads.department_of(head)}
    own = {**as_department, "sender": {"reference": f"Patient/{mine}"}, "recipient": [department]}
    assert core.handle(FhirRequest("create", "Communication", body=own)).status == 201
