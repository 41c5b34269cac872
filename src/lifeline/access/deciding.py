"""Writes to what decides access (issue 19.2, 19.3): who may make them, and the security event
each one leaves on the privacy officers' review list.

The access rule reads its answers from the record itself, so whoever writes these resources
decides who sees what:

- **structure** — PractitionerRole (a clinician's departments and wards), Location (which ward is
  whose, which bed is in which ward) and Organization (the hierarchy of departments): written by
  administrators and registered integrations only. A clinician who could write them would give
  themself any department's patients.
- **care** — Encounter, EpisodeOfCare and Appointment tie one patient to a department, a ward, a
  role or a person: the daily work of a hospital. Staff write them for patients they may already
  see (the ordinary write check); each write by a staff member is recorded as a security event
  naming the patient, so that an access which follows a care relationship the same person made
  lands on the review list (access/review.py, kind `self-made-care`).
- **membership, family and identity** — CareTeam (it names the people who may see the patient),
  RelatedPerson (a parent's access to a child), Consent, and a Patient's `identifier` (the CPR
  number the citizen login matches) and `link`: staff who may see the patient write them, each
  write a security event on the review list (kind `access-change`).
  Patients write none of them: of their own Patient they change only their phone numbers and
  e-mail addresses (`telecom`).
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import orjson

from lifeline import jsontext
from lifeline.errors import Forbidden, Issue, Unprocessable

if TYPE_CHECKING:
    from lifeline.fhir.request import FhirRequest
    from lifeline.fhir.service import FhirService
    from lifeline.storage.session import Session

STRUCTURE = frozenset({"PractitionerRole", "Location", "Organization"})
CARE = frozenset({"Encounter", "EpisodeOfCare", "Appointment"})
FAMILY = frozenset({"CareTeam", "RelatedPerson", "Consent"})
PATIENT_IDENTITY = ("identifier", "link")
ADMINISTRATOR = "administrator"
# What of their own Patient a patient may change; `meta` and `text` are the server's and the
# narrative's, and `id` is checked by the update itself.
PATIENT_EDITABLE = frozenset({"telecom", "meta", "text", "id"})
# Of a message, a patient marks only that they have read it (fhir/message_threads.py READ_EXTENSION).
MESSAGE_MARKABLE = frozenset({"extension", "meta", "text", "id"})
READ_MARK = "https://lifeline.example/fhir/StructureDefinition/communication-read"

ACCESS_CHANGE = "access-change"
CARE_RELATIONSHIP = "care-relationship"


# What of a Location staff change in the ward's daily work: a bed's state (occupied, being cleaned,
# closed; issue 24). It decides nobody's access, so it needs no administrator and leaves no event.
LOCATION_DAILY = frozenset({"operationalStatus", "meta", "text"})
SLOT_TURNABLE = frozenset({"status", "meta", "text", "id"})  # a patient's move frees or takes a slot


def daily_location_change(res_type: str, body: dict[str, Any] | None, before: dict[str, Any]) -> bool:
    """A change to an existing Location's operational status and nothing else."""
    return (
        res_type == "Location"
        and body is not None
        and bool(before)
        and not _changed_outside(before, body, LOCATION_DAILY)
    )


def check_staff(
    service: FhirService,
    request: FhirRequest,
    res_type: str,
    body: dict[str, Any] | None = None,
    before: dict[str, Any] | None = None,
) -> None:
    """Refuse a staff member's write to the structure unless they are an administrator (a bed's
    operational status excepted: `daily_location_change`)."""
    if daily_location_change(res_type, body, before or {}):
        return
    if res_type in STRUCTURE and not is_administrator(service, request):
        raise Forbidden(
            f"{res_type} decides which patients each member of staff may see: only an administrator"
            " (or a registered integration) may change it"
        )


def check_patient(res_type: str, body: dict[str, Any] | None, before: dict[str, Any], own: str | None) -> None:
    """Refuse a patient's write to anything that decides access; of their Patient, telecom only;
    of messages, only their own and the read mark on those to them. `before` is the version the
    write replaces ({} for none); `own` the logged-in patient's id."""
    if res_type == "Appointment":
        _check_appointment(body, before, own)
        return
    if res_type in STRUCTURE or res_type in CARE or res_type in FAMILY:
        raise Forbidden(f"Patients cannot change {res_type} resources; ask the hospital")
    if res_type == "Communication":
        _check_message(body, before, own)
        return
    if res_type != "Patient" or body is None:
        return
    changed = _changed_outside(before, body, PATIENT_EDITABLE)
    if changed:
        raise Forbidden(
            "Of your own record you may change only your phone numbers and e-mail addresses (telecom),"
            f" not {', '.join(changed)}"
        )


