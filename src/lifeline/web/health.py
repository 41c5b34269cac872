"""`/healthz` and `/readyz` for load balancers and orchestrators (issue 28; docs/operations.md).

- `GET /healthz`: 200 `{"status": "alive"}` while the process serves; it touches nothing.
- `GET /readyz`: 200 when the database answers, its migrations are current and the node does not
  shed load (status/readiness.py); else 503, naming the checks that failed.

Both are answered before the Host check and the pages: a probe names the node by its address,
not by its public name, and needs no session, sets no cookie and leaves no audit record; neither
answer holds a link or anything about a patient. `Cache-Control: no-store`: a cached "ready"
would hide a node that is not.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from lifeline import jsontext
from lifeline.status.readiness import ReadinessCheck

ASGIApp = Callable[[dict[str, Any], Any, Any], Awaitable[None]]
ALIVE, READY = "/healthz", "/readyz"
_ALIVE_BODY = jsontext.dumps({"status": "alive"})


def with_health(app: ASGIApp, readiness: ReadinessCheck) -> ASGIApp:
    """`app`, with the two probes answered in front of it."""

    async def probed(scope: dict[str, Any], receive: Any, send: Any) -> None:
        path = scope.get("path") if scope["type"] == "http" else None
        if path == ALIVE:
            await _answer(scope, send, 200, _ALIVE_BODY)
        elif path == READY:
            if scope["method"] not in ("GET", "HEAD"):
                await _answer(scope, send, 405, b"")  # and no read of the database
                return
            answer = await readiness.answer()
            body = {
                "status": "ready" if answer.ready else "not ready",
                "failed": answer.failed(),
                "checks": {check.name: {"ok": check.ok, "detail": check.detail} for check in answer.checks},
            }
            await _answer(scope, send, 200 if answer.ready else 503, jsontext.dumps(body))
        else:
            await app(scope, receive, send)

    return probed


async def _answer(scope: dict[str, Any], send: Any, status: int, body: bytes) -> None:
    if scope["method"] not in ("GET", "HEAD"):
        status, body = 405, jsontext.dumps({"status": "method not allowed"})
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"cache-control", b"no-store"),
        (b"x-content-type-options", b"nosniff"),
    ]
    if status == 405:
        headers.append((b"allow", b"GET, HEAD"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else body})
