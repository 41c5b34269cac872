"""Citizen login: Lifeline as an OpenID Connect relying party of the citizen identity provider.

Patients prove who they are at an external provider (in Denmark MitID through a broker) and come back
with an ID token whose CPR claim tells Lifeline whose record they may see. This is the authorisation
code flow (https://openid.net/specs/openid-connect-core-1_0.html#CodeFlowAuth) with PKCE S256
(RFC 7636), configured by discovery (https://openid.net/specs/openid-connect-discovery-1_0.html).

The module knows nothing of Lifeline's web layer: the caller keeps the `LoginState` from `begin()` in
the browser session, hands it back to `finish()` with the callback's query parameters, and turns a
`CitizenLoginError` into a page. A provider that is down must never become an error page, so every
network failure ends as `CitizenLoginError(unavailable=True)` with the one message patients see.
"""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, NamedTuple, Self
from urllib.parse import quote

import httpx
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from joserfc import jwt
from joserfc.errors import BadSignatureError, ExpiredTokenError, InvalidKeyIdError, JoseError
from joserfc.jwk import KeySet, import_key

from lifeline.clock import Clock, system_clock

log = logging.getLogger("lifeline.identity.citizen")

UNAVAILABLE_MESSAGE = (
    "The citizen login (MitID) cannot be reached right now; staff logins are not affected. Try again in a few minutes."
)
_CANCELLED = "The MitID login was cancelled or refused, so you are not logged in. You can start the login again."
_WRONG_SESSION = (
    "This login does not belong to this browser session (it may have expired or been started in another window). "
    "Please start the login again."
)
_CODE_REJECTED = (
    "MitID no longer accepts this login (it was already used or has expired). Please start the login again."
)
_NOT_COMPLETED = "The MitID login could not be completed, so you are not logged in. Please start the login again."
_UNVERIFIED = "The answer from MitID could not be verified, so you are not logged in. Please start the login again."
_NO_CPR = (
    "Your MitID login did not include a valid CPR number, so Lifeline cannot tell whose record to show. "
    "Please contact your clinic."
)

# Signed with the provider's public keys only: "none" and the HS* family (keyed with our own secret) never verify.
_SIGNING_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA")
_CPR = re.compile(r"([0-9]{6})-?([0-9]{4})")


