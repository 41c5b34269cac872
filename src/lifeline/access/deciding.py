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

from typing import TYPE_CHECKING, Any

import orjson

from lifeline import jsontext
from lifeline.errors import Forbidden

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


def daily_location_change(res_type: str, body: dict[str, Any] | None, before: dict[str, Any]) -> bool:
    """A change to an existing Location's operational status and nothing else."""
    return (
        res_type == "Location"
        and body is not None
        and bool(before)
        and all(
            _plain(before.get(n)) == _plain(body.get(n)) for n in set(before) | set(body) if n not in LOCATION_DAILY
        )
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
    if res_type in STRUCTURE or res_type in CARE or res_type in FAMILY:
        raise Forbidden(f"Patients cannot change {res_type} resources; ask the hospital")
    if res_type == "Communication":
        _check_message(body, before, own)
        return
    if res_type != "Patient" or body is None:
        return
    changed = sorted(
        name
        for name in set(before) | set(body)
        if name not in PATIENT_EDITABLE and _plain(before.get(name)) != _plain(body.get(name))
    )
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
    changed = sorted(
        name
        for name in set(before) | set(body)
        if name not in MESSAGE_MARKABLE and _plain(before.get(name)) != _plain(body.get(name))
    )
    others = [e for e in body.get("extension") or [] if (e or {}).get("url") != READ_MARK]
    if changed or _plain(others) != _plain(
        [e for e in before.get("extension") or [] if (e or {}).get("url") != READ_MARK]
    ):
        raise Forbidden("Of a message you may change only whether you have read it")


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
