"""What a patient changes of their own appointments on `/portal/appointments` (issue 25): cancel a
booked one with a reason, move it to a free time of the same clinic and visit type (`$find`), and
accept or decline a new time offered after a downtime's cancellation (logistics/rebook.py).

Every change is the IHE `$book` operation (or, for an answer, one transaction) through the core
acting as the patient (purpose PATRQT, audited), with the patient's message in the same
transaction; the access rule lets a patient make exactly these changes (access/deciding.py
`_check_appointment`, `check_patient_slot`) and the operation adds the notice and the slot's kind
(fhir/interactions/scheduling.py `_patient_may`). A form sent twice acts once: it carries the
version it was made from, and a change already made is answered as made.
https://profiles.ihe.net/ITI/Scheduling/, https://hl7.org/fhir/R4/appointment.html
"""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta
from typing import Any

from lifeline import jsontext
from lifeline.clock import COPENHAGEN, fhir_instant
from lifeline.errors import FhirError, NotFound
from lifeline.fhir import patient_messages as notify
from lifeline.fhir.acting import Acting
from lifeline.fhir.interactions.scheduling import PATIENT_NOTICE, message, self_service
from lifeline.fhir.request import FhirRequest
from lifeline.fhir.rules.scheduling import moment
from lifeline.fhir.service import FhirService
from lifeline.identity.scopes import ScopeSet
from lifeline.web.layout import PageUser
from lifeline.web.pages.chart import words

# The pages read with `patient/*.rs`; these forms also change the patient's own appointment, its
# slots and write the message: the access rule keeps each to what a patient may do.
WRITE_SCOPES = ScopeSet.parse("patient/*.rs patient/Appointment.u patient/Slot.u patient/Communication.c")
REASON_SYSTEM = "https://lifeline.example/fhir/CodeSystem/patient-cancellation-reason"
# The reasons a patient picks from (the template says them in the reader's language).
REASONS = {
    "cannot-come": "I cannot come at that time",
    "feel-better": "I no longer need the appointment",
    "ill": "I am ill",
    "other": "Another reason",
}
WORDS_MOST = 300
FIND_DAYS = 60  # how far ahead free times are offered
FOUND_MOST = 30
# Problems beside the fields; the template says them in the reader's language.
REASON_MISSING, WORDS_LONG, SLOT_GONE, CHANGED, TOO_LATE = (
    "reason-missing", "words-long", "slot-gone", "changed", "too-late"
)  # fmt: skip


def writer(service: FhirService, user: PageUser, address: str | None) -> Acting:
    """The core acting as the patient, allowed the appointment changes the access rule allows them."""
    principal = user.principal
    assert principal is not None
    return service.as_user(dataclasses.replace(principal, scopes=WRITE_SCOPES), address, user.purpose)


def is_offer(appointment: dict[str, Any], patient: str) -> bool:
    """A new time booked for the patient after a cancellation (rebook.py), not yet answered."""
    return (
        appointment.get("status") == "booked"
        and bool(appointment.get("supportingInformation"))
        and any(
            (p.get("actor") or {}).get("reference") == f"Patient/{patient}" and p.get("status") == "needs-action"
            for p in appointment.get("participant") or []
        )
    )


def changeable(appointment: dict[str, Any], now: datetime) -> bool:
    start = moment(appointment.get("start"))
    return appointment.get("status") == "booked" and start is not None and start - now >= PATIENT_NOTICE


def _read(core: Acting, patient: str, appointment_id: str) -> dict[str, Any]:
    """The patient's own appointment; anyone else's is unknown, as any unknown id is."""
    answer = core.handle(FhirRequest("read", "Appointment", appointment_id))
    found: dict[str, Any] = jsontext.loads(answer.raw) if answer.raw else dict(answer.resource or {})
    mine = any((p.get("actor") or {}).get("reference") == f"Patient/{patient}" for p in found.get("participant") or [])
    if not mine:
        raise NotFound(f"Appointment/{appointment_id} is not known")
    return found


def choices(core: Acting, patient: str, appointment_id: str, now: datetime, language: str) -> dict[str, Any]:
    """The change page: the appointment, whether it may still be changed, the free times alike."""
    current = _read(core, patient, appointment_id)
    shown = {
        "id": appointment_id,
        "version": str((current.get("meta") or {}).get("versionId") or ""),
        "when": words.when(current.get("start"), language),
        "what": current.get("description") or words.concept((current.get("serviceType") or [None])[0]),
        "changeable": changeable(current, now),
        "offer": is_offer(current, patient),
        "reasons": list(REASONS),
        "movable": False,
        "free": [],
        "errors": {},
        "values": {},
    }
    if shown["changeable"]:
        shown["movable"] = _movable(core, current)
        shown["free"] = _free(core, current, now, language) if shown["movable"] else []
    return shown


