"""read: GET [base]/[type]/[id] (https://hl7.org/fhir/R4/http.html#read)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lifeline.fhir.errors import Gone, NotFound
from lifeline.fhir.request import FhirRequest, FhirResponse
from lifeline.storage.session import Session

if TYPE_CHECKING:
    from lifeline.fhir.service import FhirService


def handle(service: FhirService, request: FhirRequest) -> FhirResponse:
    with service.repo.reading() as session:
        return execute(service, session, request)


def execute(service: FhirService, session: Session, request: FhirRequest) -> FhirResponse:
    res_type, res_id = request.resource_type or "", request.id or ""
    stored = session.read(res_type, res_id)
    if stored is None:
        raise NotFound(f"{res_type}/{res_id} is not known")
    if stored.deleted:
        raise Gone(f"{res_type}/{res_id} was deleted (version {stored.version_id})")
    return FhirResponse(200, raw=stored.content, version_id=stored.version_id, last_updated=stored.last_updated)
