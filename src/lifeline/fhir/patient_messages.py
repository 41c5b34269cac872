"""What a patient is told of a change to their appointments (issue 24): a Communication to the
patient, written in the same transaction as the change it tells of, with status `preparation`
until a sender (logistics/sending.py) has delivered it and marked it `completed`. The portal shows
the same Communication; nothing is lost if a sender is down, and nothing is sent for a change that
was not made. https://hl7.org/fhir/R4/communication.html
"""

from __future__ import annotations

from typing import Any

# Communication.category: what kind of message this is (Lifeline's own small code system).
CATEGORY_SYSTEM = "https://lifeline.example/fhir/CodeSystem/patient-message"
KINDS = {
    "booked": "Appointment booked",
    "moved": "Appointment moved",
    "cancelled": "Appointment cancelled",
    "rebooking-offered": "New time offered",
}
TO_SEND = "preparation"  # written with the change, waiting for a sender
SENT = "completed"


def communication(
    patient: str, appointment: str, kind: str, text: str, sender: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The message to `patient` (Patient/id) about `appointment` (Appointment/id, or a transaction
    entry's urn:uuid), of `kind` (a key of KINDS), saying `text` in the patient's language.
    `sender` is the department's reference (Organization), as the patient should see it."""
    if kind not in KINDS:
        raise ValueError(f"unknown message kind {kind!r}")
    message: dict[str, Any] = {
        "resourceType": "Communication",
        "status": TO_SEND,
        "category": [{"coding": [{"system": CATEGORY_SYSTEM, "code": kind, "display": KINDS[kind]}]}],
        "subject": {"reference": patient},
        "recipient": [{"reference": patient}],
        "about": [{"reference": appointment}],
        "payload": [{"contentString": text}],
    }
    if sender is not None:
        message["sender"] = sender
    return message