def _movable(core: Acting, current: dict[str, Any]) -> bool:
    """Whether the appointment's clinic lets patients move their appointments themselves."""
    clinics = [
        str((p.get("actor") or {}).get("reference") or "")
        for p in current.get("participant") or []
        if str((p.get("actor") or {}).get("reference") or "").startswith("Location/")
    ]
    return all(self_service(_resource(core, "Location", key.partition("/")[2])) for key in clinics)


def _resource(core: Acting, res_type: str, res_id: str) -> dict[str, Any]:
    answer = core.handle(FhirRequest("read", res_type, res_id))
    return jsontext.loads(answer.raw) if answer.raw else dict(answer.resource or {})


def _free(core: Acting, current: dict[str, Any], now: datetime, language: str) -> list[dict[str, Any]]:
    """Free slots of the appointment's schedule and visit type, from `$find`."""
    first = now.astimezone(COPENHAGEN).date()
    params = [("start", first.isoformat()), ("end", (first + timedelta(days=FIND_DAYS)).isoformat())]
    for key in [s.get("reference") for s in current.get("slot") or []]:
        slot = _resource(core, "Slot", str(key).partition("/")[2])
        if (slot.get("schedule") or {}).get("reference"):
            params.append(("schedule", slot["schedule"]["reference"]))
        for kind in slot.get("serviceType") or []:
            for coding in kind.get("coding") or []:
                params.append(("service-type", f"{coding.get('system', '')}|{coding.get('code', '')}"))
    if not any(name == "schedule" for name, _ in params):
        return []
    params.append(("_count", str(FOUND_MOST)))
    answer = core.handle(FhirRequest("operation", "Appointment", operation="$find", params=params))
    bundle = jsontext.loads(jsontext.dumps(answer.resource or {}))
    busy = _busy(core, current)
    found = []
    for entry in bundle.get("entry") or []:
        proposed = entry.get("resource") or {}
        start, end = moment(proposed.get("start")), moment(proposed.get("end"))
        if start is None or start - now < PATIENT_NOTICE:
            continue
        if end is not None and any(start < until and since < end for since, until in busy):
            continue  # the patient has another appointment then
        slot_ref = (proposed.get("slot") or [{}])[0].get("reference", "")
        found.append({"slot": slot_ref.partition("/")[2], "when": words.when(proposed.get("start"), language)})
    return found


def _busy(core: Acting, current: dict[str, Any]) -> list[tuple[datetime, datetime]]:
    """When the patient has their other active appointments (the record refuses a time overlapping one)."""
    patients = [
        str((p.get("actor") or {}).get("reference"))
        for p in current.get("participant") or []
        if str((p.get("actor") or {}).get("reference") or "").startswith("Patient/")
    ]
    if not patients:
        return []
    params = [("patient", patients[0]), ("status", "proposed,pending,booked,arrived,checked-in"), ("_count", "200")]
    answer = core.handle(FhirRequest("search", "Appointment", params=params))
    bundle = jsontext.loads(jsontext.dumps(answer.resource or {}))
    times = []
    for entry in bundle.get("entry") or []:
        other = entry.get("resource") or {}
        since, until = moment(other.get("start")), moment(other.get("end"))
        if other.get("id") != current.get("id") and since is not None and until is not None:
            times.append((since, until))
    return times


def _book(core: Acting, wanted: dict[str, Any]) -> dict[str, Any]:
    body = {"resourceType": "Parameters", "parameter": [{"name": "appointment-resource", "resource": wanted}]}
    answer = core.handle(FhirRequest("operation", "Appointment", operation="$book", body=body))
    return dict(jsontext.loads(jsontext.dumps(answer.resource or {}))["entry"][0]["resource"])


def _same_state(current: dict[str, Any], wanted: dict[str, Any]) -> bool:
    return current.get("status") == wanted.get("status") and current.get("slot") == wanted.get("slot")


def change(
    core: Acting, patient: str, appointment_id: str, version: str, wanted_of: Any, now: datetime, language: str
) -> dict[str, Any]:
    """Apply `wanted_of(current)` (the appointment as the patient wants it) through `$book`; the
    page again with the problem beside its field, or `done`."""
    current = _read(core, patient, appointment_id)
    wanted = wanted_of(current)
    if str((current.get("meta") or {}).get("versionId")) != version:
        if _same_state(current, wanted):
            return {"done": appointment_id}  # the same form sent twice: made once
        return {**choices(core, patient, appointment_id, now, language), "errors": {"form": CHANGED}}
    if not changeable(current, now):
        return {**choices(core, patient, appointment_id, now, language), "errors": {"form": TOO_LATE}}
    try:
        _book(core, wanted)
    except FhirError as error:
        if error.status not in (409, 412, 422):
            raise
        if _same_state(_read(core, patient, appointment_id), wanted):
            return {"done": appointment_id}  # the same form sent twice at once: the other one made it
        return {**choices(core, patient, appointment_id, now, language), "errors": {"slot": SLOT_GONE}}
    return {"done": appointment_id}


