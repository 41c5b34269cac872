"""Patient/{id}/$break-the-glass: a staff member takes access to a patient's record that no care
relationship gives, for `break_glass_hours`, stating why (lifeline/access/break_glass.py).

The body is a Parameters resource: `reason` (valueCoding from
http://terminology.hl7.org/CodeSystem/v3-ActReason, ETREAT or BTG) and `text` (valueString, why,
in the user's words; required). The answer is an OperationOutcome saying until when, with the
patient's reference as its Location. Every grant waits for the privacy officers' review
(`access.break_glass.grants_for_review`).

`Patient/$break-the-glass` with an `identifier` parameter (valueIdentifier: the CPR number's
system and value) does the same for the one patient with that identifier: a search outside care
says only that such a patient exists (`suppressed`), never which record, so a clinician who
found a patient by CPR number breaks the glass by that number.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lifeline.access import break_glass
from lifeline.errors import BadRequest, Conflict, Forbidden, Gone, Issue, MethodNotAllowed, NotFound
from lifeline.fhir.request import FhirRequest, FhirResponse
from lifeline.outcome import operation_outcome

if TYPE_CHECKING:
    from lifeline.fhir.service import FhirService


def handle(service: FhirService, request: FhirRequest) -> FhirResponse:
    if request.resource_type != "Patient":
        raise MethodNotAllowed(
            "$break-the-glass is offered on one patient: POST Patient/{id}/$break-the-glass,"
            " or POST Patient/$break-the-glass with the patient's identifier"
        )
    principal = request.principal
    if principal is None or principal.kind != "staff":
        raise Forbidden("Only staff may break the glass")
    # Breaking the glass writes a grant on the patient's record: an app that may only read
    # cannot take one for its user, nor can an app launched for one patient (issue 19.11).
    if not principal.scopes.allows("user", "Patient", "u"):
        raise Forbidden(
            "Breaking the glass needs an app allowed to act for you on patients' records"
            f" (scope user/Patient.u); this access token has {principal.scopes}"
        )
    if not _has_clinical_role(service, principal.practitioner):
        raise Forbidden("Only staff with an active clinical role (a PractitionerRole) may break the glass")
    reason, text, identifier = _parameters(request.body)
    if request.id is not None:
        patient = request.id
        stored = service.repo.read("Patient", patient)
        if stored is None:
            raise NotFound(f"Patient/{patient} is not known")
        if stored.deleted:
            raise Gone(f"Patient/{patient} was deleted")
    elif identifier is not None:
        patient = _identified(service, *identifier)
    else:
        raise BadRequest("Patient/$break-the-glass needs the patient's identifier (a valueIdentifier)")
    granted = break_glass.grant(
        service.repo,
        user=principal.subject,
        practitioner=principal.practitioner,
        patient=patient,
        reason=reason,
        text=text,
        now=service.clock(),
        hours=service.settings.break_glass_hours,
    )
    message = (
        f"Access to the record of Patient/{patient} is granted until {granted.expires_at}"
        f" ({reason}). The access is logged and will be reviewed."
    )
    outcome = operation_outcome([Issue("information", "informational", message)])
    return FhirResponse(200, resource=outcome, location=f"Patient/{patient}")


def _identified(service: FhirService, system: str, value: str) -> str:
    """The one live Patient with this identifier (the whole region's: the rule is what is broken)."""
    from lifeline.fhir.request import FhirRequest as Asking
    from lifeline.identity.principal import OPERATOR

    asking = Asking(
        "search", "Patient", params=[("identifier", f"{system}|{value}"), ("_elements", "id"), ("_count", "2")]
    )
    asking.principal = OPERATOR  # inside the core, past the rule: the grant is the audited act
    found = [
        key
        for entry in (service.handle(asking).resource or {}).get("entry", [])
        if (key := _patient_key(entry)) is not None
    ]
    if not found:
        raise NotFound(f"No patient has the identifier {system}|{value}")
    if len(found) > 1:
        raise Conflict(f"More than one patient has the identifier {system}|{value}; break the glass by record instead")
    return found[0]


def _patient_key(entry: Any) -> str | None:
    url = entry.get("fullUrl") if isinstance(entry, dict) else None
    if isinstance(url, str) and "/Patient/" in url:
        return url.rsplit("/", 1)[-1]
    return None


def _has_clinical_role(service: FhirService, practitioner: str | None) -> bool:
    from lifeline.access.care import care_profile

    if practitioner is None:
        return False
    with service.repo.reading() as session:
        return bool(care_profile(session, practitioner, id(service.repo)).roles)


def _parameters(body: Any) -> tuple[str, str, tuple[str, str] | None]:
    if not isinstance(body, dict) or body.get("resourceType") != "Parameters":
        raise BadRequest("$break-the-glass takes a Parameters resource with a reason and a text")
    reason: str | None = None
    text = ""
    identifier: tuple[str, str] | None = None
    for parameter in body.get("parameter") or []:
        if not isinstance(parameter, dict):
            continue
        if parameter.get("name") == "reason":
            coding = parameter.get("valueCoding") or {}
            if coding.get("system") == break_glass.REASON_SYSTEM and coding.get("code") in break_glass.REASONS:
                reason = coding["code"]
            else:
                raise BadRequest(
                    f"reason must be a Coding from {break_glass.REASON_SYSTEM}: one of {', '.join(break_glass.REASONS)}"
                )
        elif parameter.get("name") == "text" and isinstance(parameter.get("valueString"), str):
            text = parameter["valueString"].strip()
        elif parameter.get("name") == "identifier":
            given = parameter.get("valueIdentifier") or {}
            system, value = given.get("system"), given.get("value")
            if not isinstance(system, str) or not isinstance(value, str) or not system or not value:
                raise BadRequest("identifier must be a valueIdentifier with a system and a value")
            identifier = (system, value)
    if reason is None:
        raise BadRequest("$break-the-glass needs a reason (ETREAT or BTG)")
    if not text:
        raise BadRequest("$break-the-glass needs a text saying why")
    return reason, text, identifier
