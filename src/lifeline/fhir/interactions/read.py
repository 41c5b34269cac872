"""read: GET [base]/[type]/[id] (https://hl7.org/fhir/R4/http.html#read)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lifeline.errors import Gone, NotFound
from lifeline.fhir.request import FhirRequest, FhirResponse
from lifeline.storage.records import StoredVersion
from lifeline.storage.session import Session

if TYPE_CHECKING:
    from lifeline.fhir.service import FhirService


def handle(service: FhirService, request: FhirRequest) -> FhirResponse:
    with service.repo.reading() as session:
        return execute(service, session, request)


async def handle_async(service: FhirService, request: FhirRequest) -> FhirResponse:
    """The same read, for an event loop: the API's most frequent request takes no thread hop."""
    stored = await service.repo.read_async(request.resource_type or "", request.id or "")
    return _answer(request, stored)


def execute(service: FhirService, session: Session, request: FhirRequest) -> FhirResponse:
    stored = session.read(request.resource_type or "", request.id or "")
    if stored is None:
        unknown(service, session, request)
    if stored is not None and stored.deleted:
        unknown_unless_seen(service, session, request)
    return guarded(service, session, request, _answer(request, stored))


def unknown(service: FhirService, session: Session, request: FhirRequest) -> None:
    """An absent resource (or version) is judged like a hidden one, by the same queries, so that
    neither the answer nor the time it takes tells a patient whether a record they may not see
    exists; a resource that exists outside the rule is refused as usual."""
    from lifeline.access.enforce import refusal, rule_for

    rule = rule_for(service, session, request)
    res_type, res_id = request.resource_type or "", request.id or ""
    if rule is None:
        return
    exists, visible = rule.judge(session, res_type, res_id)
    if exists and not visible:
        raise refusal(rule, res_type, res_id)
    if not exists:
        raise NotFound(f"{res_type}/{res_id} is not known")


def unknown_unless_seen(service: FhirService, session: Session, request: FhirRequest) -> None:
    """A deletion is news only to whoever could have seen the resource: to anyone else the
    resource is unknown (404), not gone (410). A deleted resource is judged by its last version."""
    from lifeline.access.enforce import rule_for

    rule = rule_for(service, session, request)
    res_type, res_id = request.resource_type or "", request.id or ""
    if rule is not None and not rule.visible(session, res_type, res_id):
        raise NotFound(f"{res_type}/{res_id} is not known")


def guarded(service: FhirService, session: Session, request: FhirRequest, response: FhirResponse) -> FhirResponse:
    """The access policy (lifeline/access) on a version about to be shown: refused outside the
    rule, and a protected patient's address withheld."""
    from lifeline.access.enforce import refusal, rule_for
    from lifeline.access.redact import redacted

    rule = rule_for(service, session, request)
    if rule is None:
        return response
    res_type, res_id = request.resource_type or "", request.id or ""
    if not rule.visible(session, res_type, res_id):
        raise refusal(rule, res_type, res_id)
    shown = redacted(rule, res_type, response.raw)
    if shown is not None:
        response.raw, response.resource = None, shown
    return response


def _answer(request: FhirRequest, stored: StoredVersion | None) -> FhirResponse:
    res_type, res_id = request.resource_type, request.id
    if stored is None:
        raise NotFound(f"{res_type}/{res_id} is not known")
    if stored.deleted:
        raise Gone(f"{res_type}/{res_id} was deleted (version {stored.version_id})")
    return FhirResponse(200, raw=stored.content, version_id=stored.version_id, last_updated=stored.last_updated)
