"""What the FHIR interactions call: the access rule of a request, and the checks and filters
built from it. Every check is the rule's own SQL (rule.py), so a read, a search, an include and
a write all judge a resource the same way."""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING, Any

import orjson

from lifeline.access import deciding
from lifeline.access.break_glass import granted_patients
from lifeline.access.care import care_profile, cared_for_sql
from lifeline.access.errors import Withheld
from lifeline.access.family import family_sql
from lifeline.access.held_results import Holding
from lifeline.access.rule import PATIENT, STAFF, SYSTEM, AccessRule
from lifeline.access.ties import CONTEXT, UNTIED, contains_patient_data, context_target, tie, tie_params
from lifeline.errors import FhirError, Forbidden, Issue, NotFound, Unprocessable
from lifeline.identity.scopes import ScopeSet
from lifeline.search.registry import SearchRegistry
from lifeline.storage.records import StoredVersion
from lifeline.storage.session import Session

if TYPE_CHECKING:
    from lifeline.fhir.request import FhirRequest
    from lifeline.fhir.service import FhirService

RESTRICTED = (STAFF, PATIENT)


def restricted(service: FhirService, request: FhirRequest) -> bool:
    """Whether the policy applies: a staff member or a patient."""
    principal = request.principal
    return principal is not None and principal.kind in RESTRICTED


def rule_for(service: FhirService, session: Session, request: FhirRequest) -> AccessRule | None:
    """The request's access rule; None when nothing is withheld (a system principal whose scopes
    read every type)."""
    principal = request.principal
    if principal is None:
        return None
    readable, launch_types = _scope_reach(principal.scopes, principal.contexts, service.registry)
    own = principal.patient_id or ""
    launch = principal.patient
    if principal.kind == PATIENT and (launch is None or launch == own):
        launch_types = frozenset()  # a patient's own login: their family's records, as the rule says
    reach: dict[str, Any] = {"readable": readable, "launch": launch, "launch_types": launch_types}
    if not restricted(service, request):
        if readable is None and not launch_types:
            return None
        # A system principal has no launch patient to keep to: its scopes limit types only.
        return AccessRule(SYSTEM, "", (), service.registry, readable=readable, user=principal.subject)
    now = service.clock()
    if principal.kind == PATIENT:
        parts, args = family_sql(own, now)
        holding = Holding.of(service.settings, now)  # results not yet released to patients
        return AccessRule(
            PATIENT, " UNION ".join(parts), tuple(args), service.registry, patient_id=own, holding=holding, **reach
        )
    parts, args = [], []
    if principal.practitioner is not None:
        profile = care_profile(session, principal.practitioner, id(service.repo))
        parts, args = cared_for_sql(profile, now, service.settings.care_window_days)
    granted = granted_patients(session, principal.subject, now)
    if granted:
        parts.append(
            f"SELECT g.res_id FROM resource g WHERE g.res_type = 'Patient' AND g.res_id IN ({_marks(granted)})"
        )
        args += granted
    if not parts:
        parts = ["SELECT g.res_id FROM resource g WHERE 1 = 0"]
    return AccessRule(STAFF, " UNION ".join(parts), tuple(args), service.registry, user=principal.subject, **reach)


@lru_cache(maxsize=1024)
def _scope_reach(
    scopes: ScopeSet, contexts: tuple[str, ...], registry: SearchRegistry
) -> tuple[frozenset[str] | None, frozenset[str]]:
    """The types a token's scopes let it read (None: every type), and those it reads only through
    `patient/` scopes (kept to the launch patient). Read means `r` or `s`: what an include, a
    history or `$everything` hands over is what a read would."""

    def reads(context: str, res_type: str) -> bool:
        return scopes.allows(context, res_type, "r") or scopes.allows(context, res_type, "s")

    types = sorted(registry.resource_types)
    readable = frozenset(t for t in types if any(reads(c, t) for c in contexts))
    wide = [c for c in contexts if c != "patient"]
    launch_types = frozenset(
        t
        for t in readable
        if "patient" in contexts
        and not any(reads(c, t) for c in wide)
        and (t == "Patient" or tie_params(registry, t) or tie(registry, t) == CONTEXT)
    )
    return (None if len(readable) == len(types) else readable), launch_types


