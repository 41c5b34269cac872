"""What the FHIR interactions call: the access rule of a request, and the checks and filters
built from it. Every check is the rule's own SQL (rule.py), so a read, a search, an include and
a write all judge a resource the same way."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lifeline.access.break_glass import granted_patients
from lifeline.access.care import care_profile, cared_for_sql
from lifeline.access.errors import Withheld
from lifeline.access.family import family_sql
from lifeline.access.rule import AccessRule
from lifeline.fhir.errors import FhirError, Forbidden, Issue, NotFound
from lifeline.storage.records import StoredVersion
from lifeline.storage.session import Session

if TYPE_CHECKING:
    from lifeline.fhir.request import FhirRequest
    from lifeline.fhir.service import FhirService

RESTRICTED = ("staff", "patient")


def restricted(service: FhirService, request: FhirRequest) -> bool:
    """Whether the policy applies: a staff member or a patient, with authorisation on."""
    principal = request.principal
    return service.settings.auth == "required" and principal is not None and principal.kind in RESTRICTED


def rule_for(service: FhirService, session: Session, request: FhirRequest) -> AccessRule | None:
    """The request's access rule; None when it is not restricted (system principals)."""
    principal = request.principal
    if principal is None or not restricted(service, request):
        return None
    now = service.clock()
    if principal.kind == "patient":
        own = principal.patient_id or ""
        parts, args = family_sql(own, now)
        return AccessRule("patient", " UNION ".join(parts), tuple(args), service.registry, patient_id=own)
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
    return AccessRule("staff", " UNION ".join(parts), tuple(args), service.registry, user=principal.subject)


def refusal(rule: AccessRule, res_type: str, res_id: str) -> FhirError:
    """A patient learns nothing (404); staff learn that data exists and how to reach it."""
    if rule.is_patient:
        return NotFound(f"{res_type}/{res_id} is not known")
    whose = f"Patient/{res_id}" if res_type == "Patient" else "a patient"
    how = f"POST Patient/{res_id}/$break-the-glass" if res_type == "Patient" else "POST Patient/{id}/$break-the-glass"
    return Withheld(
        f"Data exists in the record of {whose}, but no care relationship gives you access to it."
        f" If you need it to treat the patient, you may break the glass ({how} with a reason);"
        " the access is logged and reviewed."
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
    in their own compartment; staff may register a new Patient."""
    rule = rule_for(service, session, request)
    if rule is None:
        return
    exists = current is not None and not current.deleted
    if exists and not rule.visible(session, res_type, res_id or ""):
        raise refusal(rule, res_type, res_id or "")
    if body is None:
        return
    patients = compartment_patients(service, res_type, res_id, body)
    if rule.is_patient:
        if patients and patients != {rule.patient_id}:
            other = sorted(patients - {rule.patient_id})[0]
            raise NotFound(f"Patient/{other} is not known")
        if not patients or (res_type == "Patient" and not exists):
            raise Forbidden("Patients may write only to their own record")
        return
    if res_type == "Patient" and not exists:
        return  # registering a new patient reveals nothing
    outside = sorted(patients - rule.allowed_patients(session, sorted(patients)))
    if outside:
        raise refusal(rule, "Patient", outside[0])


def compartment_patients(service: FhirService, res_type: str, res_id: str | None, body: dict[str, Any]) -> set[str]:
    """The Patients whose compartment a resource belongs to, from its own references."""
    from lifeline.search.extract import extract_index

    params = set(service.registry.compartment_params(res_type))
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
