"""`/portal/appointments`: the patient's appointments and booked operations, upcoming (the soonest
first, cancelled ones said so) and past (the newest first), each with its place: the Location the
appointment names, by its display or, where it has none, its name read through the core as the
patient (the directory of their own care, access/ties.py); which the patient may change
(appointment_changes.py), and for one cancelled during a downtime the new time offered.
https://hl7.org/fhir/R4/appointment.html
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from lifeline.fhir.acting import Acting
from lifeline.web.pages.chart import words
from lifeline.web.pages.portal import appointment_changes as changes
from lifeline.web.pages.portal.record import reader

READ = 200  # the newest appointments on the page
HIDDEN = ("entered-in-error",)
GONE = ("cancelled", "noshow")
DOWNTIME = "reduced-to-acute"  # the reason code of a downtime's cancellation (logistics/reduce.py)


def _place(appointment: dict[str, Any], places: dict[str, dict[str, Any]]) -> str:
    names = []
    for participant in appointment.get("participant") or []:
        actor = participant.get("actor") or {}
        reference = str(actor.get("reference") or "")
        if reference.startswith("Location/"):
            name = actor.get("display") or (places.get(reference) or {}).get("name")
            if name:
                names.append(str(name))
    return ", ".join(names)


def _changes(
    appointment: dict[str, Any],
    patient_id: str,
    own: str | None,
    found: list[dict[str, Any]],
    language: str,
    now: datetime,
) -> dict[str, Any]:
    """What the patient may do with `appointment` (appointment_changes.py), and, for one cancelled
    in a reduction to acute care (logistics/reduce.py), the new time offered on the rebooking list."""
    status = appointment.get("status")
    reason = appointment.get("cancelationReason") or {}
    downtime = status == "cancelled" and any(c.get("code") == DOWNTIME for c in reason.get("coding") or [])
    rebooked = next(
        (
            a
            for a in found
            if {"reference": f"Appointment/{appointment.get('id')}"} in (a.get("supportingInformation") or [])
        ),
        None,
    )
    return {
        "changeable": own == patient_id and changes.changeable(appointment, now),
        "offer": own == patient_id and changes.is_offer(appointment, patient_id),
        "downtime": downtime,
        "reason": reason.get("text") or "",
        "rebooked": None
        if rebooked is None
        else {
            "id": rebooked.get("id"),
            "status": rebooked.get("status"),
            "when": words.when(rebooked.get("start"), language) if rebooked.get("start") else None,
        },
    }


def appointments(core: Acting, patient_id: str, today_: date, language: str) -> dict[str, Any]:
    """What `/portal/appointments` shows the patient `core` acts as on `today_` (Danish time)."""
    read, _ = reader(core, patient_id)
    found, places = read.search(
        "Appointment", ("_sort", "-date"), ("_count", str(READ)), ("_include", "Appointment:location")
    )
    # Changes are offered on the patient's own appointments only, not while a parent looks at a child's.
    own = core.principal.patient_id if core.principal is not None else None
    now = core.service.clock()
    upcoming: list[dict[str, Any]] = []
    past: list[dict[str, Any]] = []
    for appointment in found:
        status = appointment.get("status")
        if status in HIDDEN or (status == "waitlist" and appointment.get("supportingInformation")):
            continue  # a place on the rebooking list is shown with the cancelled appointment it replaces
        when = words.when(appointment.get("start"), language)
        operation = bool(appointment.get("basedOn") or appointment.get("serviceType"))
        what = appointment.get("description") or words.concept((appointment.get("serviceType") or [None])[0])
        shown = {
            **_changes(appointment, patient_id, own, found, language, now),
            "id": appointment.get("id"),
            "what": what or words.concept(appointment.get("appointmentType")),
            "kind": "operation" if operation else "appointment",
            "when": when,
            "where": _place(appointment, places),
            "status": status,
            "cancelled": status in GONE,
            "note": appointment.get("patientInstruction") or "",
        }
        start = str(appointment.get("start") or "")[:10]
        (upcoming if start >= today_.isoformat() and status != "fulfilled" else past).append(shown)
    upcoming.sort(key=lambda a: words.in_order(a["when"]))
    return {"upcoming": upcoming, "past": past, "more": read.more, "today": today_.isoformat()}
