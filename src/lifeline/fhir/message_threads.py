"""Conversations between a patient and a department (issue 25, "Messages"), as FHIR Communications.
https://hl7.org/fhir/R4/communication.html

- **A thread** is a header Communication with no payload and no `partOf` (the model Medplum uses,
  "Messaging Data Model"): `subject` and `recipient` name the patient, `sender` (and a second
  `recipient`) the department (Organization), `topic` its title, `status` whether it is open
  (`in-progress`) or closed by the department (`completed`). A header, not the first message,
  because open and closed is the conversation's state, not any one message's transmission.
- **A message** has `partOf` = its thread's header and `inResponseTo` = the message it answers
  (chosen over a CommunicationRequest, which asks for a communication still to happen, and over
  `topic` alone, which cannot be searched: `part-of` can, so one search finds a thread).
- **Read** is an extension holding when the recipient first opened the message, not `status`:
  the status of a notice (fhir/patient_messages.py) is its sending's (`preparation` until the
  messenger marks it `completed`), and a read mark must never make a notice look sent or unsent.
- **Automatic notices** (the logistics code's messages about appointments) are threads of their
  own, read-only: nobody answers a machine.

Everything here builds or reads resources; who may write them is the access rule's, when the
pages write them through the core.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from lifeline.access.deciding import READ_MARK
from lifeline.clock import fhir_instant
from lifeline.fhir.patient_messages import CATEGORY_SYSTEM as NOTICE_SYSTEM

SYSTEM = "https://lifeline.example/fhir/CodeSystem/message-thread"
THREAD, MESSAGE, NOTICE = "thread", "message", "notice"
READ_EXTENSION = READ_MARK  # the one extension a patient may change on a message to them (access/deciding.py)
OPEN, CLOSED = "in-progress", "completed"
LONGEST = 2000  # characters in one message: a letter's page, not a document
TOPIC_LONGEST = 120
# What is wrong with a message typed: the pages say it beside the field in the reader's language.
EMPTY, TOO_LONG = "empty", "too-long"


def _category(code: str) -> list[dict[str, Any]]:
    return [{"coding": [{"system": SYSTEM, "code": code}]}]


def header(patient: str, department: str, topic: str, now: datetime) -> dict[str, Any]:
    """A new open thread between `patient` (Patient/id) and `department` (Organization/id)."""
    return {
        "resourceType": "Communication",
        "status": OPEN,
        "category": _category(THREAD),
        "subject": {"reference": patient},
        "sender": {"reference": department},
        "recipient": [{"reference": patient}, {"reference": department}],
        "topic": {"text": topic},
        "sent": fhir_instant(now),
    }


def message(
    thread: dict[str, Any], sender: str, text: str, now: datetime, answering: str | None, key: dict[str, str]
) -> dict[str, Any]:
    """A message in `thread` (its header) from `sender` (the patient or the department) to the
    other party, answering `answering` (Communication/id) if any, carrying the form's one-time
    key `key` as its identifier."""
    patient = str((thread.get("subject") or {}).get("reference") or "")
    department = department_of(thread)
    written: dict[str, Any] = {
        "resourceType": "Communication",
        "identifier": [key],
        "status": "completed",
        "category": _category(MESSAGE),
        "partOf": [{"reference": f"Communication/{thread['id']}"}],
        "subject": {"reference": patient},
        "sender": {"reference": sender},
        "recipient": [{"reference": department if sender == patient else patient}],
        "sent": fhir_instant(now),
        "payload": [{"contentString": text}],
    }
    if answering:
        written["inResponseTo"] = [{"reference": answering}]
    return written


def kind(communication: dict[str, Any]) -> str | None:
    """thread, message, notice, or None for a Communication that is none of these."""
    for category in communication.get("category") or []:
        for coding in category.get("coding") or []:
            if coding.get("system") == SYSTEM and coding.get("code") in (THREAD, MESSAGE):
                return str(coding["code"])
            if coding.get("system") == NOTICE_SYSTEM:
                return NOTICE
    return None


def thread_of(communication: dict[str, Any]) -> str | None:
    """The id of the thread a message is part of."""
    for part in communication.get("partOf") or []:
        reference = str(part.get("reference") or "")
        if reference.startswith("Communication/"):
            return reference.split("/", 1)[1]
    return None


def department_of(thread: dict[str, Any]) -> str:
    """The department a thread or notice is with: its sender, when an Organization ("" for the
    notice of a change the patient made themself, which they sent)."""
    sender = str((thread.get("sender") or {}).get("reference") or "")
    return sender if sender.startswith("Organization/") else ""


def text_of(communication: dict[str, Any]) -> str:
    return "\n".join(str(p["contentString"]) for p in communication.get("payload") or [] if p.get("contentString"))


def topic_of(communication: dict[str, Any]) -> str:
    return str((communication.get("topic") or {}).get("text") or "")


def read_at(communication: dict[str, Any]) -> str | None:
    """When the recipient first opened the message; None while unread."""
    for extension in communication.get("extension") or []:
        if extension.get("url") == READ_EXTENSION:
            return str(extension.get("valueDateTime") or "") or None
    return None


def marked_read(communication: dict[str, Any], now: datetime) -> dict[str, Any]:
    """The message as an update marks it read (the server's `meta` left out)."""
    extensions = [e for e in communication.get("extension") or [] if e.get("url") != READ_EXTENSION]
    marked = {k: v for k, v in communication.items() if k != "meta"}
    marked["extension"] = [*extensions, {"url": READ_EXTENSION, "valueDateTime": fhir_instant(now)}]
    return marked


def moment(communication: dict[str, Any]) -> str:
    """When a message or thread happened, as recorded: sent, or (a notice not yet sent) written."""
    return str(communication.get("sent") or (communication.get("meta") or {}).get("lastUpdated") or "")


def in_order(value: str) -> datetime:
    """A recorded moment, comparable with others whatever their zones."""
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        return datetime.min.replace(tzinfo=UTC)
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def problem(text: str) -> str | None:
    """What is wrong with a message typed: empty, too-long, or None."""
    if not text.strip():
        return EMPTY
    if len(text) > LONGEST:
        return TOO_LONG
    return None


def tidied(text: str) -> str:
    """A typed message as stored: line ends made one kind, blank ends dropped."""
    return text.replace("\r\n", "\n").replace("\r", "\n").strip()
