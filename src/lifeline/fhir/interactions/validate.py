"""$validate on a type: POST [base]/[type]/$validate (https://hl7.org/fhir/R4/resource-operation-validate.html).

The body is the resource itself or a Parameters with a `resource` parameter. The answer is an
OperationOutcome: 200 when the resource is valid (warnings listed), 400 with every error otherwise."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lifeline.errors import BadRequest, FhirError
from lifeline.fhir.request import FhirRequest, FhirResponse
from lifeline.outcome import operation_outcome

if TYPE_CHECKING:
    from lifeline.fhir.service import FhirService


def handle(service: FhirService, request: FhirRequest) -> FhirResponse:
    resource = _resource(request.body)
    try:
        warnings = service.validator.validate(resource, request.resource_type)
    except FhirError as error:
        return FhirResponse(error.status, resource=operation_outcome(error.issues))
    return FhirResponse(200, resource=operation_outcome(warnings))


def _resource(body: Any) -> dict[str, Any]:
    if isinstance(body, dict) and body.get("resourceType") == "Parameters":
        for parameter in body.get("parameter") or []:
            if isinstance(parameter, dict) and parameter.get("name") == "resource":
                if isinstance(parameter.get("resource"), dict):
                    return parameter["resource"]  # type: ignore[no-any-return]
        raise BadRequest("$validate: the Parameters carry no 'resource' parameter")
    if not isinstance(body, dict):
        raise BadRequest("$validate needs a resource (or Parameters with a 'resource') as the body")
    return body
