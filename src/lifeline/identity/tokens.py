"""Access tokens: JWTs signed by the issuing node, verifiable by every node of the region.

The claims follow the JWT profile for OAuth access tokens (RFC 9068: ``typ`` ``at+jwt``, iss, aud,
sub, exp, iat, jti, client_id, scope) plus SMART's ``fhirUser`` and ``patient``, a session id
``sid``, the issuing ``node`` and, for staff, the user's ``sessions_epoch`` when it was issued
(identity/revocation.py refuses it once the user is disabled or logged out everywhere).
Verification trusts nothing in the token before the signature has been checked with the key named
by ``kid``, and only with that key's own algorithm.

Every refusal tells the client the same thing, ``TOKEN_REFUSED`` (RFC 6750 §3.1 ``invalid_token``):
which check failed (an unknown key id, a signature that does not match, an expiry) would tell a
forger how far they got. The reason stays on the exception for the server's log. A token longer
than ``MAX_TOKEN_LENGTH`` or whose header JSON cannot be read (bad base64, bad UTF-8, nesting deep
enough to exhaust the parser) is refused like any other, never answered with a 500.

Clock skew: exp, nbf and iat are compared with a leeway (default 120 s). A token whose ``iat``
or ``nbf`` lies further in the future than the leeway is refused even though its ``exp`` is
still ahead: it comes from a node whose clock is wrong, and accepting it would stretch the
token's life by the skew. Refusing makes the broken clock visible at once. A node verifying its
own tokens shares its own clock, so its logins keep working however far that clock is off.

Verified tokens are cached by their exact text (bounded LRU): a repeat skips the signature and
claim parsing, but expiry and the signing key's ``not_after`` are checked against the clock on
every call. Replacing the key set clears the cache.
"""

from __future__ import annotations

import base64
import binascii
import json
import secrets
import threading
from collections import OrderedDict
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from joserfc import jwt
from joserfc.errors import BadSignatureError, JoseError

from lifeline.clock import EpochClock, epoch_clock
from lifeline.errors import Unauthorized
from lifeline.identity.keys import ALGORITHM, KeyRing, NodeKey, SigningKey

TOKEN_TYPE = "at+jwt"
DEFAULT_LEEWAY = 120
DEFAULT_LIFETIME = 3600
DEFAULT_CACHE_SIZE = 10_000
# Ours are under 1 KiB even with many scopes; a longer one is refused before it is parsed.
MAX_TOKEN_LENGTH = 8192
TOKEN_REFUSED = "The access token is not valid or has expired"


class InvalidToken(Unauthorized):
    """Any reason a bearer token is refused: the client is told only ``TOKEN_REFUSED`` (401);
    ``reason`` says which check failed, for the server's log."""

    def __init__(self, reason: str) -> None:
        super().__init__(TOKEN_REFUSED)
        self.reason = reason


@dataclass(frozen=True)
class AccessToken:
    """What a verified token says, in the names the rest of Lifeline uses."""

    subject: str
    scopes: tuple[str, ...]
    client_id: str
    patient: str | None
    fhir_user: str | None
    expires_at: int
    issued_at: int
    jti: str
    issuer: str
    audience: tuple[str, ...]
    kid: str
    session_id: str | None
    node: str
    sessions_epoch: int | None = None  # a staff user's sessions epoch at issue (identity/revocation.py)


def issue_token(
    key: SigningKey,
    *,
    issuer: str,
    audience: str,
    subject: str,
    client_id: str,
    scopes: str | Iterable[str],
    lifetime: int = DEFAULT_LIFETIME,
    fhir_user: str | None = None,
    patient: str | None = None,
    session_id: str | None = None,
    sessions_epoch: int | None = None,
    clock: EpochClock = epoch_clock,
) -> str:
    """Sign an access token with this node's active key."""
    if lifetime <= 0:
        raise ValueError("token lifetime must be positive")
    now = int(clock())
    claims: dict[str, Any] = {
        "iss": issuer,
        "aud": audience,
        "sub": subject,
        "iat": now,
        "nbf": now,
        "exp": now + lifetime,
        "jti": secrets.token_urlsafe(16),
        "client_id": client_id,
        "scope": scopes if isinstance(scopes, str) else " ".join(scopes),
        "node": key.node_id,
    }
    optional = {"fhirUser": fhir_user, "patient": patient, "sid": session_id, "sessions_epoch": sessions_epoch}
    claims.update({name: value for name, value in optional.items() if value is not None})
    header = {"alg": ALGORITHM, "kid": key.kid, "typ": TOKEN_TYPE}
    return jwt.encode(header, claims, key.private, algorithms=[ALGORITHM])


@dataclass(frozen=True)
class _Verified:
    token: AccessToken
    key_not_after: int | None


