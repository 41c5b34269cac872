"""Down to emergencies only (issue 24): a lead's "reduce to acute care" for a hospital or one of its
departments over a period, as a proposal they edit, undo and finally confirm.

The proposal is a FHIR Task (https://hl7.org/fhir/R4/task.html), `intent` proposal, because a Task
already says what the lead's decision goes through: `draft` while it is edited (nothing is acted
upon: https://hl7.org/fhir/R4/valueset-task-status.html), `in-progress` while its confirmation is
being written batch by batch, `completed` once every confirmed case is cancelled, `cancelled` when
the lead throws it away. It holds the rest in its own elements:

- `owner` the hospital or department (Organization), `requester` the lead, `restriction.period`
  the period, `reasonCode.text` the lead's reason, as the patients will read it;
- one `input` per case of the period: `valueReference` the Appointment, `type` the decision
  (CodeSystem DECISION): `acute` (kept, always), `cancel` (the proposal) or `keep` (the lead's);
- after confirmation one `output` per case done: `cancelled` the Appointment, `waitlist` its place
  on the rebooking list, or `unchanged` (no longer to happen when confirmed: left as it was).

A List with flags per entry was the other candidate; it has no status for "being confirmed", no
period and no owner, where a Task has all three. A RequestGroup `draft` would describe actions to
take, not decisions on existing appointments.

Every edit is a new version of the Task, numbered by the STEP extension, so the Task's own history
is the undo stack: undoing restores the newest version one step back (whichever path led there),
until the proposal is confirmed. Edits carry the version they were made on (If-Match): two leads
editing at once cannot overwrite each other unseen.

Confirming writes, per batch of BATCH cases, one transaction bundle (fhir/interactions/
transaction.py): each Appointment `cancelled` with the reason, its Slot `free`, a Communication to
the patient (fhir/patient_messages.py: `preparation`, nothing sent until a sender delivers it), its
place on the rebooking list (logistics/rebook.py: a new Appointment `waitlist`) and the Task with
those cases among its outputs. A confirmation cut off half-way is taken up where it stopped by
confirming again; a case already in the outputs is never cancelled twice, a confirmed Task changes
nothing more.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from lifeline import jsontext
from lifeline.clock import fhir_instant
from lifeline.errors import BadRequest, Conflict, NotFound
from lifeline.fhir.acting import Acting
from lifeline.fhir.patient_messages import communication
from lifeline.fhir.request import FhirRequest
from lifeline.logistics import cases as found_cases
from lifeline.logistics import rebook
from lifeline.logistics.cases import Case

TASK_CODES = "https://lifeline.example/fhir/CodeSystem/logistics-task"
DECISION = "https://lifeline.example/fhir/CodeSystem/reduce-decision"
STEP = "https://lifeline.example/fhir/StructureDefinition/proposal-step"
CANCEL_REASONS = "https://lifeline.example/fhir/CodeSystem/cancellation-reason"
# The generator's reason for appointments cancelled in a breakdown (generate/logistics.py _DOWNTIME).
DOWNTIME_REASON = "Aflyst på grund af IT-nedbrud"
REASON_MOST = 500
# Cases per transaction. Measured (bench/logistics_reduce.py, 1,500 cases; SQLite / PostgreSQL, ms a
# case): one transaction for all 2.3 / 4.3, batches of 250 2.6 / 5.3, of 50 6.2 / 8.7 (each batch
# rewrites the whole Task). 250 keeps most of the speed; a confirmation cut off loses one batch.
BATCH = 250
EDITABLE = "draft"


@dataclass
class Proposal:
    id: str
    version: str
    status: str
    organization: str
    start: str
    end: str
    reason: str
    step: int
    decisions: dict[str, str]  # Appointment/id -> acute | cancel | keep
    done: dict[str, str] = field(default_factory=dict)  # Appointment/id -> its waitlist Appointment, or ""
    cases: list[Case] = field(default_factory=list)  # as they are now, in the order of the lists

    @property
    def editable(self) -> bool:
        return self.status == EDITABLE

    def to_cancel(self) -> list[Case]:
        return [c for c in self.cases if self.decisions.get(c.appointment) == "cancel"]


@dataclass(frozen=True)
class Confirmed:
    operations: int  # cancelled now
    appointments: int
    already: bool  # confirmed before: nothing changed


def propose(core: Acting, organization: str, first: date, last: date, requester: str | None, now: datetime) -> str:
    """Store the proposal for `organization` over the Danish days `first` to `last`: cancel every
    non-acute case, keep the acute ones. Returns the Task's id; nothing else is written."""
    if not organization.startswith("Organization/"):
        raise BadRequest("Choose a hospital or a department.")
    start, end = found_cases.period_bounds(first, last)
    listed = found_cases.cases_in(core, organization, start, end)
    task: dict[str, Any] = {
        "resourceType": "Task",
        "extension": [{"url": STEP, "valueInteger": 0}],
        "status": EDITABLE,
        "intent": "proposal",
        "priority": "stat",
        "code": {"coding": [{"system": TASK_CODES, "code": "reduce-to-acute", "display": "Reduce to acute care"}]},
        "description": f"Reduce to acute care {first.isoformat()} to {last.isoformat()}",
        "authoredOn": fhir_instant(now),
        "lastModified": fhir_instant(now),
        "owner": {"reference": organization},
        "restriction": {"period": {"start": start.isoformat(), "end": end.isoformat()}},
        "reasonCode": {"text": DOWNTIME_REASON},
    }
    if listed:  # FHIR has no empty arrays
        task["input"] = [_decision(c.appointment, "acute" if c.level == "acute" else "cancel") for c in listed]
    if requester:
        task["requester"] = {"reference": requester}
    created = core.handle(FhirRequest("create", "Task", body=task))
    return str((created.resource or {})["id"])