def _check_message(body: dict[str, Any] | None, before: dict[str, Any], own: str | None) -> None:
    """A patient writes a message as themself, and of a message to them changes only whether they
    have read it (fhir/message_threads.py): never a department's words or its name as sender."""
    if body is None:
        raise Forbidden("Patients cannot delete messages")
    if not before:
        sender = (body.get("sender") or {}).get("reference")
        if sender != f"Patient/{own}":
            raise Forbidden("A message you write is sent by you: its sender must be your own Patient")
        return
    changed = _changed_outside(before, body, MESSAGE_MARKABLE)
    others = [e for e in body.get("extension") or [] if (e or {}).get("url") != READ_MARK]
    if changed or _plain(others) != _plain(
        [e for e in before.get("extension") or [] if (e or {}).get("url") != READ_MARK]
    ):
        raise Forbidden("Of a message you may change only whether you have read it")


# Of their own booked Appointment a patient changes only these (issue 25): cancel it with a reason,
# move it to another slot, or answer for themself (participant.status). `_check_appointment` says how.
APPOINTMENT_CANCEL = frozenset({"status", "cancelationReason", "participant", "meta", "text", "id"})
APPOINTMENT_MOVE = frozenset({"slot", "start", "end", "minutesDuration", "participant", "meta", "text", "id"})
PATIENT_ANSWERS = frozenset({"accepted", "declined"})
# A patient changes an appointment themself until this long before it starts (issue 25); later, the
# department's phone: the clinic has planned for them, and a time freed so late is seldom filled.
PATIENT_NOTICE = timedelta(hours=24)
# On a clinic's Location, valueBoolean false: its patients do not move their appointments themselves
# (a clinic whose times need a clinician's triage first); they cancel, or call.
SELF_SERVICE = "https://lifeline.example/fhir/StructureDefinition/patient-self-service"
# Declining a new time offered after a cancellation puts the appointment back on the rebooking list.
OFFER_DECLINE = APPOINTMENT_MOVE | {"status", "requestedPeriod"}


def _check_appointment(body: dict[str, Any] | None, before: dict[str, Any], own: str | None) -> None:
    """A patient never creates or deletes an Appointment; of a booked one of their own they may
    only cancel it (status cancelled with a reason), move it (slot, start, end), answer it (their
    own participant's status), or decline a new time offered after a cancellation (back to
    waitlist): never its participants, never a proposed, pending or past one.
    The scheduling operation adds what needs the clock and the Slots (fhir/interactions/scheduling.py)."""
    if body is None or not before:
        raise Forbidden("Patients cannot book or delete appointments; cancel or move your own booked appointment")
    mine = f"Patient/{own}"
    if before.get("status") != "booked" or not _names(before, mine):
        raise Forbidden("You may change only a booked appointment of your own")
    if _plain(_actors(before)) != _plain(_actors(body)):
        raise Forbidden("You cannot change who takes part in an appointment")
    others = [p for p in _parts(body) if _actor(p) != mine]
    if _plain(others) != _plain([p for p in _parts(before) if _actor(p) != mine]):
        raise Forbidden("You may answer an appointment only for yourself")
    answer = next((p.get("status") for p in _parts(body) if _actor(p) == mine), None)
    earlier = next((p.get("status") for p in _parts(before) if _actor(p) == mine), None)
    if answer != earlier and answer not in PATIENT_ANSWERS:
        raise Forbidden("You may accept or decline an appointment, nothing else")
    status = body.get("status")
    allowed = APPOINTMENT_CANCEL if status == "cancelled" else APPOINTMENT_MOVE if status == "booked" else None
    if (
        status == "waitlist"
        and earlier == "needs-action"
        and answer == "declined"
        and before.get("supportingInformation")
    ):
        allowed = OFFER_DECLINE  # a new time offered after a cancellation (logistics/rebook.py), declined
    if allowed is None:
        raise Forbidden("You may cancel a booked appointment or move it, nothing else")
    changed = _changed_outside(before, body, allowed)
    if changed:
        raise Forbidden(f"Of an appointment you may not change {', '.join(changed)}")


