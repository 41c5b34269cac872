"""Device cookies: a login throttle that cannot lock a hospital out (issue 28).

OWASP, "Slow Down Online Guessing Attacks with Device Cookies": a browser that has completed a
login for a user (password and second factor) gets a cookie naming that user, signed by the node.
When it comes back, its attempts for that user are judged by their own counter only: the account's
delay and the address's limit, which an attacker drives up from elsewhere (40 wrong passwords from
a hospital's NAT address used to lock every login behind it), do not apply to it. Its own failures
count against the cookie: after DEVICE_FAILURES in a row it is no longer trusted, and its
attempts are judged as any other browser's until it logs in again elsewhere.

The cookie holds when it was issued, a random device id and a hash of the folded user name, with
an HMAC under a key derived from the node's key-encryption key; it is good for MAX_AGE. It is no
credential: it lets its browser try a password and a second factor, never skip one.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import unicodedata

MAX_AGE = 90 * 24 * 3600  # seconds a device stays known without a new login
DEVICE_FAILURES = 10  # failed attempts in a row before a device is no longer trusted
_LABEL = b"lifeline device cookie v1"


def device_key(kek: bytes) -> bytes:
    """The HMAC key of device cookies, derived from the node's key-encryption key."""
    return hmac.new(kek, _LABEL, hashlib.sha256).digest()


def _user(user_name: str) -> str:
    folded = unicodedata.normalize("NFKC", user_name).strip().casefold()
    return hashlib.sha256(folded.encode("utf-8")).hexdigest()[:32]


def _mac(key: bytes, body: str) -> str:
    digest = hmac.new(key, body.encode("ascii"), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")


def issue(key: bytes, user_name: str, now: float) -> str:
    """A device cookie for a browser that has just completed a login as `user_name`."""
    body = f"{int(now)}.{secrets.token_urlsafe(18)}.{_user(user_name)}"
    return f"{body}.{_mac(key, body)}"


def trusted_device(key: bytes, cookie: str | None, user_name: str, now: float) -> str | None:
    """The device id of `cookie` when it is this node's, fresh, and names `user_name`; else None."""
    found = known_device(key, cookie, now)
    return found[0] if found is not None and found[1] == _user(user_name) else None


def known_device(key: bytes, cookie: str | None, now: float) -> tuple[str, str] | None:
    """The device id and user hash of `cookie` when it is this node's and fresh, for whichever
    user (the login's rate limit per browser, web/rate_limits.py); else None."""
    if not cookie or len(cookie) > 200 or cookie.count(".") != 3:
        return None
    issued, device, user, mac = cookie.split(".")
    body = f"{issued}.{device}.{user}"
    if not issued.isdecimal() or not hmac.compare_digest(_mac(key, body), mac):
        return None
    if not 0 <= now - int(issued) <= MAX_AGE:
        return None
    return device, user
