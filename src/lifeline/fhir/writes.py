"""What every write shares: checking the body, stamping id and meta, storing a version with its
index rows, matching conditional criteria, and shaping the answer per `Prefer: return`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from lifeline import jsontext
from lifeline.clock import fhir_instant
from lifeline.errors import BadRequest, Issue, MultipleMatches, PreconditionFailed
from lifeline.fhir import rules
from lifeline.fhir.request import FhirRequest, FhirResponse
from lifeline.outcome import operation_outcome
from lifeline.storage.records import StoredVersion
from lifeline.storage.session import Session
from lifeline.storage.write_session import WriteSession, next_version

if TYPE_CHECKING:
    from lifeline.fhir.service import FhirService


def check_body(service: FhirService, request: FhirRequest) -> dict[str, Any]:
    """The body must be a valid resource of the URL's type; keeps the validator's warnings."""
    body = request.body
    if not isinstance(body, dict):
        raise BadRequest("The request body must be a JSON object holding a FHIR resource")
    body_type = body.get("resourceType")
    if body_type != request.resource_type:
        raise BadRequest(
            f"The body is a {body_type or 'JSON object without resourceType'}, but the URL names"
            f" {request.resource_type}"
        )
    if request.warnings is None:
        request.warnings = service.validator.validate(body, request.resource_type)
    return body


def now(service: FhirService) -> str:
    return fhir_instant(service.clock())


def store(
    service: FhirService,
    session: WriteSession,
    res_type: str,
    res_id: str,
    resource: dict[str, Any] | None,
    *,
    previous: StoredVersion | None,
    method: str,
    instant: str,
    node_id: str | None = None,
) -> tuple[dict[str, Any] | None, int]:
    """Write the next version (a delete when `resource` is None); returns the stamped resource.
    `node_id` names the node the change was made at when that is not this one (a site's change
    replayed at the centre)."""
    from lifeline.search.extract import extract_index

    version = next_version(previous)  # stamped into meta.versionId before the version is put
    content = None
    index = None
    if resource is not None and node_id is None and rules.applies(res_type):
        # The record's logistics rules (fhir/rules): a double booking is refused before it is put.
        rules.check(rules.Written(service, session, res_type, res_id, resource, previous, instant))
    if resource is not None:
        resource = stamp(resource, res_id, version, instant)
        content = jsontext.dumps(resource).decode()
        index = extract_index(resource, service.registry)
    elif previous is not None and previous.content and session.audit is not None:
        # A delete leaves no index rows: its audit record names whom the deleted version was about.
        session.note_references((res_type, res_id), extract_index(jsontext.loads(previous.content), service.registry))
    pending = session.put_version(
        res_type,
        res_id,
        previous,
        instant,
        content,
        deleted=resource is None,
        method=method,
        node_id=node_id,
        index=index,
    )
    return resource, pending.version_id


def stamp(resource: dict[str, Any], res_id: str, version: int, instant: str) -> dict[str, Any]:
    """The resource as stored: its id, and meta.versionId and meta.lastUpdated set by the server."""
    meta = {**(resource.get("meta") or {}), "versionId": str(version), "lastUpdated": instant}
    return {**resource, "id": res_id, "meta": meta}


def respond(
    request: FhirRequest,
    status: int,
    res_type: str,
    res_id: str,
    resource: dict[str, Any] | None,
    version: int,
    instant: str,
) -> FhirResponse:
    """Shape a write's answer: Location, ETag and Last-Modified, and the body `Prefer` asks for."""
    response = FhirResponse(
        status=status,
        version_id=version,
        last_updated=instant,
        location=f"{request.base}/{res_type}/{res_id}/_history/{version}",
        issues=list(request.warnings or []),
    )
    if request.prefer_return == "OperationOutcome":
        response.resource = operation_outcome(response.issues)
    elif request.prefer_return != "minimal":
        response.resource = resource
    return response


def expected_version(if_match: str | None) -> int | None:
    """The version an `If-Match: W/"n"` header names (https://hl7.org/fhir/R4/http.html#concurrency)."""
    if if_match is None:
        return None
    text = if_match.strip()
    if text.startswith("W/"):
        text = text[2:]
    text = text.strip('"')
    if not text.isdecimal():
        raise BadRequest(f'If-Match must be an ETag like W/"3", not {if_match!r}')
    return int(text)


def check_if_match(request: FhirRequest, current: StoredVersion | None) -> None:
    wanted = expected_version(request.if_match)
    if wanted is None:
        return
    have = current.version_id if current and not current.deleted else None
    if have != wanted:
        raise PreconditionFailed(
            f"Version conflict: If-Match asks for version {wanted} but the current version is {have or 'none'}",
            [Issue("error", "conflict", f'If-Match W/"{wanted}" does not match the current version')],
        )


def find_matches(
    service: FhirService,
    session: Session,
    request: FhirRequest,
    res_type: str,
    criteria: list[tuple[str, str]] | str,
    limit: int = 2,
) -> list[StoredVersion]:
    """Resources matching conditional criteria (If-None-Exist, conditional update/delete/reference),
    among those `request`'s principal may see: a record the access rule withholds never matches,
    so the answer is the same whether it exists or not (issue 19.4).

    Unknown parameters are an error here, whatever the handling preference: ignoring one would
    widen the match and write to the wrong resource."""
    from lifeline.access.enforce import rule_for
    from lifeline.access.redact import withholding_for
    from lifeline.search.query import compile_match, parse_query

    params = parse_qsl(criteria, keep_blank_values=True) if isinstance(criteria, str) else criteria
    if not params:
        raise BadRequest("Conditional criteria are empty")
    clauses, unknown = parse_query(res_type, params, service.registry)
    if unknown:
        raise BadRequest(f"Unknown search parameter(s) in conditional criteria for {res_type}: {', '.join(unknown)}")
    match = compile_match(res_type, clauses, service.registry, withholding=withholding_for(service, request))
    rule = rule_for(service, session, request)
    if rule is not None:
        match = match.and_(*rule.condition(res_type))
    return session.search(res_type, match, after_key=None, limit=limit)


def single_match(matches: list[StoredVersion], what: str) -> StoredVersion | None:
    if len(matches) > 1:
        raise MultipleMatches(f"{what}: the criteria match more than one resource")
    return matches[0] if matches else None
