"""The login form's CSRF token without a session (issue 28: anonymous requests write nothing).

Showing the login page used to create an anonymous session (a row in the node's state) only to
hold the form's CSRF token: a flood of `GET /login` wrote 20,000 rows in 20 s. Now the page writes
nothing. It sets a cookie holding when it was made and 256 random bits, and the form carries an
HMAC of that cookie under a key derived from the node's key-encryption key: OWASP's "signed
double-submit cookie" (Cross-Site Request Forgery Prevention Cheat Sheet). Another site can neither
read nor set the cookie (HttpOnly, SameSite=Lax, `__Host-` over https), nor make the HMAC without
the key; a posted form whose token matches its cookie, and is less than `LIFETIME` old, starts the
session then, when a form has been posted. Constant-time comparison; any malformed part fails.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

LIFETIME = 30 * 60  # seconds a login form may be left open before it is sent
_LABEL = b"lifeline login form token v1"


def form_key(kek: bytes) -> bytes:
    """The HMAC key of form tokens, derived from the node's key-encryption key (never the key itself)."""
    return hmac.new(kek, _LABEL, hashlib.sha256).digest()


def new_cookie(now: float) -> str:
    """A form cookie made at `now` (epoch seconds): `<seconds>.<random>`."""
    return f"{int(now)}.{secrets.token_urlsafe(32)}"


def token_for(key: bytes, cookie: str) -> str:
    """The token the form carries for `cookie`."""
    digest = hmac.new(key, cookie.encode(), hashlib.sha256).digest()
    return "form." + base64.urlsafe_b64encode(digest).decode().rstrip("=")


def cookie_fresh(cookie: str | None, now: float) -> bool:
    """Whether `cookie` is a form cookie made within LIFETIME of `now`."""
    made, _, rest = (cookie or "").partition(".")
    if not made.isdecimal() or len(rest) < 32 or len(cookie or "") > 200:
        return False
    return 0 <= now - int(made) <= LIFETIME


def token_matches(key: bytes, cookie: str | None, token: str | None, now: float) -> bool:
    """Whether a posted `token` belongs to a fresh `cookie` of this node."""
    if not cookie or not token or not cookie_fresh(cookie, now):
        return False
    return hmac.compare_digest(token_for(key, cookie), token)