def read(core: Acting, task_id: str, with_cases: bool = True) -> Proposal:
    """The proposal as stored, with its cases as they are now (acute first)."""
    task = _task(core, task_id)
    proposal = _proposal(task)
    if with_cases and proposal.decisions:
        current = found_cases.by_ids(core, "Appointment", proposal.decisions, ("_include", "Appointment:patient"))
        listed = [
            case
            for ref in proposal.decisions
            if ref in current and (case := found_cases.case_of(current[ref], current)) is not None
        ]
        proposal.cases = sorted(listed, key=found_cases.order_key)
    return proposal


def decide(core: Acting, task_id: str, version: str, kept: set[str], reason: str, now: datetime) -> None:
    """One step of the lead's editing: keep exactly the non-acute cases in `kept` (Appointment/id),
    cancel the others, with `reason` for the patients. Refused once confirmed."""
    reason = " ".join(reason.split())
    if len(reason) > REASON_MOST:
        raise BadRequest(f"The reason is longer than {REASON_MOST} characters.")
    task = _editable(core, task_id, version)
    for each in task.get("input") or []:
        ref = str((each.get("valueReference") or {}).get("reference") or "")
        if _code(each.get("type")) in ("cancel", "keep"):
            each["type"] = _decision(ref, "keep" if ref in kept else "cancel")["type"]
    task["reasonCode"] = {"text": reason or DOWNTIME_REASON}
    _step(task, _step_of(task) + 1, now)
    _update(core, task, version)


def undo(core: Acting, task_id: str, version: str, now: datetime) -> bool:
    """Go one step back: False when there is nothing to undo (the proposal as first made)."""
    task = _editable(core, task_id, version)
    step = _step_of(task)
    if step == 0:
        return False
    history = core.handle(FhirRequest("history", "Task", task_id, params=[("_count", "1000")]))
    bundle = jsontext.loads(jsontext.dumps(history.resource or {}))
    back = next(  # history is newest first: the newest version one step back
        (e["resource"] for e in bundle.get("entry") or []
         if e.get("resource") and _step_of(e["resource"]) == step - 1 and e["resource"].get("status") == EDITABLE),
        None,
    )  # fmt: skip
    if back is None:
        return False
    back = {k: v for k, v in back.items() if k != "meta"}
    _step(back, step - 1, now)
    _update(core, back, version)
    return True


