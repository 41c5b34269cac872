"""create: POST [base]/[type], with conditional create by If-None-Exist
(https://hl7.org/fhir/R4/http.html#create, #ccreate). The server assigns a UUID id."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lifeline.access.enforce import check_visible, check_write
from lifeline.errors import BadRequest
from lifeline.fhir import writes
from lifeline.fhir.request import FhirRequest, FhirResponse
from lifeline.storage.write_session import WriteSession

if TYPE_CHECKING:
    from lifeline.fhir.service import FhirService


def handle(service: FhirService, request: FhirRequest) -> FhirResponse:
    writes.check_body(service, request)
    response, _ = service.repo.write(lambda session: execute(service, session, request))
    return response


async def handle_async(service: FhirService, request: FhirRequest) -> FhirResponse:
    """A plain create from an event loop: it reads nothing, so it is sent in one query without
    a worker thread (FhirService.has_async_form decides when)."""
    writes.check_body(service, request)
    response, _ = await service.repo.write_async(lambda session: execute(service, session, request))
    return response


def execute(
    service: FhirService, session: WriteSession, request: FhirRequest, res_id: str | None = None
) -> FhirResponse:
    check_no_criteria(request)
    body = writes.check_body(service, request)
    res_type = request.resource_type or ""
    if request.if_none_exist:
        session.lock(f"create:{res_type}?{request.if_none_exist}")
        existing = writes.single_match(
            writes.find_matches(service, session, request, res_type, request.if_none_exist), "If-None-Exist"
        )
        if existing is not None:
            check_visible(service, session, request, existing)
            # Nothing is created: answer with the resource that already exists (200).
            response = FhirResponse(
                200,
                raw=existing.content,
                version_id=existing.version_id,
                last_updated=existing.last_updated,
                location=f"{request.base}/{res_type}/{existing.res_id}/_history/{existing.version_id}",
            )
            if request.prefer_return == "minimal":
                response.raw = None
            return response
    res_id = res_id or service.new_id()
    check_write(service, session, request, res_type, res_id, body, None)
    instant = writes.now(service)
    resource, version = writes.store(
        service, session, res_type, res_id, body, previous=None, method="POST", instant=instant
    )
    return writes.respond(request, 201, res_type, res_id, resource, version, instant)


# The parameters every interaction takes (https://hl7.org/fhir/R4/http.html#parameters).
GENERAL_PARAMETERS = frozenset({"_format", "_pretty", "_summary", "_elements"})


def check_no_criteria(request: FhirRequest) -> None:
    """A create's URL carries no search: R4 sends the criteria of a conditional create in the
    If-None-Exist header (https://hl7.org/fhir/R4/http.html#ccreate). Ignoring criteria in the
    query string (as some clients send them) would create the duplicate they were meant to prevent."""
    criteria = sorted({name for name, _ in request.params if name not in GENERAL_PARAMETERS})
    if criteria:
        raise BadRequest(
            f"A create takes no search parameters in its URL ({', '.join(criteria)}): to create only when"
            " nothing matches, send the criteria in the If-None-Exist header (request.ifNoneExist in a Bundle)"
        )
