"""The one place where errors become HTTP answers: a FhirError's class gives the status and the
issue code; anything unexpected is logged and answered 500 without internals. Under /fhir the
answer is an OperationOutcome (`error_answer`); on the pages an HTML page from templates/errors/
with a correlation id, or the OperationOutcome when JSON was asked for (`error_response`)."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from lifeline import jsontext
from lifeline.errors import FhirError, Issue, RateLimited
from lifeline.outcome import operation_outcome
from lifeline.web.layout import NO_STORE, render

ASGIApp = Callable[[dict[str, Any], Any, Any], Awaitable[None]]

log = logging.getLogger("lifeline.web")
FHIR_JSON = "application/fhir+json; charset=utf-8"


def error_answer(error: BaseException) -> tuple[int, bytes, list[tuple[bytes, bytes]]]:
    """Status, OperationOutcome body and extra headers for any error."""
    if isinstance(error, FhirError):
        status, issues = error.status, error.issues
    else:
        log.exception("unexpected error", exc_info=error)
        status, issues = 500, [Issue("fatal", "exception", "Internal server error; the request was not completed")]
    headers = [(b"retry-after", b"5")] if status == 503 else []
    if isinstance(error, RateLimited):
        headers.append((b"retry-after", str(error.retry_after).encode()))
    if status == 401:
        # RFC 6750 §3: how to authenticate, and (when a token was sent) why it was refused.
        headers.append((b"www-authenticate", b'Bearer realm="lifeline", error="invalid_token"'))
    return status, jsontext.dumps(operation_outcome(issues)), headers


# The pages (everything outside /fhir): one handler, like datasette's `handle_exception.py`.
# A FhirError keeps its status and message; anything else is a 500 with a plain sentence. Either
# way the page shows a correlation id, the log line carries it with the exception, and no
# traceback ever reaches the browser. A request asking for JSON gets the OperationOutcome instead.

JSON_PATHS = ("/replication/", "/oauth/token", "/.well-known/", "/status.json", "/metrics", "/imaging/")
UNEXPECTED = "Something went wrong on our side and the request was not completed."
TITLES = {
    400: "The request could not be understood",
    401: "Log in first",
    403: "Not allowed",
    404: "Page not found",
    405: "Not allowed here",
    409: "A conflict with another change",
    410: "Gone",
    413: "Too large",
    422: "The request could not be carried out",
    429: "Too many attempts",
    503: "Lifeline is unavailable for a moment",
    500: "Something went wrong",
}


def wants_json(scope: Mapping[str, Any]) -> bool:
    """`?_format=json`, an Accept of JSON, or a path that only ever speaks JSON."""
    path = scope.get("path", "")
    if path.startswith(JSON_PATHS):
        return True
    query = scope.get("query_string", b"").decode("latin-1")
    if "_format=json" in query.split("&"):
        return True
    accept = dict(scope.get("headers") or {}).get(b"accept", b"").decode("latin-1")
    return "application/json" in accept or "application/fhir+json" in accept


def error_response(scope: Mapping[str, Any], error: BaseException) -> Response:
    """The answer to `error` on a page: HTML from templates/errors/, or an OperationOutcome.
    Blocking (the layout may read the node's status): call from a worker thread."""
    correlation = uuid.uuid4().hex[:12]
    if isinstance(error, FhirError):
        status, message, issues = error.status, error.message, list(error.issues)
        if status >= 500:
            log.error("page error %s (correlation %s)", status, correlation, exc_info=error)
    elif isinstance(error, HTTPException):  # the router's 404 and 405: the title says it all
        status, message = error.status_code, ""
        issues = [Issue("error", "not-found" if status == 404 else "not-supported", str(error.detail))]
    else:
        log.error("unexpected error on %s (correlation %s)", scope.get("path"), correlation, exc_info=error)
        status, message = 500, UNEXPECTED
        issues = [Issue("fatal", "exception", f"{UNEXPECTED} Correlation id {correlation}.")]
    headers = {**NO_STORE, "X-Correlation-Id": correlation}
    if status == 503:
        headers["Retry-After"] = "5"
    if isinstance(error, RateLimited):
        headers["Retry-After"] = str(error.retry_after)
    if wants_json(scope):
        body = jsontext.dumps(operation_outcome(issues))
        return Response(body, status, headers, media_type="application/fhir+json")
    shown = status if status in TITLES else (500 if status >= 500 else 400)
    return render("errors/error.html", status, headers, code=shown, message=message, correlation=correlation)


async def send_error_page(scope: dict[str, Any], receive: Any, send: Any, error: BaseException) -> None:
    response = await run_in_threadpool(error_response, scope, error)
    await response(scope, receive, send)


async def http_exception_page(request: Request, error: Exception) -> Response:
    """Starlette's own 404 (no route) and 405 (wrong method), as the same pages."""
    return await run_in_threadpool(error_response, request.scope, error)


def with_error_pages(app: ASGIApp) -> ASGIApp:
    """`app`, its exceptions answered by `error_response`. Once an answer has begun, an error can
    only be logged and the connection ended."""

    async def guarded(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        started = False

        async def watched_send(message: dict[str, Any]) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await app(scope, receive, watched_send)
        except Exception as error:  # noqa: BLE001 - the one place every page error ends
            if started:
                log.error("error after the answer began on %s", scope.get("path"), exc_info=error)
                raise
            await send_error_page(scope, receive, send, error)

    return guarded
