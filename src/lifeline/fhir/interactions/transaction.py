"""batch and transaction: POST [base] with a Bundle (https://hl7.org/fhir/R4/http.html#transaction).

A transaction is atomic: every entry is written in one database transaction or none is. Entries
run in the order the spec sets (DELETE, POST, PUT/PATCH, GET/HEAD); `urn:uuid:` full URLs and
conditional references (`Patient?identifier=...`) are resolved to the ids the server assigns
before anything is written. A relative reference in an entry whose fullUrl is an absolute RESTful
URL is resolved against that fullUrl's base first (https://hl7.org/fhir/R4/bundle.html#references):
in an entry `http://example.com/fhir/Observation/1`, `Patient/0` is the entry
`http://example.com/fhir/Patient/0` if the Bundle has one. A batch runs each entry on its own.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

from lifeline import jsontext
from lifeline.errors import BadRequest, FhirError, Issue, MultipleMatches
from lifeline.fhir import urls, writes
from lifeline.fhir.interactions import create, delete, patch, read, update, vread
from lifeline.fhir.request import FhirRequest, FhirResponse
from lifeline.outcome import operation_outcome
from lifeline.storage.write_session import WriteSession

if TYPE_CHECKING:
    from lifeline.fhir.service import FhirService

_ORDER = {"DELETE": 0, "POST": 1, "PUT": 2, "PATCH": 2, "GET": 3, "HEAD": 3}
# An absolute RESTful URL [base]/[type]/[id](/_history/[vid]), and a relative reference [type]/[id]
# (https://hl7.org/fhir/R4/references.html#literal).
_RESTFUL_URL = re.compile(r"^(https?://.+)/[A-Z][A-Za-z]+/[A-Za-z0-9\-.]{1,64}(/_history/[A-Za-z0-9\-.]{1,64})?$")
_RELATIVE_REFERENCE = re.compile(r"^[A-Z][A-Za-z]+/[A-Za-z0-9\-.]{1,64}$")
_IN_TRANSACTION = {"create": create, "update": update, "patch": patch, "delete": delete, "read": read, "vread": vread}


@dataclass
class Entry:
    index: int
    method: str
    full_url: str | None
    request: FhirRequest


def handle(service: FhirService, request: FhirRequest) -> FhirResponse:
    bundle = request.body
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        raise BadRequest("POST to the base needs a Bundle of type transaction or batch")
    kind = bundle.get("type")
    if kind not in ("transaction", "batch"):
        raise BadRequest(f"Bundle.type must be transaction or batch, not {kind!r}")
    raw_entries = bundle.get("entry") or []
    # The Bundle's own structure is checked here; each entry's resource is checked as its entry runs,
    # so that a batch can answer a bad entry on its own and a transaction can name the entry.
    shell = [{k: v for k, v in e.items() if k != "resource"} if isinstance(e, dict) else e for e in raw_entries]
    service.validator.validate({**bundle, "entry": shell} if raw_entries else bundle, "Bundle")
    if kind == "batch":
        return _batch(service, request, raw_entries)
    entries = [_entry(service, request, i, raw) for i, raw in enumerate(raw_entries)]
    for entry in entries:
        if isinstance(entry.request.body, dict) and entry.request.interaction in ("create", "update"):
            _at(entry, lambda e=entry: writes.check_body(service, e.request))
    responses, _ = service.repo.write(lambda session: _transaction(service, session, entries))
    return FhirResponse(
        200,
        resource={
            "resourceType": "Bundle",
            "type": "transaction-response",
            "entry": [_response_entry(r) for r in responses],
        },
    )


def _transaction(service: FhirService, session: WriteSession, given: list[Entry]) -> list[FhirResponse]:
    # Identities and references are decided on copies: if the database makes the work run again
    # (a race with another writer), it starts from the Bundle as the client sent it. A body is
    # copied only where a reference in it changes (`_rewritten`): nothing below writes into it.
    entries = [
        dataclasses.replace(e, request=dataclasses.replace(e.request, params=list(e.request.params))) for e in given
    ]
    assigned = _assign_ids(service, session, entries)
    references = _References(service, session, assigned)
    for entry in entries:
        if entry.request.body is not None:
            base = _restful_base(entry.full_url)
            entry.request.body = _at(
                entry, lambda e=entry, b=base: _rewritten(e.request.body, lambda r: references.resolve(e.request, r, b))
            )
    responses: dict[int, FhirResponse] = {}
    for entry in sorted(entries, key=lambda e: _ORDER[e.method]):
        module = _IN_TRANSACTION.get(entry.request.interaction)
        if module is None:
            # search and history read committed data; their order after the writes is kept.
            responses[entry.index] = _at(entry, lambda e=entry: service.handle(e.request))
        elif module is create:
            res_id = assigned.get(entry.full_url or "", "").partition("/")[2] or None
            responses[entry.index] = _at(
                entry, lambda e=entry, i=res_id: create.execute(service, session, e.request, i)
            )
        else:
            responses[entry.index] = _at(entry, lambda e=entry, m=module: m.execute(service, session, e.request))
    return [responses[e.index] for e in entries]


def _assign_ids(service: FhirService, session: WriteSession, entries: list[Entry]) -> dict[str, str]:
    """Decide every created or updated resource's identity before writing, so references can be
    rewritten; and refuse a transaction that touches one resource twice."""
    assigned: dict[str, str] = {}
    touched: set[str] = set()
    for entry in entries:
        req = entry.request
        identity = None
        if req.interaction == "create":
            identity = f"{req.resource_type}/{service.new_id()}"
            if req.if_none_exist:
                existing = _at(
                    entry,
                    lambda r=req: writes.find_matches(
                        service, session, r, r.resource_type or "", r.if_none_exist or ""
                    ),
                )
                if len(existing) > 1:
                    raise MultipleMatches(f"Entry {entry.index}: If-None-Exist matches more than one resource")
                if existing:
                    identity = f"{req.resource_type}/{existing[0].res_id}"
        elif req.interaction in ("update", "patch", "delete"):
            if req.id is None:
                matches = _at(
                    entry, lambda r=req: writes.find_matches(service, session, r, r.resource_type or "", r.params)
                )
                if len(matches) > 1:
                    raise MultipleMatches(f"Entry {entry.index}: the conditional criteria match more than one resource")
                if matches:
                    req.id = matches[0].res_id
                elif req.interaction == "update":
                    body_id = req.body.get("id") if isinstance(req.body, dict) else None
                    req.id = body_id if isinstance(body_id, str) else service.new_id()
                else:
                    continue
                req.params = []
                if isinstance(req.body, dict) and req.interaction == "update":
                    req.body = {**req.body, "id": req.id}  # a copy: the Bundle as sent stays as it was
            identity = f"{req.resource_type}/{req.id}"
        if identity is None:
            continue
        if identity in touched:
            raise BadRequest(f"Entry {entry.index}: {identity} appears more than once in the transaction")
        touched.add(identity)
        if entry.full_url:
            assigned[entry.full_url] = identity
    return assigned


def _restful_base(full_url: str | None) -> str | None:
    """The base of an entry's fullUrl when it is an absolute RESTful URL: `http://example.com/fhir`
    for `http://example.com/fhir/Patient/0`; None for a `urn:uuid:` or no fullUrl."""
    found = _RESTFUL_URL.match(full_url or "")
    return found.group(1) if found else None


def _rewritten(node: Any, resolve: Callable[[str], str]) -> Any:
    """`node` with every `reference` resolved: a new dict or list on the path to each reference
    that changes, the very same object wherever nothing does (no copy of a whole body)."""
    if isinstance(node, dict):
        changed: dict[str, Any] | None = None
        for key, value in node.items():
            if key == "reference" and isinstance(value, str):
                new = resolve(value)
            elif isinstance(value, (dict, list)):
                new = _rewritten(value, resolve)
            else:
                continue
            if new is not value:
                if changed is None:
                    changed = dict(node)
                changed[key] = new
        return node if changed is None else changed
    if isinstance(node, list):
        items: list[Any] | None = None
        for i, item in enumerate(node):
            if isinstance(item, (dict, list)):
                new = _rewritten(item, resolve)
                if new is not item:
                    if items is None:
                        items = list(node)
                    items[i] = new
        return node if items is None else items
    return node


class _References:
    """Resolves the references of a transaction's entries to the ids it assigned. A conditional
    reference is searched once per asker: every entry's references are resolved before anything is
    written, so the same criteria find the same resource each time (Synthea's bundles repeat
    `Practitioner?identifier=...` in every encounter)."""

    def __init__(self, service: FhirService, session: WriteSession, assigned: dict[str, str]) -> None:
        self.service = service
        self.session = session
        self.assigned = assigned
        self.conditional: dict[tuple[int, str], str] = {}

    def resolve(self, asker: FhirRequest, reference: str, base: str | None = None) -> str:
        assigned = self.assigned
        if reference in assigned:
            return assigned[reference]
        if base is not None and _RELATIVE_REFERENCE.match(reference) and f"{base}/{reference}" in assigned:
            return assigned[f"{base}/{reference}"]  # the entry the referring entry's own base names
        if reference.startswith(("urn:uuid:", "urn:oid:")):
            raise BadRequest(f"Reference {reference} names no entry of the transaction")
        if "?" in reference and not reference.startswith(("http://", "https://")):
            key = (id(asker.principal), reference)
            if key not in self.conditional:
                self.conditional[key] = self._search(asker, reference)
            return self.conditional[key]
        return reference

    def _search(self, asker: FhirRequest, reference: str) -> str:
        res_type, _, query = reference.partition("?")
        self.service.check_type(res_type)
        matches = writes.find_matches(self.service, self.session, asker, res_type, query)
        if not matches:
            raise BadRequest(f"Conditional reference {reference} matches no resource")
        if len(matches) > 1:
            raise MultipleMatches(f"Conditional reference {reference} matches more than one resource")
        return f"{res_type}/{matches[0].res_id}"


def _batch(service: FhirService, request: FhirRequest, raw_entries: list[Any]) -> FhirResponse:
    responses = []
    for i, raw in enumerate(raw_entries):
        try:
            entry = _entry(service, request, i, raw)
            responses.append(service.handle(entry.request))
        except FhirError as error:
            responses.append(FhirResponse(error.status, issues=error.issues))
    return FhirResponse(
        200,
        resource={"resourceType": "Bundle", "type": "batch-response", "entry": [_response_entry(r) for r in responses]},
    )


def _entry(service: FhirService, outer: FhirRequest, index: int, raw: Any) -> Entry:
    request_part = raw.get("request") if isinstance(raw, dict) else None
    if not isinstance(request_part, dict) or not request_part.get("method") or not request_part.get("url"):
        raise BadRequest(f"Entry {index} needs request.method and request.url")
    method = str(request_part["method"]).upper()
    if method not in _ORDER:
        raise BadRequest(f"Entry {index}: unsupported method {method}")
    path, query = urls.relative(str(request_part["url"]), outer.base)
    try:
        sub = urls.parse(method, path, query, outer.base)
    except FhirError as error:
        raise BadRequest(f"Entry {index}: {error.message}") from error
    sub.prefer_return = outer.prefer_return
    sub.principal = outer.principal
    service.authorize(sub)  # every entry, before anything is written
    sub.if_none_exist = request_part.get("ifNoneExist")
    sub.if_match = request_part.get("ifMatch")
    sub.if_none_match = request_part.get("ifNoneMatch")
    if sub.resource_type is not None:
        service.check_type(sub.resource_type)
    resource = raw.get("resource")
    sub.body = _patch_body(index, resource) if method == "PATCH" else resource
    if method == "PATCH" and isinstance(resource.get("contentType"), str):
        sub.body_format = resource["contentType"]  # JSON Patch or JSON Merge Patch (interactions/patch.py)
    if method in ("POST", "PUT") and not isinstance(resource, dict):
        raise BadRequest(f"Entry {index}: a {method} entry needs a resource")
    full_url = raw.get("fullUrl")
    return Entry(index, method, full_url if isinstance(full_url, str) else None, sub)


def _patch_body(index: int, resource: Any) -> Any:
    """A PATCH entry carries its JSON Patch as a Binary (https://hl7.org/fhir/R4/http.html#patch)."""
    if not isinstance(resource, dict) or resource.get("resourceType") != "Binary":
        raise BadRequest(f"Entry {index}: a PATCH entry needs a Binary resource holding a JSON Patch")
    try:
        return jsontext.loads(base64.b64decode(resource.get("data") or "", validate=True))
    except (binascii.Error, ValueError, orjson.JSONDecodeError) as exc:
        raise BadRequest(f"Entry {index}: the Binary does not hold a JSON Patch document: {exc}") from exc


def _at(entry: Entry, step: Any) -> Any:
    """Run one step of an entry, naming the entry in the error if it fails."""
    try:
        return step()
    except FhirError as error:
        error.message = f"Entry {entry.index} ({entry.method} {entry.request.resource_type or ''}): {error.message}"
        error.issues = [
            Issue(i.severity, i.code, f"Entry {entry.index}: {i.diagnostics}", i.expression) for i in error.issues
        ]
        error.args = (error.message,)
        raise


def _response_entry(response: FhirResponse) -> dict[str, Any]:
    status = {200: "200 OK", 201: "201 Created", 204: "204 No Content"}.get(response.status, str(response.status))
    entry: dict[str, Any] = {"response": {"status": status}}
    if response.location:
        entry["response"]["location"] = response.location
    if response.version_id is not None:
        entry["response"]["etag"] = f'W/"{response.version_id}"'
    if response.last_updated:
        entry["response"]["lastModified"] = response.last_updated
    if response.status >= 400 or response.issues:
        # For a success: the hints and warnings of the entry (Bundle.entry.response.outcome).
        entry["response"]["outcome"] = operation_outcome(response.issues)
    if response.status < 400 and response.resource is not None:
        entry["resource"] = response.resource
    elif response.status < 400 and response.raw is not None:
        entry["resource"] = orjson.Fragment(response.raw)
    return entry