def refusal(rule: AccessRule, res_type: str, res_id: str) -> FhirError:
    """A patient learns nothing (404); staff learn that data exists and how to reach it; an app
    learns that its scopes do not reach the type."""
    if rule.is_patient or (rule.launch_types and (res_type in rule.launch_types or res_type == "Patient")):
        return NotFound(f"{res_type}/{res_id} is not known")
    if rule.is_system or (rule.readable is not None and res_type not in rule.readable):
        return Forbidden(f"The access token's scopes do not allow reading {res_type}")
    if tie(rule.registry, res_type) == CONTEXT:
        return Withheld(
            f"{res_type}/{res_id} is shown to whoever may see the resource its securityContext names, and you"
            " may not see that one (without a securityContext, only registered integrations may read it). If it"
            " is a patient's and you need it to treat them, you may break the glass: POST"
            " Patient/{id}/$break-the-glass; the access is logged and reviewed."
        )
    if tie(rule.registry, res_type) == UNTIED:
        return Forbidden(
            f"{res_type} can hold any patient's data and names no patient Lifeline can judge it by:"
            " only registered integrations (system scopes) may read it"
        )
    whose = f"Patient/{res_id}" if res_type == "Patient" else "a patient"
    target = f"Patient/{res_id}" if res_type == "Patient" else "Patient/{id}"
    return Withheld(
        f"Data exists in the record of {whose}, but no care relationship gives you access to it."
        f" If you need it to treat the patient, you may break the glass: POST {target}/$break-the-glass"
        " with a Parameters resource holding `reason` (valueCoding, system"
        " http://terminology.hl7.org/CodeSystem/v3-ActReason, code ETREAT or BTG) and `text` (valueString,"
        " why, in your words); the access is logged and reviewed."
    )


def check_visible(service: FhirService, session: Session, request: FhirRequest, stored: StoredVersion) -> None:
    """Refuse to show `stored` (a read, vread, history or $everything target) outside the rule."""
    rule = rule_for(service, session, request)
    if rule is not None and not rule.visible(session, stored.res_type, stored.res_id):
        raise refusal(rule, stored.res_type, stored.res_id)


def suppressed_issue() -> Issue:
    return Issue(
        "information",
        "suppressed",
        "Some matching data was withheld: no care relationship gives you access to it."
        " Breaking the glass (POST Patient/{id}/$break-the-glass) is possible, and is logged and reviewed.",
    )


