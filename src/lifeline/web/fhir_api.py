"""The HTTP adapter of the FHIR API: an HTTP request becomes a FhirRequest, the core answers, and
the FhirResponse becomes JSON with ETag, Last-Modified and Location (https://hl7.org/fhir/R4/http.html).

A plain ASGI application rather than framework routes: the whole API is one endpoint, and a read
by id is cheap enough that building request and response objects would be a fair share of it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from datetime import datetime
from email.utils import format_datetime
from typing import Any, TypeVar
from urllib.parse import parse_qsl

import orjson

from lifeline import cancel, jsontext
from lifeline.errors import (
    BadRequest,
    FhirError,
    NotAcceptable,
    PayloadTooLarge,
    Unauthorized,
    UnsupportedMediaType,
)
from lifeline.fhir import urls
from lifeline.fhir.request import FhirRequest, FhirResponse
from lifeline.fhir.service import FhirService
from lifeline.identity.principal import Principal, principal_from_token
from lifeline.outcome import operation_outcome
from lifeline.replication.site import SiteNode
from lifeline.web import binary, metadata_answer
from lifeline.web.errors import FHIR_JSON, error_answer

PREFIX = "/fhir"
_JSON_TYPES = ("application/fhir+json", "application/json", "application/json-patch+json")
_MERGE_PATCH = "application/merge-patch+json"  # RFC 7386, for PATCH only (fhir/interactions/patch.py)
_XML_FORMATS = ("xml", "text/xml", "application/xml", "application/fhir+xml")
_WITH_BODY = frozenset({"POST", "PUT", "PATCH"})
_CONTENT_TYPE = (b"content-type", FHIR_JSON.encode())
# Every FHIR answer but the public CapabilityStatement (web/metadata_answer.py): a browser must not
# keep a patient's data on disk by heuristic because a read carried Last-Modified (RFC 9111 §4.2.2).
_NO_STORE = (b"cache-control", b"no-store")

# Reads by id and the CapabilityStatement answer in well under a millisecond: not watched for a
# disconnect (`unless_gone`), which would cost two tasks each.
_QUICK = frozenset({"read", "vread", "capabilities"})

Scope = dict[str, Any]
T = TypeVar("T")


class FhirApi:
    def __init__(self, service: FhirService, site: SiteNode | None = None) -> None:
        self.service = service
        self.site = site
        self._node = (b"x-lifeline-node", service.settings.node_id.encode())

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        """Parse, then answer through the core acting as the token's person (fhir/acting.py),
        which authorises, filters, writes through at a site and audits: the answer leaves only
        once its record is durable, else a 503 instead."""
        client = scope.get("client")
        address = client[0] if client else None
        try:
            try:
                request = await self._to_fhir_request(scope, receive)
            except Exception as error:
                await self.service.as_user(None, address).refused_before_asking(error, _status_of(error))
                raise
            acting = self.service.as_user(request.principal, address)
            if request.interaction in _QUICK:
                response = await acting.handle_async(request)
            else:  # a search or an operation may run long: stopped if its client goes away
                response = await unless_gone(acting.handle_async(request), receive)
            if request.interaction == "capabilities" and response.raw is not None:
                status, body, headers = _public_statement(scope, response.raw)
            else:
                content = binary.content_answer(request, response, _header(scope, b"accept"))
                status, body, headers = _to_http(request, response, content)
        except Exception as error:  # noqa: BLE001 - every failure is answered as an OperationOutcome
            status, body, headers = error_answer(error)
            headers.append(_CONTENT_TYPE)
        if not any(name == b"cache-control" for name, _ in headers):
            headers.append(_NO_STORE)  # someone's record, or a refusal about it: never kept by a cache
        # Which node answered, and in which mode: a client can tell a site in continuity.
        headers.append(self._node)
        headers.append((b"x-lifeline-mode", (self.site.mode if self.site else "connected").encode()))
        if status != 304:  # a 304's length would be its 200's (RFC 9110 §8.6): none is said
            headers.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def _to_fhir_request(self, scope: Scope, receive: Any) -> FhirRequest:
        settings = self.service.settings
        headers = {name.decode("latin-1"): value.decode("latin-1") for name, value in scope["headers"]}
        query = scope.get("query_string", b"")
        params = parse_qsl(query.decode("latin-1"), keep_blank_values=True) if query else []
        method = scope["method"]
        path = scope["path"][len(PREFIX) :].lstrip("/")
        # A Binary is read in its own type too (web/binary.py): its Accept is judged by what it holds.
        _check_accept(params, "" if binary.is_binary_read(method, path) else headers.get("accept", ""))
        host = headers.get("host") or "{}:{}".format(*scope.get("server") or ("localhost", 80))
        base = settings.base_url or f"{scope.get('scheme', 'http')}://{host}{PREFIX}"
        body = await read_body(receive, headers, settings.max_body_bytes) if method in _WITH_BODY else b""
        content_type = headers.get("content-type", "").split(";")[0].strip().lower()
        parsed_body = None
        if body and binary.is_raw_upload(method, path, content_type):
            raw_type = headers.get("content-type", "").strip()
            parsed_body = binary.from_upload(body, raw_type, headers.get("x-security-context"), path)
            content_type = "application/fhir+json"  # what the core is handed: the Binary resource
            del body  # the resource holds the content now, once
        elif body:
            if content_type == "application/x-www-form-urlencoded" and path.endswith("_search"):
                params.extend(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
            elif content_type == _MERGE_PATCH and method != "PATCH":
                raise UnsupportedMediaType(f"Content-Type {_MERGE_PATCH} is for PATCH; send application/fhir+json")
            elif content_type and content_type not in _JSON_TYPES and content_type != _MERGE_PATCH:
                raise UnsupportedMediaType(f"Content-Type {content_type} is not supported; send application/fhir+json")
            else:
                try:
                    parsed_body = jsontext.loads(body)
                except orjson.JSONDecodeError as exc:
                    if not content_type and binary.is_binary_write(method, path):
                        raise BadRequest(binary.NO_TYPE) from None
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
        request.if_none_match = headers.get("if-none-match") if method in _WITH_BODY else None
        request.body_format = content_type or None
        for preference in headers.get("prefer", "").split(","):
            key, _, value = preference.strip().partition("=")
            if key == "return" and value in ("minimal", "representation", "OperationOutcome"):
                request.prefer_return = value
            elif key == "handling" and value in ("strict", "lenient"):
                request.prefer_handling = value
        return request

    def _principal(self, authorization: str | None) -> Principal | None:
        return bearer_principal(self.service, authorization)


def bearer_principal(service: FhirService, authorization: str | None) -> Principal | None:
    """The verified bearer token's principal (the core decides what it may do); None without one."""
    if not authorization:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("The Authorization header must be 'Bearer' followed by an access token")
    return principal_from_token(service.identity.verify(token.strip()))


