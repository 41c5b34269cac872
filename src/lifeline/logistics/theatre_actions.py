"""What a theatre coordinator does with a case of the theatre plan (issue 24, logistics/theatres.py):
move it, mark it started or finished, mark the patient's pre-operative checklist done.

Each action is one transaction bundle through the core acting as the person, the Appointment under
If-Match of the version the coordinator saw, so a case changed meanwhile is refused rather than
overwritten, and nothing is half-written:

- move: the Appointment's start and end (its length kept), its theatre participant (and the theatre
  named in its description), and its busy Slot, which moves with it to the new theatre's Schedule
  and time. The record's rules (fhir/rules/theatres.py, rules/scheduling.py) refuse a move into a
  taken theatre, a practitioner in two theatres at once, a case outside the theatre day, a past day.
  The surgeon's order (ServiceRequest.occurrence) is left as the surgeon wrote it;
- started: Appointment arrived, and a Procedure in progress, based on the order
  (https://hl7.org/fhir/R4/procedure.html), at the theatre, by the case's practitioners;
- finished: Appointment fulfilled, the Procedure completed with its end, the order completed;
- checklist: the Task of the order's checklist completed (written if there was none).
"""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Any

from lifeline.clock import COPENHAGEN, fhir_instant
from lifeline.errors import BadRequest, NotFound
from lifeline.fhir.acting import Acting
from lifeline.fhir.found import searched
from lifeline.fhir.request import FhirRequest
from lifeline.fhir.rules.theatres import ACTIVE, instant
from lifeline.logistics.theatres import CHECKLIST, TASK_SYSTEM, Theatre, reference