def cancel(
    core: Acting, patient: str, appointment_id: str, version: str, reason: str, text: str, now: datetime, language: str
) -> dict[str, Any]:
    """Cancel with a reason chosen from REASONS and the patient's optional words."""
    text = " ".join(text.split())
    errors = {}
    if reason not in REASONS:
        errors["reason"] = REASON_MISSING
    if len(text) > WORDS_MOST:
        errors["text"] = WORDS_LONG
    if errors:
        shown = choices(core, patient, appointment_id, now, language)
        return {**shown, "errors": errors, "values": {"reason": reason, "text": text}}
    said: dict[str, Any] = {"coding": [{"system": REASON_SYSTEM, "code": reason, "display": REASONS[reason]}]}
    if text:
        said["text"] = text

    def wanted(current: dict[str, Any]) -> dict[str, Any]:
        return {**current, "status": "cancelled", "cancelationReason": said}

    return change(core, patient, appointment_id, version, wanted, now, language)


def move(
    core: Acting, patient: str, appointment_id: str, version: str, slot: str, now: datetime, language: str
) -> dict[str, Any]:
    """Move to the free slot `slot` (an id from the change page's list)."""

    def wanted(current: dict[str, Any]) -> dict[str, Any]:
        return {**current, "slot": [{"reference": f"Slot/{slot}"}]}

    if not slot or "/" in slot:
        return {**choices(core, patient, appointment_id, now, language), "errors": {"slot": SLOT_GONE}}
    return change(core, patient, appointment_id, version, wanted, now, language)


def answer(
    core: Acting, patient: str, appointment_id: str, version: str, accept: bool, now: datetime, language: str
) -> dict[str, Any]:
    """Accept a new time offered after a cancellation (their participant `accepted`), or decline it
    (back on the rebooking list, `waitlist`, its time freed): each with its message, one transaction."""
    current = _read(core, patient, appointment_id)
    if not is_offer(current, patient):
        return {"done": appointment_id}  # answered already: a form sent twice acts once
    if str((current.get("meta") or {}).get("versionId")) != version:
        return {**choices(core, patient, appointment_id, now, language), "errors": {"form": CHANGED}}
    mine = f"Patient/{patient}"
    changed = {k: v for k, v in current.items() if k != "meta"}
    changed["participant"] = [
        {**p, "status": "accepted" if accept else "declined"} if (p.get("actor") or {}).get("reference") == mine else p
        for p in current.get("participant") or []
    ]
    entries = [_put(changed, version)]
    if accept:
        kind, text = "booked", message("booked", current)
    else:
        if not changeable(current, now):
            return {**choices(core, patient, appointment_id, now, language), "errors": {"form": TOO_LATE}}
        kind, text = "cancelled", declined_text(current)
        changed["status"] = "waitlist"
        changed["requestedPeriod"] = [{"start": fhir_instant(now)}]
        for element in ("slot", "start", "end", "minutesDuration"):
            changed.pop(element, None)
        for key in [str(s.get("reference") or "") for s in current.get("slot") or []]:
            answer = core.handle(FhirRequest("read", "Slot", key.partition("/")[2]))
            slot = jsontext.loads(answer.raw) if answer.raw else dict(answer.resource or {})
            if slot.get("status") == "busy":
                freed = {k: v for k, v in slot.items() if k != "meta"}
                entries.append(_put({**freed, "status": "free"}, str(answer.version_id or "")))
    told = notify.communication(mine, f"Appointment/{appointment_id}", kind, text, {"reference": mine})
    entries.append({"resource": told, "request": {"method": "POST", "url": "Communication"}})
    try:
        core.handle(
            FhirRequest("transaction", body={"resourceType": "Bundle", "type": "transaction", "entry": entries})
        )
    except FhirError as error:
        if error.status not in (409, 412):
            raise
        return {**choices(core, patient, appointment_id, now, language), "errors": {"form": CHANGED}}
    return {"done": appointment_id}


def declined_text(appointment: dict[str, Any]) -> str:
    """What the patient reads when they decline an offered time, in Danish like the other notices."""
    start = moment(appointment.get("start"))
    when = start.astimezone(COPENHAGEN).strftime("%-d.%-m.%Y kl. %H:%M") if start else ""
    return f"Du har takket nej til tiden {when}. Du står fortsat på ventelisten og får tilbudt en ny tid."


def _put(resource: dict[str, Any], version: str) -> dict[str, Any]:
    path = f"{resource['resourceType']}/{resource['id']}"
    return {"resource": resource, "request": {"method": "PUT", "url": path, "ifMatch": f'W/"{version}"'}}
