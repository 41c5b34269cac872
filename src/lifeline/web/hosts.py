"""The Host check: a request must name a host this node answers for, before anything else runs.

Without LIFELINE_BASE_URL the FHIR API builds its links (`fullUrl`, paging links, `Location`)
from the request's Host header, so a request with `Host: evil.example.com` would get links to
that host, and a cache or a careless client would follow them (issue 19; Django's ALLOWED_HOSTS
answers the same attack, and DNS rebinding with it). The allowed hosts are `allowed_hosts_of` in
config.py: LIFELINE_ALLOWED_HOSTS, else the hosts of the base URL and the issuer, the loopback
names and the address `serve` listens on. Any other Host gets 400: an OperationOutcome under
/fhir, plain text elsewhere. A request without a Host header (HTTP/1.0) passes: links then use
the address the server listens on.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from lifeline.config import Host, Settings, allowed_hosts_of, parse_host
from lifeline.errors import BadRequest
from lifeline.web.errors import FHIR_JSON, error_answer

ASGIApp = Callable[[dict[str, Any], Any, Any], Awaitable[None]]
_REMEMBERED = 64  # allowed Host values kept as they came, to skip parsing them again (~2 µs a request)
REFUSED = "This server does not answer for the host named in the request's Host header (see LIFELINE_ALLOWED_HOSTS)"


def host_checked(app: ASGIApp, settings: Settings, fhir_prefix: str) -> ASGIApp:
    """`app`, answering only requests whose Host is allowed."""
    allowed = allowed_hosts_of(settings)
    if allowed is None:
        return app
    seen: set[bytes] = set()  # only allowed values: junk Hosts cannot fill it

    async def checked(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] not in ("http", "websocket") or _is_allowed(scope, allowed, seen):
            await app(scope, receive, send)
        elif scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
        else:
            path = scope.get("path", "")
            await _refuse(send, path == fhir_prefix or path.startswith(fhir_prefix + "/"))

    return checked


def _is_allowed(scope: dict[str, Any], allowed: frozenset[Host], seen: set[bytes]) -> bool:
    hosts = [value for name, value in scope.get("headers", ()) if name == b"host"]
    if not hosts:
        return True
    if len(hosts) > 1:
        return False  # two Host headers (RFC 9112 §3.2 says 400): which one the links would use is anyone's guess
    if hosts[0] in seen:
        return True
    host = parse_host(hosts[0].decode("latin-1"))
    if host is None or (host not in allowed and (host[0], None) not in allowed):
        return False
    if len(seen) < _REMEMBERED:
        seen.add(hosts[0])
    return True


async def _refuse(send: Any, fhir: bool) -> None:
    if fhir:
        status, body, headers = error_answer(BadRequest(REFUSED))
        headers.append((b"content-type", FHIR_JSON.encode()))
    else:
        status, body, headers = 400, (REFUSED + "\n").encode(), [(b"content-type", b"text/plain; charset=utf-8")]
    headers.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
