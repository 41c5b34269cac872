"""vread: GET [base]/[type]/[id]/_history/[vid] (https://hl7.org/fhir/R4/http.html#vread)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lifeline.errors import Gone, NotFound
from lifeline.fhir.interactions.read import guarded, unknown, unknown_unless_seen
from lifeline.fhir.request import FhirRequest, FhirResponse
from lifeline.storage.session import Session

if TYPE_CHECKING:
    from lifeline.fhir.service import FhirService


def handle(service: FhirService, request: FhirRequest) -> FhirResponse:
    with service.repo.reading() as session:
        return execute(service, session, request)


def execute(service: FhirService, session: Session, request: FhirRequest) -> FhirResponse:
    res_type, res_id, vid = request.resource_type or "", request.id or "", request.version_id or ""
    if not vid.isdecimal():
        raise NotFound(f"{res_type}/{res_id} has no version {vid!r}")
    stored = session.vread(res_type, res_id, int(vid))
    if stored is None:
        # A resource they may not see is unknown to them, not merely without this version.
        unknown(service, session, request)
        raise NotFound(f"{res_type}/{res_id} has no version {vid}")
    if stored.deleted:
        unknown_unless_seen(service, session, request)
        raise Gone(f"Version {vid} of {res_type}/{res_id} is its deletion")
    response = FhirResponse(200, raw=stored.content, version_id=stored.version_id, last_updated=stored.last_updated)
    return guarded(service, session, request, response)