def check_write(
    service: FhirService,
    session: Session,
    request: FhirRequest,
    res_type: str,
    res_id: str | None,
    body: dict[str, Any] | None,
    current: StoredVersion | None,
) -> None:
    """Refuse a write that touches a record outside the rule: the version it replaces must be
    visible, and every patient the new version belongs to must be allowed. Patients write only
    in their own compartment, and nothing that decides access (access/deciding.py); staff may
    register a new Patient, and change what decides access only as entitled, each change a
    security event in the write's own transaction."""
    if body is not None:
        hidden = contains_patient_data(service.registry, body)
        if hidden:
            raise Unprocessable(
                f"A {res_type} holds no patient's data, so it cannot contain a {hidden[0]}: write that as a"
                " resource of its own, tied to its patient"
            )
    rule = rule_for(service, session, request)
    if rule is None or rule.is_system:
        return
    if tie(service.registry, res_type) == UNTIED:
        raise refusal(rule, res_type, res_id or "")
    exists = current is not None and not current.deleted
    if exists and not rule.visible(session, res_type, res_id or ""):
        raise refusal(rule, res_type, res_id or "")
    if tie(service.registry, res_type) == CONTEXT:
        _check_context(service, session, rule, res_type, body)
        return
    # The version the write replaces, parsed once: its patients are touched too.
    before: dict[str, Any] = orjson.loads(current.content) if exists and current and current.content else {}
    patients = compartment_patients(service, res_type, res_id, body) if body is not None else set()
    if before:
        patients |= compartment_patients(service, res_type, res_id, before)
    if rule.is_patient and res_type == "Slot":  # only as a change to their own booking frees or takes it (issue 25)
        deciding.check_patient_booking(service, session, res_type, res_id, body, before, rule.patient_id)
        return
    if rule.is_patient:
        deciding.check_patient(res_type, body, before, rule.patient_id)
        if res_type == "Appointment":  # the notice, the clinic and the kind of a move (issue 25)
            deciding.check_patient_booking(service, session, res_type, res_id, body, before, rule.patient_id)
        if patients and patients != {rule.patient_id}:
            other = sorted(patients - {rule.patient_id or ""})
            if other:
                raise NotFound(f"Patient/{other[0]} is not known")
        if not patients or (res_type == "Patient" and (not exists or body is None)):
            raise Forbidden("Patients may write only to their own record")
        return
    deciding.check_staff(service, request, res_type, body, before)
    if not (res_type == "Patient" and not exists):  # registering a new patient reveals nothing
        outside = sorted(patients - rule.allowed_patients(session, sorted(patients)))
        if res_type in rule.launch_types:  # written through patient/ scopes: the launch patient only
            outside = sorted({*outside, *(patients - {rule.launch or ""})})
        if outside:
            raise refusal(rule, "Patient", outside[0])
    kind = deciding.change_kind(res_type, body, before)
    if kind is not None:
        deciding.record_change(service, session, request, kind, res_type, res_id, patients)


def _check_context(
    service: FhirService, session: Session, rule: AccessRule, res_type: str, body: dict[str, Any] | None
) -> None:
    """A person writes a Binary only with a securityContext that names a current resource they may
    see (a patient: one of their own record): it decides who else will see the Binary."""
    if body is None:
        return  # a delete: the Binary it removes was visible
    target = context_target(body)
    if target is None:
        raise Forbidden(
            f"A {res_type} without a securityContext could hold anyone's data: only registered integrations"
            " may write one. Name the resource it belongs to (a DocumentReference, the Patient) in securityContext"
            " (with a raw upload: the X-Security-Context header)"
        )
    target_type, target_id = target
    if tie(service.registry, target_type) in (CONTEXT, UNTIED):
        raise Unprocessable(
            f"securityContext {target_type}/{target_id}: a {target_type} names no patient Lifeline can judge"
            f" the {res_type} by; name the DocumentReference or the Patient it belongs to"
        )
    current = session.read(target_type, target_id)
    if current is None or current.deleted or not current.content or not rule.visible(session, target_type, target_id):
        # The same answer whether it does not exist or the person may not see it.
        raise Unprocessable(f"securityContext {target_type}/{target_id} names no resource you may see")
    if rule.is_patient:
        if target_type == "Patient":
            patients = {target_id}
        else:
            patients = compartment_patients(service, target_type, target_id, orjson.loads(current.content))
        if patients != {rule.patient_id}:
            raise Forbidden("Patients may write only to their own record")


def compartment_patients(service: FhirService, res_type: str, res_id: str | None, body: dict[str, Any]) -> set[str]:
    """The Patients whose compartment a resource belongs to, from its own references."""
    from lifeline.search.extract import extract_index

    params = set(tie_params(service.registry, res_type))
    if res_type == "Patient":
        params.add("link")
    patients = {
        ref.target_id
        for ref in extract_index(body, service.registry).references
        if ref.param in params and ref.target_type == "Patient" and ref.target_id
    }
    if res_type == "Patient" and res_id:
        patients.add(res_id)
    return patients


def _marks(values: list[str]) -> str:
    return ", ".join("?" for _ in values)
