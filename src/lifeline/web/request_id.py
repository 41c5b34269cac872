"""The outermost layer: every request's correlation id, its log line and its metrics (issue 23).

The id is the request's `X-Request-ID` if it is sane, else a new one (telemetry.py); it is set in
the context for the request (the threads the request's work runs in get a copy of the context),
kept in the scope as `lifeline.request_id`, and sent back in the answer's `X-Request-ID`. When
the answer is done, one line is logged: method, path (never the query string, which may name a
patient), status, duration, route class and the id; and the request is counted by route class
and status class in telemetry.TELEMETRY. Plain ASGI, no Starlette middleware: it wraps every
request, the FHIR API's included.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from lifeline import telemetry

ASGIApp = Callable[[dict[str, Any], Any, Any], Awaitable[None]]
SCOPE_KEY = "lifeline.request_id"
_HEADER = telemetry.HEADER.lower().encode("latin-1")
_PATH_LOGGED = 256  # characters of a path written to the log; the rest is cut

log = logging.getLogger("lifeline.request")


def incoming_request_id(headers: Any) -> str | None:
    for name, value in headers:
        if name == _HEADER:
            return telemetry.sane_request_id(value.decode("latin-1"))
    return None


def with_request_id(app: ASGIApp, node: str) -> ASGIApp:
    """`app`, each HTTP request under a correlation id, logged and counted when answered."""

    async def correlated(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        request_id = incoming_request_id(scope.get("headers", ())) or telemetry.new_request_id()
        scope[SCOPE_KEY] = request_id
        token = telemetry.REQUEST_ID.set(request_id)
        header = (_HEADER, request_id.encode("latin-1"))
        path = scope.get("path", "")
        status = 500  # if the app fails before it answers
        started = time.perf_counter()  # a duration: a monotonic clock

        async def send_with_id(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                headers = [h for h in message.get("headers", ()) if h[0].lower() != _HEADER]
                message = {**message, "headers": [*headers, header]}
            await send(message)

        # The in-flight count goes by the path alone: the status is not known yet.
        in_flight = telemetry.in_flight(telemetry.route_class(path, 200))
        in_flight.inc()
        try:
            await app(scope, receive, send_with_id)
        finally:
            in_flight.dec()
            seconds = time.perf_counter() - started
            route = telemetry.route_class(path, status)
            telemetry.count_request(route, status, seconds)
            # Routine polls (sites' replication calls, status and metrics scrapes) only at DEBUG:
            # they come several times a second and would drown the rest.
            routine = route in _ROUTINE and status < 400 and seconds < 1.0
            if log.isEnabledFor(logging.DEBUG if routine else logging.INFO):  # no log configured: no line
                _log_line(scope, path, status, seconds, route, node, logging.DEBUG if routine else logging.INFO)
            telemetry.REQUEST_ID.reset(token)

    return correlated


_ROUTINE = frozenset({"replication", "status"})


def _log_line(scope: dict[str, Any], path: str, status: int, seconds: float, route: str, node: str, level: int) -> None:
    log.log(
        level,
        "%s %s %d",
        scope.get("method", ""),
        path[:_PATH_LOGGED],
        status,
        extra={
            "node": node,
            "method": scope.get("method", ""),
            "path": path[:_PATH_LOGGED],
            "status": status,
            "duration_ms": round(seconds * 1000, 2),
            "route_class": route,
        },
    )
