"""Headers every page answer carries: no other site may frame Lifeline's pages.

Without them the OAuth consent page's "Allow" could be clickjacked: a hostile page frames it,
invisible, over a button of its own (issue 19; OWASP Clickjacking Defense Cheat Sheet).
`frame-ancestors 'none'` is the Content-Security-Policy way, X-Frame-Options: DENY the one older
browsers know. The policy says no more than that yet: base.html and conflicts.html carry inline
style, which a `default-src 'self'` policy would block.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

ASGIApp = Callable[[dict[str, Any], Any, Any], Awaitable[None]]
PAGE_HEADERS = [
    (b"content-security-policy", b"frame-ancestors 'none'"),
    (b"x-frame-options", b"DENY"),
]


def with_page_headers(app: ASGIApp) -> ASGIApp:
    """`app`, its HTTP answers carrying PAGE_HEADERS (unless an answer sets its own)."""

    async def guarded(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return

        async def send_with_headers(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                present = {name.lower() for name, _ in headers}
                headers += [header for header in PAGE_HEADERS if header[0] not in present]
                message = {**message, "headers": headers}
            await send(message)

        await app(scope, receive, send_with_headers)

    return guarded
