"""Headers every page answer carries (OWASP Secure Headers; issue 19 for clickjacking, issue 20 §3).

- A strict Content-Security-Policy: scripts, styles and images from this origin only (no inline
  script or style: the templates link web/static/, see web/assets.py), no plugins, no <base>, forms
  posting to this origin only, and no framing by any site — the OAuth consent's "Allow" cannot be
  laid, invisible, under another site's button. X-Frame-Options: DENY says the same to old browsers.
- nosniff, and no Referer: a page's address may name a patient.
- `Cache-Control: no-store` unless the answer sets its own: every page but the static files (immutable,
  named by their hash) and the public /status pages may show someone's data, and must not stay in a
  shared or back-button cache.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

ASGIApp = Callable[[dict[str, Any], Any, Any], Awaitable[None]]
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "frame-ancestors 'none'; form-action 'self'; base-uri 'none'; object-src 'none'"
)
PAGE_HEADERS = [
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
]
NO_STORE = (b"cache-control", b"no-store")
PUBLIC_PATHS = ("/static/", "/status")  # their answers say how long they may be cached


def with_page_headers(app: ASGIApp) -> ASGIApp:
    """`app`, its HTTP answers carrying PAGE_HEADERS and no-store (unless an answer sets its own)."""

    async def guarded(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        extra = PAGE_HEADERS if scope.get("path", "").startswith(PUBLIC_PATHS) else [*PAGE_HEADERS, NO_STORE]

        async def send_with_headers(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                present = {name.lower() for name, _ in headers}
                headers += [header for header in extra if header[0] not in present]
                message = {**message, "headers": headers}
            await send(message)

        await app(scope, receive, send_with_headers)

    return guarded