def discard(core: Acting, task_id: str, version: str, now: datetime) -> None:
    """Throw the proposal away: nothing of it is done."""
    task = _editable(core, task_id, version)
    task["status"] = "cancelled"
    task["lastModified"] = fhir_instant(now)
    _update(core, task, version)


def confirm(core: Acting, task_id: str, version: str, now: datetime, batch: int = BATCH) -> Confirmed:
    """Cancel the cases the lead confirmed, batch by batch (see the module's docstring). Confirming
    a proposal already confirmed changes nothing."""
    proposal = read(core, task_id)
    if proposal.status == "completed":
        return Confirmed(0, 0, already=True)
    if proposal.status not in (EDITABLE, "in-progress"):
        raise Conflict("This proposal was thrown away: make a new one.")
    if proposal.status == EDITABLE and proposal.version != version:
        raise Conflict("The proposal was changed meanwhile: look at it again before confirming.")
    waiting = [c for c in proposal.to_cancel() if c.appointment not in proposal.done]
    patients = found_cases.by_ids(core, "Patient", {c.patient for c in waiting})
    slots = found_cases.by_ids(core, "Slot", {c.slot for c in waiting if c.slot})
    appointments = found_cases.by_ids(core, "Appointment", {c.appointment for c in waiting})
    operations = clinic = 0
    rounds = [waiting[at : at + batch] for at in range(0, len(waiting), batch)] or [[]]
    for number, part in enumerate(rounds):
        task = _task(core, task_id)
        entries: list[dict[str, Any]] = []
        outputs: list[dict[str, Any]] = []
        for case in part:
            appointment = appointments.get(case.appointment)
            if appointment is None or appointment.get("status") not in found_cases.ACTIVE:
                outputs.append(_output("unchanged", case.appointment))
                continue
            entries += _cancelled(case, appointment, slots, patients, proposal, now)
            outputs += [_output("cancelled", case.appointment), _output("waitlist", entries[-1]["fullUrl"])]
            operations += case.operation
            clinic += not case.operation
        if outputs:  # FHIR has no empty arrays
            task["output"] = [*(task.get("output") or []), *outputs]
        task["status"] = "completed" if number == len(rounds) - 1 else "in-progress"
        task["lastModified"] = fhir_instant(now)
        version = str(task.pop("meta")["versionId"])
        entries.append(_put(task, version))
        bundle = {"resourceType": "Bundle", "type": "transaction", "entry": entries}
        core.handle(FhirRequest("transaction", body=bundle))
    return Confirmed(operations, clinic, already=False)


# The writes.


def _cancelled(
    case: Case,
    appointment: dict[str, Any],
    slots: dict[str, Any],
    patients: dict[str, Any],
    proposal: Proposal,
    now: datetime,
) -> list[dict[str, Any]]:
    """The entries that cancel one case: the Appointment, its Slot freed, the patient's message and
    the case on the rebooking list (the last entry)."""
    entries = []
    cancelled = {k: v for k, v in appointment.items() if k != "meta"}
    cancelled["status"] = "cancelled"
    cancelled["cancelationReason"] = {
        "coding": [{"system": CANCEL_REASONS, "code": "reduced-to-acute", "display": "Reduced to acute care"}],
        "text": proposal.reason,
    }
    entries.append(_put(cancelled, case.version))
    slot = slots.get(case.slot or "")
    if slot is not None and slot.get("status") == "busy":
        freed = {k: v for k, v in slot.items() if k != "meta"}
        freed["status"] = "free"
        entries.append(_put(freed, str(slot["meta"]["versionId"])))
    sender = {"reference": proposal.organization}
    text = rebook.message("cancelled", patients.get(case.patient), case.start, case.what, proposal.reason)
    entries.append(_post(communication(case.patient, case.appointment, "cancelled", text, sender)))
    entries.append(_post(rebook.waitlisted(appointment, proposal.end)))
    return entries


