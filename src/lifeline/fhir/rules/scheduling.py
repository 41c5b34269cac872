"""Rules for scheduling (issue 24): see fhir/rules/__init__.py.

What no Appointment or Slot write may do, whoever writes it (the API, a transaction, the
scheduling operations, the pages):

- an active appointment (proposed, pending, booked, arrived, checked-in) names its patient;
- it takes no slot another active appointment holds, nor a slot that is busy-unavailable or
  entered in error; and its patient has no other active appointment at the same time;
- a new booking, or a move, starts today or later (Danish date; a same-day walk-in is fine);
- it ends after it starts; a change to cancelled says why (cancelationReason);
- a slot ends after it starts, and is not withdrawn (busy-unavailable, entered-in-error) while an
  active appointment holds it.

Every refusal is 422 Unprocessable with issue code `business-rule` (the FHIR HTTP page: 422 is
for "server business rules"; 409 and 412 stay for version conflicts), its `expression` naming the
element, and it never names another patient: a slot taken is "taken", not "taken by".
Before looking, a booking locks its slots and then its patient (`session.lock`): on PostgreSQL
racing bookings of one slot run one after the other, and each sees the one before.
https://hl7.org/fhir/R4/appointment.html, https://hl7.org/fhir/R4/slot.html
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from lifeline.clock import COPENHAGEN
from lifeline.fhir.rules import Checker, Written, refused

# Appointment.status values that hold a time (https://hl7.org/fhir/R4/valueset-appointmentstatus.html).
ACTIVE = ("proposed", "pending", "booked", "arrived", "checked-in")
UNAVAILABLE = ("busy-unavailable", "entered-in-error")  # a slot no one may be booked into
LONGEST = timedelta(days=1)  # how far back an appointment overlapping this one may start
MOST_SAME_TIME = 200  # a patient's appointments around one time: far more than any has


def moment(value: Any) -> datetime | None:
    """A FHIR instant as an aware datetime, or None (absent or not one)."""
    if not isinstance(value, str) or "T" not in value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def patients(appointment: dict[str, Any]) -> list[str]:
    """The Patient references among an appointment's participants."""
    found = []
    for participant in appointment.get("participant") or []:
        reference = ((participant or {}).get("actor") or {}).get("reference")
        if isinstance(reference, str) and reference.startswith("Patient/"):
            found.append(reference)
    return sorted(set(found))


def slots(resource: dict[str, Any]) -> list[str]:
    return sorted({ref for s in resource.get("slot") or [] if isinstance(ref := (s or {}).get("reference"), str)})


def is_active(appointment: dict[str, Any] | None) -> bool:
    return appointment is not None and appointment.get("status") in ACTIVE


def _ends_after_start(written: Written) -> None:
    what = written.res_type.lower()
    start, end = moment(written.resource.get("start")), moment(written.resource.get("end"))
    if start is not None and end is not None and end <= start:
        raise refused(f"The {what} must end after it starts", f"{written.res_type}.end")


def _says_why_cancelled(written: Written) -> None:
    appointment = written.resource
    if appointment.get("status") != "cancelled" or (written.before or {}).get("status") == "cancelled":
        return
    reason = appointment.get("cancelationReason") or {}
    said = (reason.get("text") or "").strip() or any(
        (c or {}).get("code") or (c or {}).get("display") for c in reason.get("coding") or []
    )
    if not said:
        raise refused(
            "A cancelled appointment needs a reason (cancelationReason, as text or a code)",
            "Appointment.cancelationReason",
        )


def _booking(written: Written) -> None:
    appointment = written.resource
    if not is_active(appointment):
        return
    who = patients(appointment)
    if not who:
        raise refused(
            "An appointment must name its patient (a participant that is a Patient)", "Appointment.participant"
        )
    start, end = moment(appointment.get("start")), moment(appointment.get("end"))
    before = written.before
    if start is not None and (not is_active(before) or (before or {}).get("start") != appointment.get("start")):
        # Judged by when the change was made (a site's booking during a cut reaches the centre later).
        made = datetime.fromisoformat(written.instant).astimezone(COPENHAGEN).date()
        if start.astimezone(COPENHAGEN).date() < made:
            raise refused("The appointment starts on a day that has passed: book today or later", "Appointment.start")
    taken = slots(appointment)
    for key in [*taken, *who]:  # slots before patients, each sorted: two bookings never lock crosswise
        written.session.lock(f"scheduling:{key}")
    for slot in taken:
        _slot_free(written, slot)
    if start is not None and end is not None:
        for patient in who:
            _patient_free(written, patient, start, end)


def _slot_free(written: Written, slot: str) -> None:
    res_type, _, slot_id = slot.partition("/")
    if res_type != "Slot" or not slot_id:
        raise refused(f"Appointment.slot must reference a Slot, not {slot!r}", "Appointment.slot")
    found = written.matching("Slot", [("_id", slot_id)], limit=1)
    if not found:
        raise refused(f"{slot} does not exist", "Appointment.slot")
    status = found[0].get("status")
    if status in UNAVAILABLE:
        raise refused(f"{slot} cannot be booked: it is {status}", "Appointment.slot")
    holders = written.matching("Appointment", [("slot", slot), ("status", ",".join(ACTIVE))], limit=1)
    if holders:
        raise refused(f"{slot} is already booked: choose another time", "Appointment.slot")


def _patient_free(written: Written, patient: str, start: datetime, end: datetime) -> None:
    criteria = [
        ("patient", patient),
        ("status", ",".join(ACTIVE)),
        ("date", f"lt{end.isoformat()}"),
        ("date", f"ge{(start - LONGEST).isoformat()}"),
    ]
    for other in written.matching("Appointment", criteria, limit=MOST_SAME_TIME):
        other_start, other_end = moment(other.get("start")), moment(other.get("end"))
        if other_start is None or other_end is None or not (other_start < end and start < other_end):
            continue
        local = other_start.astimezone(COPENHAGEN)
        until = other_end.astimezone(COPENHAGEN)
        raise refused(
            f"The patient already has an appointment at that time ({local:%d-%m-%Y %H:%M}–{until:%H:%M})",
            "Appointment.start",
        )


def _slot_not_withdrawn_while_held(written: Written) -> None:
    slot = written.resource
    status = slot.get("status")
    if status not in UNAVAILABLE or (written.before or {}).get("status") == status:
        return
    key = f"Slot/{written.res_id}"
    written.session.lock(f"scheduling:{key}")
    if written.matching("Appointment", [("slot", key), ("status", ",".join(ACTIVE))], limit=1):
        raise refused(
            f"{key} is booked: cancel or move its appointment before marking the slot {status}", "Slot.status"
        )


CHECKS: dict[str, list[Checker]] = {
    "Appointment": [_ends_after_start, _says_why_cancelled, _booking],
    "Slot": [_ends_after_start, _slot_not_withdrawn_while_held],
}