class TokenVerifier:
    """Checks bearer tokens against the region's key set, trusted issuers and this server's audience."""

    def __init__(
        self,
        keys: KeyRing,
        *,
        trusted_issuers: Iterable[str],
        audience: str | Collection[str],
        leeway: int = DEFAULT_LEEWAY,
        clock: EpochClock = epoch_clock,
        cache_size: int = DEFAULT_CACHE_SIZE,
    ) -> None:
        self.trusted_issuers = frozenset(trusted_issuers)
        self.audiences = frozenset([audience] if isinstance(audience, str) else audience)
        if not self.trusted_issuers or not self.audiences:
            raise ValueError("a token verifier needs at least one trusted issuer and one audience")
        self.leeway = leeway
        self.clock = clock
        self.cache_size = cache_size
        self._keys = keys
        self._cache: OrderedDict[str, _Verified] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def keys(self) -> KeyRing:
        return self._keys

    def use_keys(self, keys: KeyRing) -> None:
        """Adopt a new (rotated or replicated) key set; cached results may rest on dropped keys."""
        with self._lock:
            self._keys = keys
            self._cache.clear()

    def verify(self, token: str) -> AccessToken:
        if len(token) > MAX_TOKEN_LENGTH:
            raise InvalidToken("token too long")
        now = self.clock()
        with self._lock:
            keys = self._keys
            cached = self._cache.get(token)
            if cached is not None:
                self._cache.move_to_end(token)
        if cached is None:
            cached = self._verify_uncached(token, keys, now)
            with self._lock:
                if self._keys is keys:  # a key set swapped in meanwhile must not inherit this result
                    self._cache[token] = cached
                    if len(self._cache) > self.cache_size:
                        self._cache.popitem(last=False)
        self._check_lifetime(cached, now)
        return cached.token

    def _check_lifetime(self, verified: _Verified, now: float) -> None:
        if verified.key_not_after is not None and now >= verified.key_not_after:
            raise InvalidToken("signing key retired")
        if now >= verified.token.expires_at + self.leeway:
            raise InvalidToken("token expired")

    def _verify_uncached(self, token: str, keys: KeyRing, now: float) -> _Verified:
        key = _signing_key(keys, _read_header(token))
        if not key.usable_at(now):
            raise InvalidToken("signing key retired")
        try:
            claims = jwt.decode(token, keys.verification_key(key.kid), algorithms=[ALGORITHM]).claims
        except BadSignatureError:
            raise InvalidToken("signature does not match") from None
        except (JoseError, ValueError, TypeError, RecursionError):
            raise InvalidToken("malformed token") from None
        access = self._check_claims(claims, key, now)
        return _Verified(access, key.not_after)

    def _check_claims(self, claims: Mapping[str, Any], key: NodeKey, now: float) -> AccessToken:
        if claims.get("iss") not in self.trusted_issuers:
            raise InvalidToken("untrusted issuer")
        audience = claims.get("aud")
        audiences = (audience,) if isinstance(audience, str) else tuple(audience) if isinstance(audience, list) else ()
        if self.audiences.isdisjoint(audiences):
            raise InvalidToken("wrong audience")
        expires_at, issued_at = _number(claims, "exp"), _number(claims, "iat")
        not_before = _number(claims, "nbf") if "nbf" in claims else issued_at
        if now >= expires_at + self.leeway:
            raise InvalidToken("token expired")
        if issued_at > now + self.leeway:
            raise InvalidToken("token issued in the future")
        if not_before > now + self.leeway:
            raise InvalidToken("token not valid yet")
        node = _text(claims, "node")
        if node != key.node_id:
            raise InvalidToken("token node does not own the signing key")
        return AccessToken(
            subject=_text(claims, "sub"),
            scopes=tuple(_text(claims, "scope").split()),
            client_id=_text(claims, "client_id"),
            patient=_optional_text(claims, "patient"),
            fhir_user=_optional_text(claims, "fhirUser"),
            expires_at=expires_at,
            issued_at=issued_at,
            jti=_text(claims, "jti"),
            issuer=claims["iss"],
            audience=audiences,
            kid=key.kid,
            session_id=_optional_text(claims, "sid"),
            node=node,
            sessions_epoch=_number(claims, "sessions_epoch") if "sessions_epoch" in claims else None,
        )


def _signing_key(keys: KeyRing, header: Mapping[str, Any]) -> NodeKey:
    alg, kid = header.get("alg"), header.get("kid")
    if not isinstance(alg, str):
        raise InvalidToken("malformed token")
    if alg.lower() == "none":
        raise InvalidToken("unsupported algorithm none")
    # Every key in the ring is Ed25519, so this also refuses HS256-with-the-public-key confusion.
    if alg != ALGORITHM:
        raise InvalidToken(f"unsupported algorithm {alg}")
    key = keys.get(kid) if isinstance(kid, str) else None
    if key is None:
        raise InvalidToken("unknown key id")
    if header.get("typ") != TOKEN_TYPE:
        raise InvalidToken("not an access token")
    return key


def _read_header(token: str) -> dict[str, Any]:
    """Decode the protected header ourselves, to pick the key before any signature check."""
    parts = token.split(".")
    if len(parts) != 3:
        raise InvalidToken("malformed token")
    try:
        header = json.loads(base64.urlsafe_b64decode(parts[0] + "=" * (-len(parts[0]) % 4)))
    except (binascii.Error, ValueError, RecursionError):  # RecursionError: JSON nested past the parser's depth
        raise InvalidToken("malformed token") from None
    if not isinstance(header, dict):
        raise InvalidToken("malformed token")
    return header


def _number(claims: Mapping[str, Any], name: str) -> int:
    value = claims.get(name)
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise InvalidToken(f"malformed token: claim {name!r} missing or not a number")
    return int(value)


def _text(claims: Mapping[str, Any], name: str) -> str:
    value = claims.get(name)
    if not isinstance(value, str):
        raise InvalidToken(f"malformed token: claim {name!r} missing or not a string")
    return value


def _optional_text(claims: Mapping[str, Any], name: str) -> str | None:
    return None if name not in claims else _text(claims, name)