def _put(resource: dict[str, Any], version: str) -> dict[str, Any]:
    path = f"{resource['resourceType']}/{resource['id']}"
    return {"resource": resource, "request": {"method": "PUT", "url": path, "ifMatch": f'W/"{version}"'}}


def _post(resource: dict[str, Any]) -> dict[str, Any]:
    full_url = f"urn:uuid:{uuid.uuid4()}"
    return {"fullUrl": full_url, "resource": resource, "request": {"method": "POST", "url": resource["resourceType"]}}


def _update(core: Acting, task: dict[str, Any], version: str) -> None:
    core.handle(FhirRequest("update", "Task", task["id"], body=task, if_match=f'W/"{version}"'))


# The Task.


def _task(core: Acting, task_id: str) -> dict[str, Any]:
    answer = core.handle(FhirRequest("read", "Task", task_id))
    task = jsontext.loads(answer.raw) if answer.raw else dict(answer.resource or {})
    if _code(task.get("code")) != "reduce-to-acute":
        raise NotFound(f"No proposal {task_id} is known here.")
    return task  # type: ignore[no-any-return]


def _editable(core: Acting, task_id: str, version: str) -> dict[str, Any]:
    task = _task(core, task_id)
    if task.get("status") != EDITABLE:
        raise Conflict("This proposal is confirmed or thrown away: it can no longer be changed.")
    if str(task["meta"]["versionId"]) != version:
        raise Conflict("The proposal was changed meanwhile: look at it again.")
    return {k: v for k, v in task.items() if k != "meta"}


def _proposal(task: dict[str, Any]) -> Proposal:
    period = (task.get("restriction") or {}).get("period") or {}
    decisions = {
        ref: _code(each.get("type")) or "cancel"
        for each in task.get("input") or []
        if (ref := (each.get("valueReference") or {}).get("reference"))
    }
    done: dict[str, str] = {}
    last = ""
    for each in task.get("output") or []:
        ref, kind = (each.get("valueReference") or {}).get("reference", ""), _code(each.get("type"))
        if kind in ("cancelled", "unchanged"):
            done[ref], last = "", ref
        elif kind == "waitlist" and last:
            done[last] = ref
    return Proposal(
        id=str(task["id"]),
        version=str((task.get("meta") or {}).get("versionId") or ""),
        status=str(task.get("status")),
        organization=str((task.get("owner") or {}).get("reference") or ""),
        start=str(period.get("start") or ""),
        end=str(period.get("end") or ""),
        reason=str((task.get("reasonCode") or {}).get("text") or DOWNTIME_REASON),
        step=_step_of(task),
        decisions=decisions,
        done=done,
    )


def _decision(ref: str, code: str) -> dict[str, Any]:
    return {"type": {"coding": [{"system": DECISION, "code": code}]}, "valueReference": {"reference": ref}}


def _output(code: str, ref: str) -> dict[str, Any]:
    return {"type": {"coding": [{"system": DECISION, "code": code}]}, "valueReference": {"reference": ref}}


def _code(concept: dict[str, Any] | None) -> str | None:
    return next((c.get("code") for c in (concept or {}).get("coding") or []), None)


def _step_of(task: dict[str, Any]) -> int:
    return next((int(e.get("valueInteger") or 0) for e in task.get("extension") or [] if e.get("url") == STEP), 0)


def _step(task: dict[str, Any], step: int, now: datetime) -> None:
    task["extension"] = [*(e for e in task.get("extension") or [] if e.get("url") != STEP),
                         {"url": STEP, "valueInteger": step}]  # fmt: skip
    task["lastModified"] = fhir_instant(now)
