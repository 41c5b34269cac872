"""Sending the messages to patients (logistics/sending.py) on both backends: the file sender
writes each message once as JSON, the round marks it sent through the core as the messenger, a
sender that fails leaves the message to the next round, and the messenger may do nothing else."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import orjson
import pytest

from lifeline.config import Settings
from lifeline.errors import Forbidden
from lifeline.fhir import patient_messages as notify
from lifeline.fhir.request import FhirRequest
from lifeline.fhir.service import FhirService
from lifeline.identity.principal import OPERATOR, messenger
from lifeline.logistics.sending import FileSender, Messenger, Outgoing
from tests.conftest import new_patient


def created(service: FhirService, resource: dict[str, Any]) -> dict[str, Any]:
    answer = service.as_user(OPERATOR).handle(FhirRequest("create", resource["resourceType"], body=resource))
    written = orjson.loads(answer.raw) if answer.raw is not None else answer.resource
    assert isinstance(written, dict)
    return written


def read(service: FhirService, res_type: str, res_id: str) -> dict[str, Any]:
    answer = service.as_user(OPERATOR).handle(FhirRequest("read", res_type, id=res_id))
    found = orjson.loads(answer.raw) if answer.raw is not None else answer.resource
    assert isinstance(found, dict)
    return found


def message_to(service: FhirService, telecom: list[dict[str, Any]]) -> tuple[str, str]:
    patient = created(service, new_patient(telecom=telecom) if telecom else new_patient())
    text = "Du har fået en tid onsdag 3. marts 2027 kl. 09:00, Ambulatoriet."
    body = notify.communication(f"Patient/{patient['id']}", "Appointment/a-1", "booked", text)
    return patient["id"], created(service, body)["id"]


class Failing:
    def send(self, message: Outgoing) -> None:
        raise OSError("the SMS gateway is down")


def test_a_message_is_sent_once_and_marked_sent(service: FhirService, tmp_path: Path) -> None:
    patient, message = message_to(service, [{"system": "email", "value": "anna@example.dk"},
                                            {"system": "phone", "value": "+4512345678", "use": "mobile"}])  # fmt: skip
    round_ = Messenger(service, FileSender(tmp_path))
    assert round_.send_once() >= 1
    sent = orjson.loads((tmp_path / f"Communication-{message}.json").read_bytes())
    assert sent == {"communication": f"Communication/{message}", "patient": f"Patient/{patient}", "channel": "sms",
                    "address": "+4512345678", "kind": "booked",
                    "text": "Du har fået en tid onsdag 3. marts 2027 kl. 09:00, Ambulatoriet."}  # fmt: skip
    marked = read(service, "Communication", message)
    assert marked["status"] == "completed" and marked["sent"].endswith("Z")
    (tmp_path / f"Communication-{message}.json").unlink()
    round_.send_once()
    assert not (tmp_path / f"Communication-{message}.json").exists()  # sent once
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".sending-")]


def test_an_email_when_there_is_no_mobile_and_none_without_contact(service: FhirService, tmp_path: Path) -> None:
    _, by_mail = message_to(service, [{"system": "email", "value": "bo@example.dk"}])
    _, nowhere = message_to(service, [])
    Messenger(service, FileSender(tmp_path)).send_once()
    assert orjson.loads((tmp_path / f"Communication-{by_mail}.json").read_bytes())["channel"] == "email"
    assert orjson.loads((tmp_path / f"Communication-{nowhere}.json").read_bytes())["channel"] == "none"


def test_a_failing_sender_leaves_the_message_to_send(service: FhirService, tmp_path: Path) -> None:
    _, message = message_to(service, [{"system": "sms", "value": "+4587654321"}])
    assert Messenger(service, Failing()).send_once() == 0
    assert read(service, "Communication", message)["status"] == "preparation"
    Messenger(service, FileSender(tmp_path)).send_once()
    assert read(service, "Communication", message)["status"] == "completed"


def test_the_messenger_may_only_read_and_mark_messages(service: FhirService) -> None:
    core = service.as_user(messenger("test-node"))
    with pytest.raises(Forbidden):
        core.handle(FhirRequest("search", "Observation"))
    with pytest.raises(Forbidden):
        core.handle(FhirRequest("create", "Patient", body=new_patient()))


def test_a_node_sends_only_with_a_messages_folder(service: FhirService, tmp_path: Path) -> None:
    assert Messenger.for_node(service) is None
    configured = FhirService(service.repo, Settings(messages_dir=str(tmp_path), messages_every_seconds=0.05))
    round_ = Messenger.for_node(configured)
    assert round_ is not None and round_.every_seconds == 0.05
    _, message = message_to(service, [{"system": "sms", "value": "+4511111111"}])
    round_.start()
    try:
        for _ in range(200):
            if (tmp_path / f"Communication-{message}.json").exists():
                break
            threading.Event().wait(0.05)
    finally:
        round_.stop()
    assert (tmp_path / f"Communication-{message}.json").exists()