def check_patient_booking(
    service: FhirService,
    session: Session,
    res_type: str,
    res_id: str | None,
    body: dict[str, Any] | None,
    before: dict[str, Any],
    own: str | None,
) -> None:
    """What a patient's change to their own booking must keep, whatever the path of the write
    (the scheduling operation, a plain update, a Bundle), read in the write's transaction without
    any access filter: an Appointment changed (not merely answered) at least PATIENT_NOTICE before
    it starts, moved only to a free slot of the same schedule and visit type, and only where the
    clinic lets patients move; a Slot only as such a change frees or takes it (`_check_slot`)."""
    if res_type == "Slot":
        _check_slot(service, session, res_id, body, before, own)
        return
    if body is None or not before or res_type != "Appointment":
        return  # check_patient refuses these
    moved = _slots(body) != _slots(before) or body.get("start") != before.get("start")
    if body.get("status") == before.get("status") and not moved:
        return  # their answer to it (accepted, declined): it changes nothing for the clinic
    start = _moment(before.get("start"))
    if start is None or start - service.clock() < PATIENT_NOTICE:
        hours = int(PATIENT_NOTICE.total_seconds() // 3600)
        raise _rule(f"An appointment can be changed here until {hours} hours before it starts; call the department",
                    "Appointment.start")  # fmt: skip
    if body.get("status") != "booked" or not moved:
        return
    clinics = [_actor(p) for p in _parts(before) if _actor(p).startswith("Location/")]
    if not all(self_service(c) for c in _current(service, session, "Location", clinics)):
        raise _rule(
            "This clinic does not let patients move their appointments themselves: call the department",
            "Appointment.slot",
        )
    alike = {_slot_kind(s) for s in _current(service, session, "Slot", _slots(before))}
    wanted = _current(service, session, "Slot", _slots(body))
    if len(wanted) != len(_slots(body)) or not wanted:
        raise _rule("Choose a free time of the same clinic and kind of visit", "Appointment.slot")
    for slot in wanted:
        if slot.get("status") != "free" or _slot_kind(slot) not in alike:
            raise _rule(f"Slot/{slot.get('id')} is not a free time of the same clinic and kind of visit",
                        "Appointment.slot")  # fmt: skip


def self_service(clinic: dict[str, Any]) -> bool:
    """Whether a clinic (its Location) lets patients move their own appointments (yes, unless it says no)."""
    return not any(
        (e or {}).get("url") == SELF_SERVICE and (e or {}).get("valueBoolean") is False
        for e in clinic.get("extension") or []
    )


def _check_slot(
    service: FhirService,
    session: Session,
    slot_id: str | None,
    body: dict[str, Any] | None,
    before: dict[str, Any],
    own: str | None,
) -> None:
    """A patient touches a Slot only as the scheduling operation moves or cancels their own
    appointment: only its status, free to busy when their own active appointment (written before
    it in the same transaction) holds it, busy to free when no active appointment holds it."""
    if body is None or not before:
        raise Forbidden("Patients cannot create or delete slots")
    changed = _changed_outside(before, body, SLOT_TURNABLE)
    turn = (before.get("status"), body.get("status"))
    if changed or turn not in (("free", "busy"), ("busy", "free")):
        raise Forbidden("Of a slot you may change only whether it is free, by moving or cancelling your appointment")
    holders = _active_holders(service, session, f"Slot/{slot_id}")
    if turn == ("free", "busy") and not any(_names(a, f"Patient/{own}") for a in holders):
        raise Forbidden("A slot becomes busy only when your own appointment takes it")
    if turn == ("busy", "free") and holders:
        raise Forbidden("A slot an appointment holds cannot be freed")
    if turn == ("busy", "free") and not _let_go(service, session, f"Slot/{slot_id}", before, own):
        raise Forbidden("A slot becomes free only when your own appointment lets it go")


ACTIVE = ("proposed", "pending", "booked", "arrived", "checked-in")


def _let_go(service: FhirService, session: Session, slot: str, before: dict[str, Any], own: str | None) -> bool:
    """Whether the patient's own appointment let `slot` go at its latest change, made no earlier
    than the slot's own latest change: a slot staff blocked by hand, or took back since, stays busy."""
    since = str((before.get("meta") or {}).get("lastUpdated") or "")
    params = [("patient", f"Patient/{own}")] + ([("_lastUpdated", f"ge{since}")] if since else [])
    for appointment in _search(service, session, "Appointment", params, 50):
        version = int((appointment.get("meta") or {}).get("versionId") or 0)
        previous = session.vread("Appointment", str(appointment.get("id")), version - 1) if version > 1 else None
        if previous is None or not previous.content or previous.deleted:
            continue
        held = jsontext.loads(previous.content)
        was_holding = held.get("status") in ACTIVE and slot in _slots(held)
        holds = appointment.get("status") in ACTIVE and slot in _slots(appointment)
        if was_holding and not holds:
            return True
    return False


def _rule(text: str, element: str) -> Unprocessable:
    """A business rule of the scheduling (as fhir/rules: 422 `business-rule`, the element named)."""
    return Unprocessable(text, [Issue("error", "business-rule", text, [element])])


def _slots(resource: dict[str, Any]) -> list[str]:
    return sorted({str((s or {}).get("reference") or "") for s in resource.get("slot") or []} - {""})


def _slot_kind(slot: dict[str, Any]) -> str:
    """A slot's schedule and visit type: a patient moves only between slots alike in both."""
    return str(_plain([(slot.get("schedule") or {}).get("reference"), slot.get("serviceType")]))


def _moment(value: Any) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(value) if isinstance(value, str) and "T" in value else None
    except ValueError:
        return None
    return parsed if parsed is not None and parsed.tzinfo is not None else None


def _current(service: FhirService, session: Session, res_type: str, keys: list[str]) -> list[dict[str, Any]]:
    """The current resources `keys` (Type/id) name, read in the write's transaction without any access filter."""
    ids = [k.partition("/")[2] for k in keys if k.startswith(f"{res_type}/") and k.partition("/")[2]]
    return _search(service, session, res_type, [("_id", ",".join(ids))], len(ids)) if ids else []


def _active_holders(service: FhirService, session: Session, slot: str) -> list[dict[str, Any]]:
    """The active appointments holding `slot`."""
    params = [("slot", slot), ("status", ",".join(ACTIVE))]
    return _search(service, session, "Appointment", params, 5)


def _search(
    service: FhirService, session: Session, res_type: str, params: list[tuple[str, str]], limit: int
) -> list[dict[str, Any]]:
    from lifeline.search.query import compile_match, parse_query

    clauses, _ = parse_query(res_type, params, service.registry)
    found = session.search(res_type, compile_match(res_type, clauses, service.registry), after_key=None, limit=limit)
    return [orjson.loads(v.content) for v in found if v.content and not v.deleted]


def _parts(appointment: dict[str, Any]) -> list[dict[str, Any]]:
    return [p for p in appointment.get("participant") or [] if isinstance(p, dict)]


def _actor(participant: dict[str, Any]) -> str:
    return str((participant.get("actor") or {}).get("reference") or "")


def _actors(appointment: dict[str, Any]) -> list[Any]:
    return [{k: v for k, v in p.items() if k != "status"} for p in _parts(appointment)]


def _names(appointment: dict[str, Any], patient: str) -> bool:
    return any(_actor(p) == patient for p in _parts(appointment))


def _changed_outside(before: dict[str, Any], body: dict[str, Any], allowed: Collection[str]) -> list[str]:
    """The elements, in order, that differ between `before` and `body` but for those `allowed`
    (each compared as its JSON text with the keys sorted)."""
    return sorted(
        n for n in set(before) | set(body) if n not in allowed and _plain(before.get(n)) != _plain(body.get(n))
    )


def change_kind(res_type: str, body: dict[str, Any] | None, before: dict[str, Any]) -> str | None:
    """The security event a staff member's write leaves: access-change, care-relationship or none."""
    if daily_location_change(res_type, body, before):
        return None
    if res_type in STRUCTURE or res_type in FAMILY:
        return ACCESS_CHANGE
    if res_type in CARE:
        return CARE_RELATIONSHIP
    if res_type == "Patient":
        after = body or {}
        if any(_plain(before.get(name)) != _plain(after.get(name)) for name in PATIENT_IDENTITY):
            return ACCESS_CHANGE
    return None


def is_administrator(service: FhirService, request: FhirRequest) -> bool:
    from lifeline.identity import records

    principal = request.principal
    if principal is None:
        return False
    user = records.get_user(service.repo, principal.subject)
    return user is not None and user.active and ADMINISTRATOR in user.extra_roles


def record_change(
    service: FhirService,
    session: Session,
    request: FhirRequest,
    kind: str,
    res_type: str,
    res_id: str | None,
    patients: set[str],
) -> None:
    """Append the security event of an access-deciding write in the write's own transaction, so
    it commits with the change or not at all."""
    from lifeline.audit.events import security_event
    from lifeline.audit.store import append_in
    from lifeline.storage.write_session import WriteSession

    if not isinstance(session, WriteSession):
        return
    principal = request.principal
    what = f"{res_type}/{res_id}" if res_id else f"a new {res_type}"
    verb = "deleted" if request.interaction == "delete" else "wrote"
    named: list[str | None] = [*sorted(patients)] or [None]
    events = [
        security_event(
            kind,
            node_id=service.settings.node_id,
            user=principal.subject if principal else None,
            fhir_user=principal.fhir_user if principal else None,
            client_id=principal.client_id if principal else None,
            patient=patient,
            text=f"{verb} {what}",
            recorded=service.clock(),
        )
        for patient in named
    ]
    append_in(session, service.settings.node_id, events)


def _plain(value: Any) -> Any:
    return jsontext.dumps(value, option=orjson.OPT_SORT_KEYS) if value is not None else None
