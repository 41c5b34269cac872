"""The HTTP adapter of the FHIR API: an HTTP request becomes a FhirRequest, the core answers, and
the FhirResponse becomes JSON with ETag, Last-Modified and Location (https://hl7.org/fhir/R4/http.html).

A plain ASGI application rather than framework routes: the whole API is one endpoint, and a read
by id is cheap enough that building request and response objects would be a fair share of it.
"""

from __future__ import annotations

import asyncio
import contextvars
from concurrent.futures import Executor
from datetime import datetime
from email.utils import format_datetime
from typing import Any
from urllib.parse import parse_qsl

import orjson

from lifeline.errors import (
    BadRequest,
    Conflict,
    Issue,
    NotAcceptable,
    PayloadTooLarge,
    StorageUnavailable,
    Unauthorized,
    UnsupportedMediaType,
)
from lifeline.fhir import urls
from lifeline.fhir.request import FhirRequest, FhirResponse
from lifeline.fhir.service import FhirService, writes_tagged
from lifeline.identity.principal import Principal, principal_from_token
from lifeline.outcome import operation_outcome
from lifeline.replication.site import SiteNode
from lifeline.web.errors import FHIR_JSON, error_answer, log

PREFIX = "/fhir"
_JSON_TYPES = ("application/fhir+json", "application/json", "application/json-patch+json")
_XML_FORMATS = ("xml", "text/xml", "application/xml", "application/fhir+xml")
_WITH_BODY = frozenset({"POST", "PUT", "PATCH"})
_CONTENT_TYPE = (b"content-type", FHIR_JSON.encode())
# Interactions that only read one row: on a backend whose reads never wait (SQLite in WAL mode)
# they run on the event loop, sparing the hop to a worker thread; elsewhere a read by id uses the
# backend's async driver.
_INLINE = frozenset({"read", "vread", "capabilities"})
# How long an answer waits for its audit record before it is refused instead (a stuck trail).
AUDIT_WAIT_SECONDS = 30
# The CapabilityStatement is public and holds no one's data: its reads are not audited.
_UNAUDITED = frozenset({"capabilities"})
# Interactions that never write: a site answers them from its replica with no word to the centre.
_READS = frozenset({"read", "vread", "search", "history", "capabilities"})

Scope = dict[str, Any]


