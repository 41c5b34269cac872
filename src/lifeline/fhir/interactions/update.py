"""update: PUT [base]/[type]/[id], update-as-create for a new client-chosen id, and conditional
update PUT [base]/[type]?criteria (https://hl7.org/fhir/R4/http.html#update, #cond-update)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lifeline.access.enforce import check_write
from lifeline.errors import BadRequest, Issue, PreconditionFailed
from lifeline.fhir import writes
from lifeline.fhir.ids import check_id
from lifeline.fhir.request import FhirRequest, FhirResponse
from lifeline.storage.records import StoredVersion
from lifeline.storage.write_session import WriteSession

if TYPE_CHECKING:
    from lifeline.fhir.service import FhirService


def handle(service: FhirService, request: FhirRequest) -> FhirResponse:
    writes.check_body(service, request)
    response, _ = service.repo.write(lambda session: execute(service, session, request))
    return response


def execute(service: FhirService, session: WriteSession, request: FhirRequest) -> FhirResponse:
    body = writes.check_body(service, request)
    res_type = request.resource_type or ""
    res_id = _target_id(service, session, request, body)
    current = session.read_for_update(res_type, res_id)
    check_write(service, session, request, res_type, res_id, body, current)
    writes.check_if_match(request, current)
    check_if_none_match(request, res_type, res_id, current)
    return write(service, session, request, res_type, res_id, body, current)


def check_if_none_match(request: FhirRequest, res_type: str, res_id: str, current: StoredVersion | None) -> None:
    """`If-None-Match: *` writes only a resource that does not exist yet, and `If-None-Match: W/"n"`
    only over another version: else 412 (RFC 9110 §13.1.2, https://hl7.org/fhir/R4/http.html#concurrency).
    A deleted resource does not exist."""
    if request.if_none_match is None or current is None or current.deleted:
        return
    tags = [tag.strip() for tag in request.if_none_match.split(",") if tag.strip()]
    if "*" in tags:
        message = f"If-None-Match: * but {res_type}/{res_id} exists (version {current.version_id})"
    elif any(tag.removeprefix("W/").strip('"') == str(current.version_id) for tag in tags):
        message = f'If-None-Match: W/"{current.version_id}" names the current version of {res_type}/{res_id}'
    else:
        return
    raise PreconditionFailed(message, [Issue("error", "conflict", message)])


def write(
    service: FhirService,
    session: WriteSession,
    request: FhirRequest,
    res_type: str,
    res_id: str,
    body: dict[str, Any],
    current: StoredVersion | None,
    method: str = "PUT",
) -> FhirResponse:
    instant = writes.now(service)
    resource, version = writes.store(
        service, session, res_type, res_id, body, previous=current, method=method, instant=instant
    )
    status = 200 if current is not None and not current.deleted else 201
    return writes.respond(request, status, res_type, res_id, resource, version, instant)


def _target_id(service: FhirService, session: WriteSession, request: FhirRequest, body: dict[str, Any]) -> str:
    body_id = body.get("id")
    if request.id is not None:
        check_id(request.id)
        if body_id is None:
            raise BadRequest("The resource in the body of an update must carry an id (it must equal the URL's id)")
        if body_id != request.id:
            raise BadRequest(f"The body's id {body_id!r} differs from the id in the URL {request.id!r}")
        return request.id
    res_type = request.resource_type or ""
    session.lock(f"update:{res_type}?{request.params}")
    matches = writes.find_matches(service, session, request, res_type, request.params)
    match = writes.single_match(matches, "Conditional update")
    if match is not None:
        if body_id is not None and body_id != match.res_id:
            raise BadRequest(f"The body's id {body_id!r} differs from the id of the matched resource {match.res_id!r}")
        return match.res_id
    if body_id is not None:
        check_id(body_id)
        return str(body_id)
    return service.new_id()
