"""patch: PATCH [base]/[type]/[id] with a JSON Patch document (https://hl7.org/fhir/R4/http.html#patch),
also conditional (PATCH [base]/[type]?criteria). The patched resource is validated like an update."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import jsonpatch
import orjson

from lifeline.access.enforce import check_write
from lifeline.errors import BadRequest, Gone, NotFound, Unprocessable
from lifeline.fhir import writes
from lifeline.fhir.interactions.update import write
from lifeline.fhir.request import FhirRequest, FhirResponse
from lifeline.storage.write_session import WriteSession

if TYPE_CHECKING:
    from lifeline.fhir.service import FhirService


def handle(service: FhirService, request: FhirRequest) -> FhirResponse:
    _patch_document(request.body)
    response, _ = service.repo.write(lambda session: execute(service, session, request))
    return response


def execute(service: FhirService, session: WriteSession, request: FhirRequest) -> FhirResponse:
    operations = _patch_document(request.body)
    res_type = request.resource_type or ""
    if request.id is None:
        match = writes.single_match(
            writes.find_matches(service, session, request, res_type, request.params), "Conditional patch"
        )
        if match is None:
            raise NotFound(f"Conditional patch: no {res_type} matches the criteria")
        res_id = match.res_id
    else:
        res_id = request.id
    current = session.read_for_update(res_type, res_id)
    if current is None:
        raise NotFound(f"{res_type}/{res_id} is not known")
    if current.deleted:
        raise Gone(f"{res_type}/{res_id} was deleted")
    writes.check_if_match(request, current)
    original = orjson.loads(current.content or "{}")
    try:
        patched = operations.apply(original)
    except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException) as exc:
        raise Unprocessable(f"The JSON Patch cannot be applied: {exc}") from exc
    if not isinstance(patched, dict) or patched.get("resourceType") != res_type or patched.get("id") != res_id:
        raise Unprocessable("A patch must not change the resource's type or id")
    check_write(service, session, request, res_type, res_id, patched, current)
    request.warnings = service.validator.validate(patched, res_type)
    return write(service, session, request, res_type, res_id, patched, current, method="PATCH")


def _patch_document(body: Any) -> jsonpatch.JsonPatch:
    if not isinstance(body, list) or not all(isinstance(op, dict) for op in body):
        raise BadRequest("A PATCH body must be a JSON Patch document: a JSON array of operations")
    try:
        return jsonpatch.JsonPatch(body)
    except (jsonpatch.InvalidJsonPatch, TypeError) as exc:
        raise BadRequest(f"Invalid JSON Patch: {exc}") from exc