class FhirApi:
    def __init__(self, service: FhirService, executor: Executor, site: SiteNode | None = None) -> None:
        self.service = service
        self.executor = executor
        self.site = site
        self._node = (b"x-lifeline-node", service.settings.node_id.encode())

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        request: FhirRequest | None = None
        response: FhirResponse | None = None
        try:
            request = await self._to_fhir_request(scope, receive)
            if self.site is not None and request.interaction not in _READS:
                response = await self._written_through(request, self.site)
            else:
                response = await self._handle(request)
            status, body, headers = _to_http(request, response)
        except Exception as error:  # noqa: BLE001 - every failure is answered as an OperationOutcome
            response = None
            status, body, headers = error_answer(error)
            headers.append(_CONTENT_TYPE)
        audited = request is None or request.interaction not in _UNAUDITED
        # A write's record is durable with the write (audit/outbox.py): nothing left to wait for.
        if self.service.auditor is not None and audited and not (response is not None and response.recorded):
            status, body, headers = await self._recorded(scope, request, response, status, body, headers)
        # Which node answered, and in which mode: a client can tell a site in continuity.
        headers.append(self._node)
        headers.append((b"x-lifeline-mode", (self.site.mode if self.site else "connected").encode()))
        headers.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def _recorded(
        self,
        scope: Scope,
        request: FhirRequest | None,
        response: FhirResponse | None,
        status: int,
        body: bytes,
        headers: list[tuple[bytes, bytes]],
    ) -> tuple[int, bytes, list[tuple[bytes, bytes]]]:
        """The answer, once its audit record is durable; if it cannot be recorded, a 503 instead:
        no clinical data leaves without its record (group commit: audit/recorder.py). The record
        is built from the core's account of the answer (or of the request, for a failure)."""
        client = scope.get("client")
        assert self.service.auditor is not None
        try:
            event = self.service.access_record(request, status, response, client[0] if client else None)
            async with asyncio.timeout(AUDIT_WAIT_SECONDS):  # in this task: wait_for would start one
                await self.service.auditor.submit_async(event)
        except Exception:  # noqa: BLE001 - whatever stopped the record, the data stays here
            log.exception("an access could not be recorded in the audit trail")
            status, body, headers = error_answer(
                StorageUnavailable("The access could not be recorded in the audit trail, so nothing was sent")
            )
            headers.append(_CONTENT_TYPE)
        return status, body, headers

    async def _handle(self, request: FhirRequest) -> FhirResponse:
        service = self.service
        if service.repo.reads_never_wait and request.interaction in _INLINE:
            return service.handle(request)
        if service.has_async_form(request):
            return await service.handle_async(request)
        # The core and the database drivers block: they run in worker threads (with this
        # request's context: a site tags its outbox rows with the request).
        context = contextvars.copy_context()
        return await asyncio.get_running_loop().run_in_executor(self.executor, context.run, service.handle, request)

    async def _written_through(self, request: FhirRequest, site: SiteNode) -> FhirResponse:
        """At a site: write locally, then wait for the centre to take the write (replication/site.py)."""
        tag = site.begin_write()
        try:
            with writes_tagged(tag):
                response = await self._handle(request)
        finally:
            outcome = await asyncio.get_running_loop().run_in_executor(self.executor, site.write_through, tag)
        if outcome.state == "rejected":
            message = (
                "Another hospital changed this record first, and this site had not seen that change yet;"
                " nothing was saved. Reload it and make your change again."
            )
            refused = [
                Issue("information", "informational", f"Refused by the central node: {r}") for r in outcome.rejected
            ]
            raise Conflict(message, [Issue("error", "conflict", message), *refused])
        return response

    async def _to_fhir_request(self, scope: Scope, receive: Any) -> FhirRequest:
        settings = self.service.settings
        headers = {name.decode("latin-1"): value.decode("latin-1") for name, value in scope["headers"]}
        query = scope.get("query_string", b"")
        params = parse_qsl(query.decode("latin-1"), keep_blank_values=True) if query else []
        _check_accept(params, headers.get("accept", ""))
        method = scope["method"]
        path = scope["path"][len(PREFIX) :].lstrip("/")
        host = headers.get("host") or "{}:{}".format(*scope.get("server") or ("localhost", 80))
        base = settings.base_url or f"{scope.get('scheme', 'http')}://{host}{PREFIX}"
        body = await _read_body(receive, headers, settings.max_body_bytes) if method in _WITH_BODY else b""
        content_type = headers.get("content-type", "").split(";")[0].strip().lower()
        parsed_body = None
        if body:
            if content_type == "application/x-www-form-urlencoded" and path.endswith("_search"):
                params.extend(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
            elif content_type and content_type not in _JSON_TYPES:
                raise UnsupportedMediaType(f"Content-Type {content_type} is not supported; send application/fhir+json")
            else:
                try:
                    parsed_body = orjson.loads(body)
                except orjson.JSONDecodeError as exc:
                    raise BadRequest(f"The body is not valid JSON: {exc}") from None
        elif method in ("PUT", "PATCH") or (method == "POST" and not path.endswith("_search")):
            if not path.startswith("$") and "/$" not in path:
                raise BadRequest(f"{method} needs a body")
        request = urls.parse(method, path, params, base)
        client = scope.get("client")
        request.address = client[0] if client else None
        request.principal = self._principal(headers.get("authorization"))
        request.body = parsed_body
        request.if_match = headers.get("if-match")
        request.if_none_exist = headers.get("if-none-exist")
        for preference in headers.get("prefer", "").split(","):
            key, _, value = preference.strip().partition("=")
            if key == "return" and value in ("minimal", "representation", "OperationOutcome"):
                request.prefer_return = value
            elif key == "handling" and value in ("strict", "lenient"):
                request.prefer_handling = value
        return request

    def _principal(self, authorization: str | None) -> Principal | None:
        """The verified bearer token's principal (the core decides what it may do)."""
        if not authorization:
            return None
        scheme, _, token = authorization.strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorized("The Authorization header must be 'Bearer' followed by an access token")
        return principal_from_token(self.service.identity.verify(token.strip()))


def _check_accept(params: list[tuple[str, str]], accept: str) -> None:
    if any(key == "_format" and value.lower() in _XML_FORMATS for key, value in params):
        raise NotAcceptable("Lifeline speaks FHIR JSON only; ask for _format=json")
    if accept and not any(t in accept for t in ("json", "*/*", "application/*")):
        raise NotAcceptable(f"Cannot answer in {accept}; Lifeline speaks application/fhir+json")


async def _read_body(receive: Any, headers: dict[str, str], limit: int) -> bytes:
    declared = headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"The body is {declared} bytes; the limit is {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise BadRequest("The client went away before sending the whole body")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"The body is over the limit of {limit} bytes")
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def _to_http(request: FhirRequest, response: FhirResponse) -> tuple[int, bytes, list[tuple[bytes, bytes]]]:
    headers: list[tuple[bytes, bytes]] = []
    if response.version_id is not None:
        headers.append((b"etag", f'W/"{response.version_id}"'.encode()))
    if response.last_updated:
        modified = format_datetime(datetime.fromisoformat(response.last_updated), usegmt=True)
        headers.append((b"last-modified", modified.encode()))
    if response.location and response.status == 201:
        headers.append((b"location", response.location.encode()))
    elif response.location and request.interaction in ("update", "patch", "create"):
        headers.append((b"content-location", response.location.encode()))
    if response.raw is not None:
        body = response.raw.encode()
    elif response.resource is not None:
        body = orjson.dumps(response.resource)
    elif response.status >= 400 or request.prefer_return == "OperationOutcome":
        body = orjson.dumps(operation_outcome(response.issues))
    else:
        return response.status, b"", headers
    headers.append(_CONTENT_TYPE)
    return response.status, body, headers