def _status_of(error: BaseException) -> int:
    return error.status if isinstance(error, FhirError) else 500


async def unless_gone(work: Coroutine[Any, Any, T], receive: Any) -> T:
    """`work`'s result, or, if the client disconnects first, its database work stopped
    (lifeline/cancel.py) and the ClientGone it then raises: a search whose client has gone leaves
    no query running. The request's body has been read; `receive` now only tells of a disconnect."""
    cancellation = cancel.Cancellation()
    token = cancel.CURRENT.set(cancellation)
    try:
        task = asyncio.ensure_future(work)  # the task's context holds the cancellation, and so do its threads
    finally:
        cancel.CURRENT.reset(token)
    watcher = asyncio.ensure_future(_disconnect(receive))
    try:
        await asyncio.wait((task, watcher), return_when=asyncio.FIRST_COMPLETED)
        if not task.done():
            await asyncio.to_thread(cancellation.fire)  # a PostgreSQL cancel is a round trip: not on the loop
        return await task
    finally:
        watcher.cancel()


async def _disconnect(receive: Any) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


def _check_accept(params: list[tuple[str, str]], accept: str) -> None:
    if any(key == "_format" and value.lower() in _XML_FORMATS for key, value in params):
        raise NotAcceptable("Lifeline speaks FHIR JSON only; ask for _format=json")
    if accept and not any(t in accept for t in ("json", "*/*", "application/*")):
        raise NotAcceptable(f"Cannot answer in {accept}; Lifeline speaks application/fhir+json")


async def read_body(receive: Any, headers: dict[str, str], limit: int) -> bytes:
    """A request's whole body, refused (413) past `limit` bytes, declared or sent; headers lower-case."""
    declared = headers.get("content-length")
    if declared and declared.isdecimal() and int(declared) > limit:
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


def _header(scope: Scope, name: bytes) -> str:
    return next((value.decode("latin-1") for key, value in scope["headers"] if key == name), "")


def _public_statement(scope: Scope, text: str) -> tuple[int, bytes, list[tuple[bytes, bytes]]]:
    """The CapabilityStatement from its kept bytes: ETag, 304, gzip, public (web/metadata_answer.py)."""
    status, body, headers = metadata_answer.answer(
        text, _header(scope, b"if-none-match"), _header(scope, b"accept-encoding")
    )
    return status, body, headers if status == 304 else [*headers, _CONTENT_TYPE]


def _to_http(
    request: FhirRequest, response: FhirResponse, content: binary.Content | None = None
) -> tuple[int, bytes, list[tuple[bytes, bytes]]]:
    """The answer as HTTP: FHIR JSON, or `content`, a Binary in its own type (web/binary.py)."""
    headers: list[tuple[bytes, bytes]] = []
    if response.version_id is not None:
        headers.append((b"etag", f'W/"{response.version_id}"'.encode()))
    if response.last_updated:
        modified = format_datetime(datetime.fromisoformat(response.last_updated), usegmt=True)
        headers.append((b"last-modified", modified.encode()))
    if response.location and response.status == 201:
        headers.append((b"location", response.location.encode()))
    elif response.location and request.interaction in ("update", "patch", "create", "operation"):
        headers.append((b"content-location", response.location.encode()))
    if content is not None:
        return response.status, content.body, [*headers, *content.headers]
    if response.raw is not None:
        body = response.raw.encode()
    elif response.resource is not None:
        body = jsontext.dumps(response.resource)
    elif response.status >= 400 or request.prefer_return == "OperationOutcome":
        body = jsontext.dumps(operation_outcome(response.issues))
    else:
        return response.status, b"", headers
    headers.append(_CONTENT_TYPE)
    return response.status, body, headers
