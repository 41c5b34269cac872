"""Name and address protection: a Patient labelled restricted (meta.security v3-Confidentiality R)
is shown without its address and telecom to everyone but system principals and the patient
themself, and the answer says so with meta.security REDACTED (v3-ObservationValue), so a client
never mistakes the gap for an unknown address."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson

from lifeline.access.rule import AccessRule
from lifeline.search.query.withheld import Withholding

if TYPE_CHECKING:
    from lifeline.fhir.request import FhirRequest
    from lifeline.fhir.service import FhirService

CONFIDENTIALITY = "http://terminology.hl7.org/CodeSystem/v3-Confidentiality"
OBSERVATION_VALUE = "http://terminology.hl7.org/CodeSystem/v3-ObservationValue"
REDACTED = {"system": OBSERVATION_VALUE, "code": "REDACTED", "display": "redacted"}
WITHHELD = ("address", "telecom")


def redacted(rule: AccessRule | None, res_type: str, content: str | None) -> dict[str, Any] | None:
    """The resource to show instead of `content`, or None when it is shown as stored."""
    if rule is None or rule.is_system or res_type != "Patient" or content is None:
        return None
    if CONFIDENTIALITY not in content or '"R"' not in content:  # most patients: no parse
        return None
    resource: dict[str, Any] = orjson.loads(content)
    labels = (resource.get("meta") or {}).get("security") or []
    if not any(s.get("system") == CONFIDENTIALITY and s.get("code") == "R" for s in labels):
        return None
    if rule.is_patient and resource.get("id") == rule.patient_id:
        return None
    for name in WITHHELD:
        resource.pop(name, None)
    for contact in resource.get("contact") or []:
        for name in WITHHELD:
            contact.pop(name, None)
    resource["meta"] = {**resource["meta"], "security": [*labels, REDACTED]}
    return resource


def withholding_for(service: FhirService, request: FhirRequest) -> Withholding | None:
    """What a staff member or a patient may not see of protected patients, which their searches,
    sorts and conditional writes must not see either; None for system principals."""
    from lifeline.access.enforce import restricted

    if not restricted(service, request) or request.principal is None:
        return None
    return Withholding("Patient", WITHHELD, CONFIDENTIALITY, "R", request.principal.patient_id)