class CitizenLoginError(Exception):
    """The one error of citizen login: `message` is safe to show the patient, `detail` is for the log.

    `unavailable` separates "the provider is down, try later" (HTTP 503) from "this login failed" (401);
    `reason` is a short code for audit records and tests.
    """

    def __init__(self, message: str, unavailable: bool, *, reason: str = "failed", detail: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.unavailable = unavailable
        self.reason = reason
        self.detail = detail or reason

    @property
    def status(self) -> int:
        return 503 if self.unavailable else 401


def _unavailable(detail: str) -> CitizenLoginError:
    return CitizenLoginError(UNAVAILABLE_MESSAGE, True, reason="unavailable", detail=detail)


@dataclass(frozen=True)
class CitizenLoginConfig:
    """Settings of the relying party; `issuer` is compared exactly with the provider's own, as discovery requires."""

    issuer: str
    client_id: str
    client_secret: str = field(repr=False)
    redirect_uri: str
    cpr_claim: str = "cpr"
    scopes: str = "openid"
    timeout: float = 5.0
    metadata_ttl: float = 3600.0
    leeway: int = 60
    retry_after: float = 10.0

    def __post_init__(self) -> None:
        if not self.issuer.startswith(("https://", "http://")):
            raise ValueError(f"citizen login issuer must be an http(s) URL, not {self.issuer!r}")
        if "openid" not in self.scopes.split():
            raise ValueError(f"citizen login scopes must include 'openid', not {self.scopes!r}")


@dataclass(frozen=True)
class CitizenIdentity:
    """Who logged in: the CPR number (10 digits, no dash) is what Lifeline matches patients on."""

    cpr: str = field(repr=False)
    name: str | None
    subject: str
    issuer: str


@dataclass(frozen=True)
class LoginState:
    """What the browser session must remember between `begin()` and `finish()` (all three are single-use secrets)."""

    state: str
    nonce: str
    code_verifier: str = field(repr=False)

    @classmethod
    def new(cls) -> LoginState:
        return cls(secrets.token_urlsafe(32), secrets.token_urlsafe(32), secrets.token_urlsafe(64))

    def as_dict(self) -> dict[str, str]:
        return {"state": self.state, "nonce": self.nonce, "code_verifier": self.code_verifier}

    @classmethod
    def from_dict(cls, data: Mapping[str, object] | None) -> LoginState | None:
        """Read back a session entry; anything malformed counts as no login in progress."""
        if data is None:
            return None
        values = [data.get(name) for name in ("state", "nonce", "code_verifier")]
        if not all(isinstance(value, str) and value for value in values):
            return None
        return cls(*(str(value) for value in values))


class AuthorisationRequest(NamedTuple):
    """Where to send the browser, and what to keep in its session until it comes back."""

    url: str
    state: LoginState


@dataclass(frozen=True)
class ProviderMetadata:
    """The parts of the provider's discovery document that the code flow needs."""

    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    token_auth_methods: tuple[str, ...]
    signing_algorithms: tuple[str, ...]

    @classmethod
    def from_document(cls, document: dict[str, Any]) -> ProviderMetadata:
        names = ("issuer", "authorization_endpoint", "token_endpoint", "jwks_uri")
        missing = [name for name in names if not isinstance(document.get(name), str)]
        if missing:
            raise _unavailable(f"discovery document lacks {', '.join(missing)}")
        # Defaults from the discovery spec when the provider does not say.
        methods = document.get("token_endpoint_auth_methods_supported") or ["client_secret_basic"]
        algorithms = document.get("id_token_signing_alg_values_supported") or ["RS256"]
        return cls(
            issuer=document["issuer"],
            authorization_endpoint=document["authorization_endpoint"],
            token_endpoint=document["token_endpoint"],
            jwks_uri=document["jwks_uri"],
            token_auth_methods=tuple(str(method) for method in methods),
            signing_algorithms=tuple(str(alg) for alg in algorithms if alg in _SIGNING_ALGORITHMS),
        )


def normalise_cpr(value: object) -> str:
    """The CPR number as 10 digits: accepts `DDMMYYSSSS` and `DDMMYY-SSSS`, rejects anything else."""
    match = _CPR.fullmatch(value.strip()) if isinstance(value, str) else None
    if match is None:
        raise ValueError("a CPR number is 10 digits, optionally written DDMMYY-SSSS")
    return match.group(1) + match.group(2)


class CitizenLogin:
    """The relying party. One instance serves all logins; discovery and the provider's keys are cached.

    Calls are synchronous (httpx); the web layer runs them in its thread pool. Cache updates swap one
    tuple, so concurrent logins may at worst fetch the same document twice. After the provider fails to
    answer, calls fail at once for `retry_after` seconds, so that patients waiting on timeouts during an
    outage do not tie up the worker threads that staff requests share.
    """

    def __init__(self, config: CitizenLoginConfig, *, http: httpx.Client | None = None, clock: Clock = system_clock):
        self.config = config
        self._clock = clock
        self._owns_http = http is None
        self._http = http or httpx.Client(timeout=httpx.Timeout(config.timeout))
        self._metadata: tuple[float, ProviderMetadata] | None = None
        self._keys: tuple[float, KeySet] | None = None
        self._unreachable_until = 0.0
        # When the provider last answered, and last failed to (UTC): what the login page tells patients.
        self.last_working: datetime | None = None
        self.last_failed: datetime | None = None

    @property
    def down(self) -> bool:
        """Whether the provider's last answer was a failure (no answer, a timeout, a 5xx)."""
        return self.last_failed is not None and (self.last_working is None or self.last_failed > self.last_working)

    def close(self) -> None:
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def begin(self) -> AuthorisationRequest:
        """Start a login: the URL of the provider's login page and the state to keep in the browser session."""
        try:
            # Asked afresh at every start (cached only for `finish`): a provider that went down
            # since must be said so here, not shown to the patient as a browser's connection error.
            metadata = self.metadata(fresh=True)
        except CitizenLoginError as error:
            log.warning("citizen login cannot start: %s (%s)", error.reason, error.detail)
            raise
        state = LoginState.new()
        url = httpx.URL(metadata.authorization_endpoint).copy_merge_params(
            {
                "response_type": "code",
                "client_id": self.config.client_id,
                "redirect_uri": self.config.redirect_uri,
                "scope": self.config.scopes,
                "state": state.state,
                "nonce": state.nonce,
                "code_challenge": create_s256_code_challenge(state.code_verifier),
                "code_challenge_method": "S256",
            }
        )
        return AuthorisationRequest(str(url), state)

    def finish(self, callback_params: Mapping[str, str], state: LoginState | None) -> CitizenIdentity:
        """Complete a login from the provider's redirect back to us; raises `CitizenLoginError` on any failure."""
        try:
            return self._finish(callback_params, state)
        except CitizenLoginError as error:
            log.warning("citizen login failed: %s (%s)", error.reason, error.detail)
            raise

    def _finish(self, params: Mapping[str, str], state: LoginState | None) -> CitizenIdentity:
        # Errors first: providers may omit `state` on them, and an error only ends the attempt anyway.
        if error := params.get("error"):
            raise _provider_error(error, params.get("error_description", ""))
        if state is None:
            raise CitizenLoginError(_WRONG_SESSION, False, reason="no_login_in_progress")
        if not _same(params.get("state"), state.state):
            raise CitizenLoginError(_WRONG_SESSION, False, reason="state_mismatch")
        code = params.get("code")
        if not code:
            raise CitizenLoginError(_NOT_COMPLETED, False, reason="code_missing", detail="callback carries no code")
        metadata = self.metadata()
        id_token = self._exchange(metadata, code, state.code_verifier)
        claims = self._verified_claims(metadata, id_token, state.nonce)
        try:
            cpr = normalise_cpr(claims.get(self.config.cpr_claim))
        except ValueError:
            problem = "malformed" if self.config.cpr_claim in claims else "missing"
            detail = f"claim {self.config.cpr_claim!r} {problem}"
            raise CitizenLoginError(_NO_CPR, False, reason="cpr_missing", detail=detail) from None
        name = claims.get("name")
        return CitizenIdentity(cpr, name if isinstance(name, str) else None, str(claims["sub"]), metadata.issuer)

    def metadata(self, *, fresh: bool = False) -> ProviderMetadata:
        """The provider's discovery document, fetched at most once per `metadata_ttl` (`fresh`: now)."""
        now = self._clock().timestamp()
        if not fresh and self._metadata is not None and now - self._metadata[0] < self.config.metadata_ttl:
            return self._metadata[1]
        url = self.config.issuer.rstrip("/") + "/.well-known/openid-configuration"
        metadata = ProviderMetadata.from_document(_json_document(self._send("GET", url)))
        if metadata.issuer != self.config.issuer:
            raise _unavailable(
                f"provider calls itself {metadata.issuer!r}, configured issuer is {self.config.issuer!r}"
            )
        if not metadata.signing_algorithms:
            raise _unavailable("provider offers no asymmetric ID token signing algorithm")
        self._metadata = (now, metadata)
        return metadata

    def _signing_keys(self, metadata: ProviderMetadata, *, refresh: bool) -> tuple[KeySet, bool]:
        """The provider's public keys and whether they were fetched just now."""
        now = self._clock().timestamp()
        if not refresh and self._keys is not None and now - self._keys[0] < self.config.metadata_ttl:
            return self._keys[1], False
        document = _json_document(self._send("GET", metadata.jwks_uri))
        keys = []
        for entry in document.get("keys") or []:
            if not isinstance(entry, dict) or entry.get("use", "sig") != "sig":
                continue
            try:
                keys.append(import_key(entry))
            except (JoseError, ValueError, TypeError, KeyError) as error:
                log.info("skipping unusable provider key %s: %s", entry.get("kid"), error)
        if not keys:
            raise _unavailable(f"no usable signing key at {metadata.jwks_uri}")
        key_set = KeySet(keys)
        self._keys = (now, key_set)
        return key_set, True

    def _exchange(self, metadata: ProviderMetadata, code: str, code_verifier: str) -> str:
        """Trade the code for tokens at the token endpoint; only the ID token is kept."""
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": self.config.redirect_uri,
            "code_verifier": code_verifier,
        }
        auth: tuple[str, str] | None = None
        if "client_secret_basic" in metadata.token_auth_methods:
            # RFC 6749 §2.3.1: id and secret are form-encoded before going into the Basic header.
            auth = (quote(self.config.client_id, safe=""), quote(self.config.client_secret, safe=""))
        elif "client_secret_post" in metadata.token_auth_methods:
            form |= {"client_id": self.config.client_id, "client_secret": self.config.client_secret}
        else:
            methods = ", ".join(metadata.token_auth_methods)
            raise _unavailable(f"token endpoint supports neither client_secret_basic nor client_secret_post: {methods}")
        response = self._send("POST", metadata.token_endpoint, data=form, auth=auth)
        if response.status_code != 200:
            error = _oauth_error(response)
            detail = f"token endpoint answered {response.status_code} {error}".rstrip()
            if error == "invalid_grant":  # RFC 6749 §5.2: the code was used, expired or not ours
                raise CitizenLoginError(_CODE_REJECTED, False, reason="code_rejected", detail=detail)
            raise CitizenLoginError(_NOT_COMPLETED, False, reason="token_request_refused", detail=detail)
        id_token = _json_document(response).get("id_token")
        if not isinstance(id_token, str):
            raise CitizenLoginError(_UNVERIFIED, False, reason="invalid_token", detail="token response has no id_token")
        return id_token

    def _verified_claims(self, metadata: ProviderMetadata, id_token: str, nonce: str) -> dict[str, Any]:
        """The ID token's claims once signature, issuer, audience, expiry and nonce check out (OIDC Core §3.1.3.7)."""
        algorithms = list(metadata.signing_algorithms)
        try:
            keys, fresh = self._signing_keys(metadata, refresh=False)
            try:
                token = jwt.decode(id_token, keys, algorithms=algorithms)
            except (InvalidKeyIdError, BadSignatureError):
                if fresh:
                    raise
                # The provider may have rotated its keys since we cached them: look once more.
                keys, _ = self._signing_keys(metadata, refresh=True)
                token = jwt.decode(id_token, keys, algorithms=algorithms)
            jwt.JWTClaimsRegistry(
                now=lambda: int(self._clock().timestamp()),
                leeway=self.config.leeway,
                iss={"essential": True, "value": self.config.issuer},
                aud={"essential": True, "value": self.config.client_id},
                sub={"essential": True},
                exp={"essential": True},
                iat={"essential": True},
            ).validate(token.claims)
        except ExpiredTokenError as error:
            raise CitizenLoginError(_UNVERIFIED, False, reason="invalid_token", detail="ID token expired") from error
        except (JoseError, ValueError) as error:
            detail = f"ID token: {error}".rstrip(": ")
            raise CitizenLoginError(_UNVERIFIED, False, reason="invalid_token", detail=detail) from error
        claims = token.claims
        audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
        if ("azp" in claims or len(audiences) > 1) and claims.get("azp") != self.config.client_id:
            raise CitizenLoginError(_UNVERIFIED, False, reason="invalid_token", detail=f"azp is {claims.get('azp')!r}")
        if not _same(claims.get("nonce"), nonce):
            raise CitizenLoginError(_WRONG_SESSION, False, reason="nonce_mismatch", detail="ID token nonce differs")
        return claims

    def _send(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        """One request to the provider; no answer, a timeout or a 5xx all mean the provider is unavailable."""
        if self._clock().timestamp() < self._unreachable_until:
            raise _unavailable(f"provider failed less than {self.config.retry_after:g} s ago; not asking yet")
        try:
            response = self._http.request(method, url, **kwargs)
        except httpx.TransportError as error:
            raise self._outage(f"{method} {url}: {type(error).__name__}: {error}") from error
        if response.status_code >= 500:
            raise self._outage(f"{method} {url} answered {response.status_code}")
        self.last_working = self._clock().astimezone(UTC)
        return response

    def _outage(self, detail: str) -> CitizenLoginError:
        self._unreachable_until = self._clock().timestamp() + self.config.retry_after
        self.last_failed = self._clock().astimezone(UTC)
        return _unavailable(detail)


def _provider_error(error: str, description: str) -> CitizenLoginError:
    """An error the provider sent back in the redirect (RFC 6749 §4.1.2.1, OIDC Core §3.1.2.6)."""
    detail = f"provider error {error}: {description}".rstrip(": ")
    if error in ("temporarily_unavailable", "server_error"):
        return _unavailable(detail)
    if error == "access_denied":
        return CitizenLoginError(_CANCELLED, False, reason="access_denied", detail=detail)
    return CitizenLoginError(_NOT_COMPLETED, False, reason="provider_error", detail=detail)


def _json_document(response: httpx.Response) -> dict[str, Any]:
    """A 200 answer's JSON object; a provider answering anything else is as good as unavailable."""
    body = _json_body(response)
    if response.status_code != 200 or body is None:
        request = response.request
        raise _unavailable(f"{request.method} {request.url} answered {response.status_code}, not a JSON document")
    return body


def _oauth_error(response: httpx.Response) -> str:
    """The `error` code of an OAuth error answer (RFC 6749 §5.2), or "" when there is none."""
    error = (_json_body(response) or {}).get("error")
    return error if isinstance(error, str) else ""


def _json_body(response: httpx.Response) -> dict[str, Any] | None:
    try:
        body = response.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _same(received: object, expected: str) -> bool:
    """Constant-time comparison of a value from the browser or the token with the one we issued."""
    return isinstance(received, str) and secrets.compare_digest(received.encode(), expected.encode())
