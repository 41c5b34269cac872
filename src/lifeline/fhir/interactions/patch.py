"""patch: PATCH [base]/[type]/[id] with a JSON Patch document (https://hl7.org/fhir/R4/http.html#patch),
also conditional (PATCH [base]/[type]?criteria). The patched resource is validated like an update.

Beside JSON Patch (RFC 6902, application/json-patch+json), a JSON Merge Patch (RFC 7386,
application/merge-patch+json): an object merged into the resource, where `null` removes an element.
Both take the same write path as an update: one transaction, a new version, If-Match."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import jsonpatch

from lifeline import jsontext
from lifeline.access.enforce import check_write
from lifeline.errors import BadRequest, Gone, NotFound, Unprocessable
from lifeline.fhir import writes
from lifeline.fhir.interactions.update import check_if_none_match, write
from lifeline.fhir.request import FhirRequest, FhirResponse
from lifeline.storage.write_session import WriteSession

if TYPE_CHECKING:
    from lifeline.fhir.service import FhirService

JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
PATCH_FORMATS = (JSON_PATCH, MERGE_PATCH)  # the CapabilityStatement's patchFormat

Patch = Callable[[dict[str, Any]], Any]


def handle(service: FhirService, request: FhirRequest) -> FhirResponse:
    _patch_of(request)  # a malformed document is refused before the write transaction
    response, _ = service.repo.write(lambda session: execute(service, session, request))
    return response


def execute(service: FhirService, session: WriteSession, request: FhirRequest) -> FhirResponse:
    apply = _patch_of(request)
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
    check_if_none_match(request, res_type, res_id, current)
    patched = apply(jsontext.loads(current.content or "{}"))
    if not isinstance(patched, dict) or patched.get("resourceType") != res_type or patched.get("id") != res_id:
        raise Unprocessable("A patch must not change the resource's type or id")
    check_write(service, session, request, res_type, res_id, patched, current)
    request.warnings = service.validator.validate(patched, res_type)
    return write(service, session, request, res_type, res_id, patched, current, method="PATCH")


def _patch_of(request: FhirRequest) -> Patch:
    """The patch the body holds, by its media type; an object sent as plain JSON is refused with
    the type to use, for its meaning (merge or not) cannot be told."""
    body = request.body
    if request.body_format == MERGE_PATCH:
        if not isinstance(body, dict):
            raise BadRequest(f"A JSON Merge Patch ({MERGE_PATCH}) must be a JSON object")
        return lambda original: merge_patch(original, body)
    if isinstance(body, dict) and request.body_format != JSON_PATCH:
        raise BadRequest(
            f"This PATCH body is a JSON object sent as {request.body_format or 'JSON'}: send a JSON Merge Patch"
            f" as {MERGE_PATCH}, or a JSON Patch (a JSON array of operations) as {JSON_PATCH}"
        )
    operations = _patch_document(body)

    def apply(original: dict[str, Any]) -> Any:
        try:
            return operations.apply(original)
        except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException) as exc:
            raise Unprocessable(f"The JSON Patch cannot be applied: {exc}") from exc

    return apply


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 §2 MergePatch: objects merge member by member, `null` removes, anything else replaces."""
    if not isinstance(patch, dict):
        return patch
    merged = dict(target) if isinstance(target, dict) else {}
    for name, value in patch.items():
        if value is None:
            merged.pop(name, None)
        else:
            merged[name] = merge_patch(merged.get(name), value)
    return merged


def _patch_document(body: Any) -> jsonpatch.JsonPatch:
    if not isinstance(body, list) or not all(isinstance(op, dict) for op in body):
        raise BadRequest("A PATCH body must be a JSON Patch document: a JSON array of operations")
    try:
        return jsonpatch.JsonPatch(body)
    except (jsonpatch.InvalidJsonPatch, TypeError) as exc:
        raise BadRequest(f"Invalid JSON Patch: {exc}") from exc
