"""The HTTP adapter of the FHIR API: an HTTP request becomes a FhirRequest, the core answers, and
the FhirResponse becomes JSON with ETag, Last-Modified and Location (https://hl7.org/fhir/R4/http.html)."""

from __future__ import annotations

import asyncio
from datetime import datetime
from email.utils import format_datetime
from urllib.parse import parse_qsl

import orjson
from starlette.requests import Request
from starlette.responses import Response

from lifeline.fhir import urls
from lifeline.fhir.errors import BadRequest, FhirError, NotAcceptable, PayloadTooLarge, UnsupportedMediaType
from lifeline.fhir.outcome import operation_outcome
from lifeline.fhir.request import FhirRequest, FhirResponse
from lifeline.fhir.service import FhirService
from lifeline.web.errors import FHIR_JSON, error_response

_JSON_TYPES = ("application/fhir+json", "application/json", "application/json-patch+json")
_XML_FORMATS = ("xml", "text/xml", "application/xml", "application/fhir+xml")
_WITH_BODY = frozenset({"POST", "PUT", "PATCH"})


# Interactions that only read one row: on a backend whose reads never wait (SQLite in WAL mode)
# they run on the event loop, sparing the hop to a worker thread; elsewhere a read by id uses the
# backend's async driver.
_INLINE = frozenset({"read", "vread", "capabilities"})


async def fhir_endpoint(request: Request) -> Response:
    service: FhirService = request.app.state.service
    try:
        fhir_request = await _to_fhir_request(service, request)
        if service.repo.reads_never_wait and fhir_request.interaction in _INLINE:
            response = service.handle(fhir_request)
        elif fhir_request.interaction == "read":
            response = await service.handle_async(fhir_request)
        else:
            # The core and the database drivers block: they run in the app's worker threads.
            loop = asyncio.get_running_loop()
            response = await loop.run_in_executor(request.app.state.executor, service.handle, fhir_request)
        return _to_http(fhir_request, response)
    except Exception as error:  # noqa: BLE001 - every failure is answered as an OperationOutcome
        return error_response(error)


async def _to_fhir_request(service: FhirService, request: Request) -> FhirRequest:
    # Read straight from the ASGI scope: building Starlette's URL and QueryParams objects costs
    # more than the rest of a read by id.
    scope = request.scope
    headers = request.headers
    query = scope.get("query_string", b"")
    params = parse_qsl(query.decode("latin-1"), keep_blank_values=True) if query else []
    _check_accept(params, headers.get("accept", ""))
    path = request.path_params.get("path", "")
    host = headers.get("host") or "{}:{}".format(*scope.get("server") or ("localhost", 80))
    base = service.settings.base_url or f"{scope.get('scheme', 'http')}://{host}/fhir"
    body = await _read_body(service, request) if request.method in _WITH_BODY else b""
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
    elif request.method in ("PUT", "PATCH") or (request.method == "POST" and not path.endswith("_search")):
        if not path.startswith("$") and "/$" not in path:
            raise BadRequest(f"{request.method} needs a body")
    fhir_request = urls.parse(request.method, path, params, base)
    fhir_request.body = parsed_body
    fhir_request.if_match = headers.get("if-match")
    fhir_request.if_none_exist = headers.get("if-none-exist")
    for preference in headers.get("prefer", "").split(","):
        key, _, value = preference.strip().partition("=")
        if key == "return" and value in ("minimal", "representation", "OperationOutcome"):
            fhir_request.prefer_return = value
        elif key == "handling" and value in ("strict", "lenient"):
            fhir_request.prefer_handling = value
    return fhir_request


def _check_accept(params: list[tuple[str, str]], accept: str) -> None:
    if any(key == "_format" and value.lower() in _XML_FORMATS for key, value in params):
        raise NotAcceptable("Lifeline speaks FHIR JSON only; ask for _format=json")
    if accept and not any(t in accept for t in ("json", "*/*", "application/*")):
        raise NotAcceptable(f"Cannot answer in {accept}; Lifeline speaks application/fhir+json")


async def _read_body(service: FhirService, request: Request) -> bytes:
    limit = service.settings.max_body_bytes
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"The body is {declared} bytes; the limit is {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"The body is over the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _to_http(request: FhirRequest, response: FhirResponse) -> Response:
    headers: dict[str, str] = {}
    if response.version_id is not None:
        headers["ETag"] = f'W/"{response.version_id}"'
    if response.last_updated:
        headers["Last-Modified"] = format_datetime(datetime.fromisoformat(response.last_updated), usegmt=True)
    if response.location and response.status == 201:
        headers["Location"] = response.location
    elif response.location and request.interaction in ("update", "patch", "create"):
        headers["Content-Location"] = response.location
    if response.raw is not None:
        body: bytes = response.raw.encode()
    elif response.resource is not None:
        body = orjson.dumps(response.resource)
    elif response.status >= 400 or request.prefer_return == "OperationOutcome":
        body = orjson.dumps(operation_outcome(response.issues))
    else:
        return Response(status_code=response.status, headers=headers)
    return Response(body, status_code=response.status, media_type=FHIR_JSON, headers=headers)


__all__ = ["fhir_endpoint", "FhirError"]
