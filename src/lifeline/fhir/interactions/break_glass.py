"""Patient/{id}/$break-the-glass: a staff member takes access to a patient's record that no care
relationship gives, for `break_glass_hours`, stating why (lifeline/access/break_glass.py).

The body is a Parameters resource: `reason` (valueCoding from
http://terminology.hl7.org/CodeSystem/v3-ActReason, ETREAT or BTG) and `text` (valueString, why,
in the user's words; required). The answer is an OperationOutcome saying until when. Every grant
waits for the privacy officers' review (`access.break_glass.grants_for_review`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lifeline.access import break_glass
from lifeline.errors import BadRequest, Forbidden, Gone, Issue, MethodNotAllowed, NotFound
from lifeline.fhir.request import FhirRequest, FhirResponse
from lifeline.outcome import operation_outcome

if TYPE_CHECKING:
    from lifeline.fhir.service import FhirService


def handle(service: FhirService, request: FhirRequest) -> FhirResponse:
    if request.resource_type != "Patient" or request.id is None:
        raise MethodNotAllowed("$break-the-glass is offered on one patient: POST Patient/{id}/$break-the-glass")
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
    reason, text = _parameters(request.body)
    stored = service.repo.read("Patient", request.id)
    if stored is None:
        raise NotFound(f"Patient/{request.id} is not known")
    if stored.deleted:
        raise Gone(f"Patient/{request.id} was deleted")
    granted = break_glass.grant(
        service.repo,
        user=principal.subject,
        practitioner=principal.practitioner,
        patient=request.id,
        reason=reason,
        text=text,
        now=service.clock(),
        hours=service.settings.break_glass_hours,
    )
    message = (
        f"Access to the record of Patient/{request.id} is granted until {granted.expires_at}"
        f" ({reason}). The access is logged and will be reviewed."
    )
    outcome = operation_outcome([Issue("information", "informational", message)])
    return FhirResponse(200, resource=outcome)


def _has_clinical_role(service: FhirService, practitioner: str | None) -> bool:
    from lifeline.access.care import care_profile

    if practitioner is None:
        return False
    with service.repo.reading() as session:
        return bool(care_profile(session, practitioner, id(service.repo)).roles)


def _parameters(body: Any) -> tuple[str, str]:
    if not isinstance(body, dict) or body.get("resourceType") != "Parameters":
        raise BadRequest("$break-the-glass takes a Parameters resource with a reason and a text")
    reason: str | None = None
    text = ""
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
    if reason is None:
        raise BadRequest("$break-the-glass needs a reason (ETREAT or BTG)")
    if not text:
        raise BadRequest("$break-the-glass needs a text saying why")
    return reason, text
