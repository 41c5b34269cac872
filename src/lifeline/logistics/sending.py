"""Sending the messages to patients that bookings wrote (issue 24): a Communication with status
`preparation` (fhir/patient_messages.py) is sent by a pluggable sender and then marked `completed`
with its `sent` time, through the core as the node's messenger (identity/principal.py
`messenger`: it may read messages and patients and mark messages sent, nothing else).

A sender takes an `Outgoing` and delivers it, or raises; the message then stays to send and the
next round tries again. Delivery is at least once: a node stopped between sending and marking
sends that message again. The demo and the tests use `FileSender` (one JSON file per message in
`messages_dir`); an SMS gateway or a mail server is another class with the same `send`.
https://hl7.org/fhir/R4/communication.html
"""

from __future__ import annotations

import logging
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import orjson

from lifeline import jsontext
from lifeline.clock import fhir_instant
from lifeline.errors import FhirError
from lifeline.fhir.found import searched
from lifeline.fhir.patient_messages import CATEGORY_SYSTEM, SENT, TO_SEND
from lifeline.fhir.request import FhirRequest
from lifeline.identity.principal import messenger
from lifeline.rounds import Rounds

if TYPE_CHECKING:
    from lifeline.fhir.acting import Acting
    from lifeline.fhir.service import FhirService

log = logging.getLogger("lifeline.logistics")
MOST_PER_ROUND = 100  # a round sends at most this many; the next takes the rest


@dataclass(frozen=True)
class Outgoing:
    """One message as a sender delivers it: by `channel` (sms, email, or none: no contact
    details; a letter's business) to `address`, saying `text`."""

    communication: str  # Communication/id
    patient: str  # Patient/id
    channel: str
    address: str
    kind: str  # booked, moved, cancelled ... (patient_messages.KINDS)
    text: str


class Sender(Protocol):
    def send(self, message: Outgoing) -> None: ...


class FileSender:
    """Each message as `<communication id>.json` in `folder` (written whole, then renamed in, so
    a reader never sees half a message; sent again, the same file is written again)."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)

    def send(self, message: Outgoing) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        name = message.communication.replace("/", "-") + ".json"
        handle, temporary = tempfile.mkstemp(dir=self.folder, prefix=".sending-")
        with os.fdopen(handle, "wb") as out:
            out.write(jsontext.dumps(asdict(message), option=orjson.OPT_INDENT_2))
        os.replace(temporary, self.folder / name)


def outgoing(communication: dict[str, Any], patient: dict[str, Any] | None) -> Outgoing:
    """The message a Communication asks to send, addressed by the patient's telecom: a mobile
    phone (SMS) before an e-mail address."""
    telecom = [t for t in (patient or {}).get("telecom") or [] if isinstance(t, dict) and t.get("value")]
    live = [t for t in telecom if not (t.get("period") or {}).get("end")]
    phones = [t for t in live if t.get("system") in ("phone", "sms")]
    phone = next((t for t in phones if t.get("use") == "mobile" or t.get("system") == "sms"), None)
    email = next((t for t in live if t.get("system") == "email"), None)
    channel, address = ("sms", phone["value"]) if phone else ("email", email["value"]) if email else ("none", "")
    kind = next(
        (c.get("code") for cat in communication.get("category") or [] for c in cat.get("coding") or []
         if c.get("system") == CATEGORY_SYSTEM),
        "",
    )  # fmt: skip
    text = " ".join(p["contentString"] for p in communication.get("payload") or [] if p.get("contentString"))
    return Outgoing(
        f"Communication/{communication['id']}",
        (communication.get("subject") or {}).get("reference", ""),
        channel,
        address,
        str(kind or ""),
        text,
    )


class Messenger(Rounds):
    """Every `every_seconds`: send the messages still to send, and mark each sent."""

    def __init__(self, service: FhirService, sender: Sender, every_seconds: float | None = None) -> None:
        self.service, self.sender = service, sender
        every = every_seconds if every_seconds is not None else service.settings.messages_every_seconds
        super().__init__("lifeline-messenger", self.send_once, every, log, "messages to patients could not be sent")

    @classmethod
    def for_node(cls, service: FhirService) -> Messenger | None:
        """The messenger of a node with a messages folder (the file sender); None elsewhere."""
        folder = service.settings.messages_dir
        return cls(service, FileSender(folder)) if folder else None

    def send_once(self) -> int:
        """One round: how many messages were sent."""
        core = self.service.as_user(messenger(self.service.settings.node_id), None, "HOPERAT")
        found = searched(
            core,
            "Communication",
            [("status", TO_SEND), ("category", f"{CATEGORY_SYSTEM}|"), ("_include", "Communication:subject"),
             ("_count", str(MOST_PER_ROUND))],
        )  # fmt: skip
        sent = 0
        for communication in found.matches:
            patient = found.included.get((communication.get("subject") or {}).get("reference", ""))
            try:
                self.sender.send(outgoing(communication, patient))
            except Exception:  # noqa: BLE001 - this message waits for the next round; the others go on
                log.exception("the message Communication/%s could not be sent", communication.get("id"))
                continue
            if self._mark_sent(core, communication):
                sent += 1
        return sent

    def _mark_sent(self, core: Acting, communication: dict[str, Any]) -> bool:
        version = (communication.get("meta") or {}).get("versionId")
        done = {**communication, "status": SENT, "sent": fhir_instant(self.service.clock())}
        done.pop("meta", None)
        asking = FhirRequest("update", "Communication", id=communication["id"], body=done)
        asking.if_match = f'W/"{version}"' if version else None
        asking.prefer_return = "minimal"
        try:
            core.handle(asking)
        except FhirError as error:  # changed meanwhile (another node's round): its round marks it
            log.warning("Communication/%s was sent but not marked: %s", communication.get("id"), error)
            return False
        return True
