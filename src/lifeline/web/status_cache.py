"""`GET /status` answered from memory while the status board's snapshot stays the same (issue 23).

The status page is public and, in an outage, refreshed by everyone: at 1,000 requests a second
the full path (the page middleware, a template render) took most of the node's CPU from the
clinicians (bench/status_flood.py). So the complete answer — status, headers, body — is kept per
language for as long as the board's snapshot it was made from is the one served
(status/board.py: a few seconds), and repeated as it was, before the page stack is entered. It is
the same answer a shared cache in front would give (`Cache-Control: public`): rendered as nobody,
varying by language only. An answer that sets a cookie or is not a 200 is never kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from starlette.requests import cookie_parser

from lifeline.status.board import IncidentBoard, Snapshot
from lifeline.web import i18n

PATH = "/status"
MOST_HOSTS = 16


@dataclass(frozen=True)
class Kept:
    snapshot: Snapshot
    start: dict[str, Any]  # the http.response.start message
    body: bytes
    head: bytes  # the same status line and headers as HTTP/1.1 bytes (web/http_protocol.py)


class Quick:
    """The kept answers, for the HTTP protocol to repeat before any ASGI work (web/http_protocol.py):
    only to a GET or HEAD of exactly /status, with a Host header the full path accepted before,
    while the snapshot they were made from is still the one served."""

    def __init__(self, board: IncidentBoard) -> None:
        self.board = board
        self.kept: dict[str, Kept] = {}
        self.hosts: set[bytes] = set()  # Host headers of requests whose answers were kept

    def answer(self, scope: dict[str, Any]) -> Kept | None:
        if scope.get("method") not in ("GET", "HEAD") or scope.get("path") != PATH or scope.get("query_string"):
            return None
        host = _header(scope, b"host")
        if host is None or host not in self.hosts:
            return None
        found = self.kept.get(_language(scope))
        current = self.board.fresh()
        return found if found is not None and current is not None and found.snapshot is current else None


QUICK: Quick | None = None  # set in a server process that serves one app (web/asgi.py)
_LATEST: Quick | None = None


def serve_quickly() -> None:
    """Let this process's HTTP protocol repeat the kept answers of the app made last (`lifeline
    serve`'s workers make one app each)."""
    global QUICK
    QUICK = _LATEST


def with_cached_status(app: Any, board: IncidentBoard | None) -> Any:
    global _LATEST
    if board is None:
        return app
    quick = _LATEST = Quick(board)
    kept = quick.kept

    async def cached(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope.get("path") != PATH or scope.get("method") not in ("GET", "HEAD"):
            await app(scope, receive, send)
            return
        language = _language(scope)
        current = board.fresh()
        found = kept.get(language)
        if current is not None and found is not None and found.snapshot is current:
            await send(found.start)
            await send({"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else found.body})
            return
        start: dict[str, Any] = {}
        chunks: list[bytes] = []

        async def keeping(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                start.update(message)
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
                if not message.get("more_body") and _keepable(start) and scope["method"] == "GET":
                    made_from = board.fresh()
                    if made_from is not None:
                        kept[language] = Kept(made_from, dict(start), b"".join(chunks), _head(start))
                        host = _header(scope, b"host")
                        if host is not None and len(quick.hosts) < MOST_HOSTS:
                            quick.hosts.add(host)
            await send(message)

        await app(scope, receive, keeping)

    return cached


def _head(start: dict[str, Any]) -> bytes:
    status = int(start["status"])
    lines = [f"HTTP/1.1 {status} {HTTPStatus(status).phrase}".encode()]
    lines += [bytes(name) + b": " + bytes(value) for name, value in start.get("headers", [])]
    return b"\r\n".join(lines) + b"\r\n"


def _keepable(start: dict[str, Any]) -> bool:
    return start.get("status") == 200 and not any(name.lower() == b"set-cookie" for name, _ in start.get("headers", []))


def _header(scope: dict[str, Any], wanted: bytes) -> bytes | None:
    return next((value for name, value in scope.get("headers", []) if name == wanted), None)


def _language(scope: dict[str, Any]) -> str:
    """The request's language as the page middleware chooses it (web/middleware.py), from the
    raw headers: the remembered choice, else the browser's."""
    cookies, accept = _header(scope, b"cookie"), _header(scope, b"accept-language")
    chosen = cookie_parser(cookies.decode("latin-1")).get(i18n.COOKIE) if cookies else None
    return i18n.chosen(chosen, accept.decode("latin-1") if accept else None)
