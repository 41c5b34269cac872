"""delete: DELETE [base]/[type]/[id] and conditional delete DELETE [base]/[type]?criteria
(https://hl7.org/fhir/R4/http.html#delete). A delete is a version too; deleting what is already
gone or never existed answers 204 as the spec allows, and writes nothing."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lifeline.access.enforce import check_write
from lifeline.fhir import writes
from lifeline.fhir.ids import check_id
from lifeline.fhir.request import FhirRequest, FhirResponse
from lifeline.storage.write_session import WriteSession

if TYPE_CHECKING:
    from lifeline.fhir.service import FhirService


def handle(service: FhirService, request: FhirRequest) -> FhirResponse:
    response, _ = service.repo.write(lambda session: execute(service, session, request))
    return response


def execute(service: FhirService, session: WriteSession, request: FhirRequest) -> FhirResponse:
    res_type = request.resource_type or ""
    if request.id is None:
        match = writes.single_match(
            writes.find_matches(service, session, request, res_type, request.params), "Conditional delete"
        )
        if match is None:
            return FhirResponse(204)
        res_id = match.res_id
    else:
        res_id = check_id(request.id)
    current = session.read_for_update(res_type, res_id)
    check_write(service, session, request, res_type, res_id, None, current)
    writes.check_if_match(request, current)
    if current is None or current.deleted:
        return FhirResponse(204)
    instant = writes.now(service)
    _, version = writes.store(
        service, session, res_type, res_id, None, previous=current, method="DELETE", instant=instant
    )
    return FhirResponse(204, version_id=version, last_updated=instant)
