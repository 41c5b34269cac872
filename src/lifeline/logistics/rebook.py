"""Back up after a reduction to acute care (issue 24): the rebooking list and the proposal that
fills the freed capacity.

A cancelled case goes on the rebooking list as a new Appointment with status `waitlist`
(https://hl7.org/fhir/R4/valueset-appointmentstatus.html: "the appointment has been placed on a
waitlist, to be scheduled/confirmed in the future"): the same patient, participants, service,
reason and priority, `created` kept as the original referral date (the waiting time counts from
there, not from the cancellation), `requestedPeriod.start` the end of the reduced period (not
before), `basedOn` the surgeon's order as the cancelled one had, and `supportingInformation` the
cancelled Appointment (basedOn may only name a request). A new resource rather than the cancelled
one reopened: the cancellation, its reason and the message about it stay on the record as they were.

The rebooking proposal is worked out afresh each time it is shown (it holds nothing the lead
decided): in order of clinical priority, then waiting time, each case gets the earliest free Slot of
the Schedules of its own clinic or theatre, not before its requested start, long enough for it.
Nothing is booked until a secretary confirms an offer (or all of them): then, in one transaction,
the Slot `busy`, the waiting Appointment `booked` at the Slot's time, and a Communication to the
patient ("rebooking-offered"). A case no longer waiting is not booked again; a Slot taken meanwhile
is refused (409) and the rest stay as they were.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from lifeline.clock import COPENHAGEN
from lifeline.errors import Conflict, NotFound
from lifeline.fhir.acting import Acting
from lifeline.fhir.found import searched
from lifeline.fhir.patient_messages import communication
from lifeline.fhir.request import FhirRequest
from lifeline.logistics import cases as found_cases
from lifeline.logistics.cases import Case, local

SLOTS_PER_PLACE = 1000  # free slots looked at per clinic or theatre


@dataclass(frozen=True)
class Offer:
    case: Case
    slot: str  # Slot/id
    start: str
    end: str


@dataclass(frozen=True)
class Rebooking:
    offers: list[Offer]
    unplaced: list[Case]  # no free slot long enough at their clinic or theatre


def waitlisted(appointment: dict[str, Any], not_before: str) -> dict[str, Any]:
    """The cancelled `appointment`'s place on the rebooking list."""
    kept = ("serviceCategory", "serviceType", "specialty", "appointmentType", "reasonCode", "reasonReference",
            "priority", "description", "minutesDuration", "created", "basedOn", "comment")  # fmt: skip
    waiting: dict[str, Any] = {"resourceType": "Appointment", "status": "waitlist"}
    waiting.update({k: appointment[k] for k in kept if k in appointment})
    waiting["supportingInformation"] = [{"reference": f"Appointment/{appointment['id']}"}]
    waiting["requestedPeriod"] = [{"start": not_before}]
    waiting["participant"] = [
        {**p, "status": "needs-action"} for p in appointment.get("participant") or [] if p.get("actor")
    ]
    return waiting


def proposal(core: Acting, organization: str, now: datetime) -> Rebooking:
    """Who gets which free slot, in order of clinical priority, then waiting time."""
    listed = found_cases.waiting(core, organization)
    free: dict[str, list[dict[str, Any]]] = {}
    taken: set[str] = set()
    booked: dict[str, list[tuple[datetime, datetime]]] = {}  # patient -> offered times
    offers, unplaced = [], []
    for case in listed:
        if case.location is None:
            unplaced.append(case)
            continue
        if case.location not in free:
            free[case.location] = _free_slots(core, case.location, now)
        not_before = max(local(case.requested) or now, now)
        minutes = case.minutes or 0
        chosen = None
        for slot in free[case.location]:
            start, end = local(slot["start"]), local(slot["end"])
            assert start is not None and end is not None
            ref = f"Slot/{slot['id']}"
            if ref in taken or start < not_before or (end - start) < timedelta(minutes=minutes):
                continue
            finish = start + timedelta(minutes=minutes) if minutes else end
            if any(start < b and a < finish for a, b in booked.get(case.patient, [])):
                continue
            chosen = Offer(case, ref, slot["start"], finish.isoformat())
            break
        if chosen is None:
            unplaced.append(case)
            continue
        taken.add(chosen.slot)
        booked.setdefault(case.patient, []).append((local(chosen.start), local(chosen.end)))  # type: ignore[arg-type]
        offers.append(chosen)
    return Rebooking(offers, unplaced)