def move(core: Acting, case_id: str, version: str, day: date, start: time, theatre: Theatre) -> None:
    """Move a case to `start` on `day` in `theatre`, keeping its length: the Appointment, its theatre
    participant and its busy Slot, in one transaction."""
    appointment = _read(core, "Appointment", case_id)
    if appointment.get("status") not in ("proposed", "pending", "booked"):
        raise BadRequest("Only a planned case can be moved: this one has started or is finished.")
    old_start, old_end = instant(appointment["start"]), instant(appointment["end"])
    new_start = datetime.combine(day, start, COPENHAGEN)
    new_end = new_start + (old_end - old_start)
    old_theatre = next(
        (p for p in appointment.get("participant") or [] if reference(p.get("actor")).startswith("Location/")), None
    )
    if old_theatre is None:
        raise BadRequest("This appointment is in no theatre.")
    old_name = (old_theatre.get("actor") or {}).get("display") or ""
    old_theatre["actor"] = {"reference": f"Location/{theatre.id}", "display": theatre.name}
    appointment["start"], appointment["end"] = fhir_instant(new_start), fhir_instant(new_end)
    appointment["minutesDuration"] = int((new_end - new_start).total_seconds() // 60)
    if old_name and str(appointment.get("description") or "").endswith(old_name):
        appointment["description"] = appointment["description"][: -len(old_name)] + theatre.name
    entries = [_put(appointment, version)]
    slot_ref = next((reference(s) for s in appointment.get("slot") or [] if reference(s).startswith("Slot/")), "")
    if slot_ref:
        slot = _read(core, "Slot", slot_ref.removeprefix("Slot/"))
        if not theatre.schedule:
            raise BadRequest(f"{theatre.name} has no schedule to book the case in.")
        slot.update(
            schedule={"reference": f"Schedule/{theatre.schedule}"},
            start=appointment["start"],
            end=appointment["end"],
            status="busy",
        )
        entries.append(_put(slot, str((slot.get("meta") or {}).get("versionId") or "")))
    _transaction(core, entries)


def mark_started(core: Acting, case_id: str, version: str, now: datetime) -> None:
    """The case has begun: Appointment arrived, and its Procedure in progress."""
    appointment = _read(core, "Appointment", case_id)
    if appointment.get("status") not in ("proposed", "pending", "booked", "arrived", "checked-in"):
        raise BadRequest("This case is finished or cancelled: it cannot be started.")
    appointment["status"] = "arrived"
    entries = [_put(appointment, version)]
    request = _request_of(core, appointment)
    if request is not None and _procedure(core, request["id"]) is None:
        entries.append(
            {
                "resource": _new_procedure(appointment, request, now),
                "request": {
                    "method": "POST",
                    "url": "Procedure",
                    "ifNoneExist": f"based-on=ServiceRequest/{request['id']}",
                },
            }
        )
    _transaction(core, entries)


def mark_finished(core: Acting, case_id: str, version: str, now: datetime) -> None:
    """The case is over: Appointment fulfilled, its Procedure and the order completed."""
    appointment = _read(core, "Appointment", case_id)
    if appointment.get("status") not in ACTIVE:
        raise BadRequest("This case is already finished or cancelled.")
    appointment["status"] = "fulfilled"
    entries = [_put(appointment, version)]
    request = _request_of(core, appointment)
    if request is not None:
        procedure = _procedure(core, request["id"]) or _new_procedure(appointment, request, now)
        procedure["status"] = "completed"
        procedure["performedPeriod"] = {**(procedure.get("performedPeriod") or {}), "end": fhir_instant(now)}
        entries.append(
            _put(procedure, str((procedure.get("meta") or {}).get("versionId") or ""))
            if procedure.get("id")
            else {"resource": procedure, "request": {"method": "POST", "url": "Procedure"}}
        )
        if request.get("status") == "active":
            request["status"] = "completed"
            entries.append(_put(request, str((request.get("meta") or {}).get("versionId") or "")))
    _transaction(core, entries)


def mark_checklist_done(core: Acting, case_id: str, now: datetime) -> None:
    """The patient's pre-operative checklist is done: its Task completed (written if there was none)."""
    appointment = _read(core, "Appointment", case_id)
    request = _request_of(core, appointment)
    if request is None:
        raise BadRequest("This case has no surgeon's order to hold its checklist.")
    tasks = searched(
        core, "Task", [("focus", f"ServiceRequest/{request['id']}"), ("code", f"{TASK_SYSTEM}|{CHECKLIST['code']}")]
    ).matches
    blank: dict[str, Any] = {
        "resourceType": "Task",
        "status": "requested",
        "intent": "order",
        "code": {"coding": [CHECKLIST], "text": CHECKLIST["display"]},
        "focus": {"reference": f"ServiceRequest/{request['id']}"},
        "for": request.get("subject"),
        "authoredOn": fhir_instant(now),
    }
    task = tasks[0] if tasks else blank
    if task.get("status") == "completed":
        return
    task.update(status="completed", lastModified=fhir_instant(now), executionPeriod={"end": fhir_instant(now)})
    if task.get("id"):
        _transaction(core, [_put(task, str((task.get("meta") or {}).get("versionId") or ""))])
    else:
        _transaction(core, [{"resource": task, "request": {"method": "POST", "url": "Task"}}])


# --- small parts ---------------------------------------------------------------------------------


def _read(core: Acting, res_type: str, res_id: str) -> dict[str, Any]:
    found = searched(core, res_type, [("_id", res_id)]).matches
    if not found:
        raise NotFound(f"No {res_type} {res_id} that you may see.")
    return found[0]


def _request_of(core: Acting, appointment: dict[str, Any]) -> dict[str, Any] | None:
    ref = next(
        (reference(b) for b in appointment.get("basedOn") or [] if reference(b).startswith("ServiceRequest/")), ""
    )
    found = searched(core, "ServiceRequest", [("_id", ref.removeprefix("ServiceRequest/"))]).matches if ref else []
    return found[0] if found else None


def _procedure(core: Acting, request_id: str) -> dict[str, Any] | None:
    found = searched(core, "Procedure", [("based-on", f"ServiceRequest/{request_id}")]).matches
    return found[0] if found else None


def _new_procedure(appointment: dict[str, Any], request: dict[str, Any], now: datetime) -> dict[str, Any]:
    people = [
        p["actor"] for p in appointment.get("participant") or [] if reference(p.get("actor")).startswith("Practitioner")
    ]
    theatre = next(
        (p["actor"] for p in appointment.get("participant") or [] if reference(p.get("actor")).startswith("Location/")),
        None,
    )
    procedure: dict[str, Any] = {
        "resourceType": "Procedure",
        "status": "in-progress",
        "basedOn": [{"reference": f"ServiceRequest/{request['id']}"}],
        "code": request.get("code") or {"text": appointment.get("description") or "Operation"},
        "subject": request.get("subject"),
        "performedPeriod": {"start": fhir_instant(now)},
        "performer": [{"actor": actor} for actor in people],
    }
    if theatre is not None:
        procedure["location"] = theatre
    return procedure


def _put(resource: dict[str, Any], version: str) -> dict[str, Any]:
    request = {"method": "PUT", "url": f"{resource['resourceType']}/{resource['id']}"}
    if version:
        request["ifMatch"] = f'W/"{version}"'
    return {"resource": resource, "request": request}


def _transaction(core: Acting, entries: list[dict[str, Any]]) -> None:
    core.handle(FhirRequest("transaction", body={"resourceType": "Bundle", "type": "transaction", "entry": entries}))