def book(core: Acting, waiting_ref: str, slot_ref: str, sender: str | None) -> bool:
    """Book the waiting case `waiting_ref` (Appointment/id) into `slot_ref` (Slot/id) and tell the
    patient; False when the case was booked already (nothing written)."""
    current = found_cases.by_ids(core, "Appointment", [waiting_ref], ("_include", "Appointment:patient"))
    appointment = current.get(waiting_ref)
    if appointment is None:
        raise NotFound(f"No case {waiting_ref} is on the rebooking list.")
    if appointment.get("status") != "waitlist":
        return False
    slot = found_cases.by_ids(core, "Slot", [slot_ref]).get(slot_ref)
    if slot is None:
        raise NotFound(f"No time {slot_ref} is known here.")
    if slot.get("status") != "free":
        raise Conflict("That time was taken meanwhile: look at the proposal again.")
    case = found_cases.case_of(appointment, current)
    assert case is not None
    start = local(slot["start"])
    assert start is not None
    end = start + timedelta(minutes=case.minutes) if case.minutes else local(slot["end"])
    assert end is not None
    booked = {k: v for k, v in appointment.items() if k != "meta"}
    booked.update(status="booked", start=slot["start"], end=end.isoformat(), slot=[{"reference": slot_ref}])
    booked.pop("requestedPeriod", None)
    booked["participant"] = [
        {**p, "status": "needs-action" if p["actor"].get("reference", "").startswith("Patient/") else "accepted"}
        for p in booked.get("participant") or []
    ]
    busy = {k: v for k, v in slot.items() if k != "meta"}
    busy["status"] = "busy"
    text = message("rebooking-offered", current.get(case.patient), slot["start"], case.what)
    told = communication(
        case.patient, waiting_ref, "rebooking-offered", text, {"reference": sender} if sender else None
    )
    entries = [
        _put(busy, str(slot["meta"]["versionId"])),
        _put(booked, str(appointment["meta"]["versionId"])),
        {"resource": told, "request": {"method": "POST", "url": "Communication"}},
    ]
    core.handle(FhirRequest("transaction", body={"resourceType": "Bundle", "type": "transaction", "entry": entries}))
    return True


def message(kind: str, patient: dict[str, Any] | None, start: str | None, what: str, reason: str = "") -> str:
    """What the patient reads, in their language (Danish unless their record says English)."""
    english = any(
        (c.get("code") or "").lower().startswith("en")
        for each in (patient or {}).get("communication") or []
        for c in (each.get("language") or {}).get("coding") or []
    )
    moment = local(start)
    if moment is not None:
        moment = moment.astimezone(COPENHAGEN)
    if english:
        when = moment.strftime("%-d %B %Y at %H:%M") if moment else "(no time)"
        if kind == "cancelled":
            return (f"Your appointment on {when} ({what}) is cancelled: {reason}. You are on the waiting list and "
                    "will be offered a new time as soon as possible.")  # fmt: skip
        return f"You are offered a new time: {when} ({what}). Contact the department if it does not suit you."
    when = moment.strftime("%-d.%-m.%Y kl. %H:%M") if moment else "(uden tid)"
    if kind == "cancelled":
        return (f"Din tid {when} ({what}) er aflyst: {reason}. Du står på venteliste og får tilbudt en ny tid "
                "hurtigst muligt.")  # fmt: skip
    return f"Du får en ny tid: {when} ({what}). Kontakt afdelingen, hvis tiden ikke passer dig."


def _free_slots(core: Acting, location: str, now: datetime) -> list[dict[str, Any]]:
    params = [
        ("schedule:Schedule.actor", location),
        ("status", "free"),
        ("start", f"ge{now.astimezone(COPENHAGEN).isoformat()}"),
        ("_sort", "start"),
        ("_count", str(SLOTS_PER_PLACE)),
    ]
    found = searched(core, "Slot", params)
    return sorted(found.matches, key=lambda s: local(s.get("start")) or now)


def _put(resource: dict[str, Any], version: str) -> dict[str, Any]:
    path = f"{resource['resourceType']}/{resource['id']}"
    return {"resource": resource, "request": {"method": "PUT", "url": path, "ifMatch": f'W/"{version}"'}}
