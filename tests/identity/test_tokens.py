"""Access tokens: issue, verify, refuse forgeries (one message for the client, the reason for the log),
survive rotation and clock skew."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

import pytest
from joserfc import jwt

from lifeline.errors import FhirError
from lifeline.identity import tokens
from lifeline.identity.keys import ALGORITHM, KeyRing, SigningKey, new_signing_key, rotate
from lifeline.identity.tokens import AccessToken, InvalidToken, TokenVerifier, issue_token

START = 1_750_000_000
ISSUER = "https://node-a.lifeline.example/auth"
AUDIENCE = "https://node-a.lifeline.example/fhir"


class FakeClock:
    """Epoch seconds that only move when a test says so."""

    def __init__(self, now: float = START) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def b64(data: dict[str, Any] | bytes) -> str:
    raw = data if isinstance(data, bytes) else json.dumps(data).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def parts(token: str) -> tuple[dict[str, Any], dict[str, Any], str]:
    header, payload, signature = token.split(".")
    decode = lambda text: json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))  # noqa: E731
    return decode(header), decode(payload), signature


@pytest.fixture
def node_a() -> tuple[KeyRing, SigningKey]:
    return rotate(KeyRing(), "node-a", START - 1000)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def verifier_for(ring: KeyRing, clock: FakeClock, **options: Any) -> TokenVerifier:
    return TokenVerifier(ring, trusted_issuers={ISSUER}, audience=AUDIENCE, clock=clock, **options)


def issue(key: SigningKey, clock: FakeClock | None = None, **overrides: Any) -> str:
    options: dict[str, Any] = {
        "issuer": ISSUER,
        "audience": AUDIENCE,
        "subject": "Practitioner/p1",
        "client_id": "ward-app",
        "scopes": ["user/*.rs", "openid"],
        "clock": clock or FakeClock(),
    }
    return issue_token(key, **{**options, **overrides})


def sign_claims(key: SigningKey, claims: dict[str, Any], typ: str = "at+jwt") -> str:
    return jwt.encode({"alg": ALGORITHM, "kid": key.kid, "typ": typ}, claims, key.private, algorithms=[ALGORITHM])


def refused(verifier: TokenVerifier, token: str, reason: str) -> None:
    with pytest.raises(InvalidToken) as caught:
        verifier.verify(token)
    assert caught.value.reason == reason
    assert caught.value.message == tokens.TOKEN_REFUSED  # the client never learns which check failed


def test_round_trip_carries_every_claim(node_a: tuple[KeyRing, SigningKey], clock: FakeClock) -> None:
    ring, key = node_a
    token = issue(
        key, clock, fhir_user="Practitioner/p1", patient="pat-7", session_id="s-1", scopes="patient/*.rs launch"
    )
    header, claims, _ = parts(token)
    assert header == {"typ": "at+jwt", "alg": "Ed25519", "kid": key.kid}
    assert claims["iat"] == claims["nbf"] == START and claims["exp"] == START + 3600
    access = verifier_for(ring, clock).verify(token)
    assert access == AccessToken(
        subject="Practitioner/p1",
        scopes=("patient/*.rs", "launch"),
        client_id="ward-app",
        patient="pat-7",
        fhir_user="Practitioner/p1",
        expires_at=START + 3600,
        issued_at=START,
        jti=claims["jti"],
        issuer=ISSUER,
        audience=(AUDIENCE,),
        kid=key.kid,
        session_id="s-1",
        node="node-a",
    )


def test_optional_claims_are_left_out_when_absent(node_a: tuple[KeyRing, SigningKey], clock: FakeClock) -> None:
    ring, key = node_a
    token = issue(key, clock)
    assert not {"fhirUser", "patient", "sid"} & set(parts(token)[1])
    access = verifier_for(ring, clock).verify(token)
    assert (access.patient, access.fhir_user, access.session_id) == (None, None, None)


def test_every_token_gets_its_own_jti(node_a: tuple[KeyRing, SigningKey]) -> None:
    _, key = node_a
    assert parts(issue(key))[1]["jti"] != parts(issue(key))[1]["jti"]


def test_lifetime_must_be_positive(node_a: tuple[KeyRing, SigningKey]) -> None:
    with pytest.raises(ValueError, match="positive"):
        issue(node_a[1], lifetime=0)


def test_invalid_token_is_a_401_login_error_that_keeps_its_reason_to_itself() -> None:
    error = InvalidToken("token expired")
    assert isinstance(error, FhirError) and (error.status, error.code) == (401, "login")
    assert error.message == str(error) == "The access token is not valid or has expired"
    assert [issue.diagnostics for issue in error.issues] == [error.message] and error.reason == "token expired"


def test_tampered_payload_is_refused(node_a: tuple[KeyRing, SigningKey], clock: FakeClock) -> None:
    ring, key = node_a
    header, _, signature = issue(key, clock).split(".")
    forged = {**parts(issue(key, clock))[1], "sub": "Practitioner/chief", "scope": "system/*.cruds"}
    refused(verifier_for(ring, clock), f"{header}.{b64(forged)}.{signature}", "signature does not match")


def test_tampered_signature_is_refused(node_a: tuple[KeyRing, SigningKey], clock: FakeClock) -> None:
    ring, key = node_a
    header, claims, signature = issue(key, clock).split(".")
    flipped = signature[:10] + ("A" if signature[10] != "A" else "B") + signature[11:]
    refused(verifier_for(ring, clock), f"{header}.{claims}.{flipped}", "signature does not match")


@pytest.mark.parametrize("alg", ["none", "None", "NONE"])
def test_alg_none_is_refused(node_a: tuple[KeyRing, SigningKey], clock: FakeClock, alg: str) -> None:
    ring, key = node_a
    claims = parts(issue(key, clock))[1]
    unsigned = f"{b64({'alg': alg, 'kid': key.kid, 'typ': 'at+jwt'})}.{b64(claims)}."
    refused(verifier_for(ring, clock), unsigned, "unsupported algorithm none")


def test_hmac_with_the_public_key_as_secret_is_refused(node_a: tuple[KeyRing, SigningKey], clock: FakeClock) -> None:
    ring, key = node_a
    claims = parts(issue(key, clock))[1]
    signing_input = f"{b64({'alg': 'HS256', 'kid': key.kid, 'typ': 'at+jwt'})}.{b64(claims)}"
    secret = json.dumps(ring.keys[0].to_jwk()).encode()
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    refused(verifier_for(ring, clock), f"{signing_input}.{b64(mac)}", "unsupported algorithm HS256")


def test_key_outside_the_set_is_refused(node_a: tuple[KeyRing, SigningKey], clock: FakeClock) -> None:
    ring, _ = node_a
    stranger, _ = new_signing_key("node-a", START)
    refused(verifier_for(ring, clock), issue(stranger, clock), "unknown key id")


def test_missing_kid_is_an_unknown_key(node_a: tuple[KeyRing, SigningKey], clock: FakeClock) -> None:
    ring, key = node_a
    token = jwt.encode(
        {"alg": ALGORITHM, "typ": "at+jwt"}, parts(issue(key, clock))[1], key.private, algorithms=[ALGORITHM]
    )
    refused(verifier_for(ring, clock), token, "unknown key id")


def test_wrong_audience_is_refused(node_a: tuple[KeyRing, SigningKey], clock: FakeClock) -> None:
    ring, key = node_a
    refused(verifier_for(ring, clock), issue(key, clock, audience="https://other.example/fhir"), "wrong audience")


def test_audience_may_be_a_list_naming_us(node_a: tuple[KeyRing, SigningKey], clock: FakeClock) -> None:
    ring, key = node_a
    claims = {**parts(issue(key, clock))[1], "aud": ["https://other.example/fhir", AUDIENCE]}
    assert verifier_for(ring, clock).verify(sign_claims(key, claims)).audience == (
        "https://other.example/fhir",
        AUDIENCE,
    )


def test_untrusted_issuer_is_refused(node_a: tuple[KeyRing, SigningKey], clock: FakeClock) -> None:
    ring, key = node_a
    refused(verifier_for(ring, clock), issue(key, clock, issuer="https://evil.example"), "untrusted issuer")


def test_every_issuer_of_the_region_is_trusted(clock: FakeClock) -> None:
    ring, key_a = rotate(KeyRing(), "node-a", START)
    ring, key_b = rotate(ring, "node-b", START)
    verifier = TokenVerifier(
        ring, trusted_issuers={ISSUER, "https://node-b.lifeline.example/auth"}, audience=AUDIENCE, clock=clock
    )
    assert verifier.verify(issue(key_a, clock)).node == "node-a"
    assert verifier.verify(issue(key_b, clock, issuer="https://node-b.lifeline.example/auth")).node == "node-b"


def test_access_token_typ_is_required(node_a: tuple[KeyRing, SigningKey], clock: FakeClock) -> None:
    ring, key = node_a
    id_token = sign_claims(key, parts(issue(key, clock))[1], typ="JWT")
    refused(verifier_for(ring, clock), id_token, "not an access token")


def test_node_claim_must_own_the_signing_key(clock: FakeClock) -> None:
    ring, key_a = rotate(KeyRing(), "node-a", START)
    ring, _ = rotate(ring, "node-b", START)
    claims = {**parts(issue(key_a, clock))[1], "node": "node-b"}
    refused(verifier_for(ring, clock), sign_claims(key_a, claims), "token node does not own the signing key")


@pytest.mark.parametrize(
    "token",
    ["", "abc", "a.b", "a.b.c.d.e", "!!!.e30.sig", f"{b64(b'[1]')}.e30.sig", f"{b64(b'not json')}.e30.sig"],
)
def test_malformed_token_is_refused(node_a: tuple[KeyRing, SigningKey], clock: FakeClock, token: str) -> None:
    refused(verifier_for(node_a[0], clock), token, "malformed token")


def _deep(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


@pytest.mark.parametrize(
    "header",
    [
        _deep(2500),  # past the JSON parser's depth (RecursionError), yet under the length bound
        b'{"alg": "Ed25519", "kid": ' + _deep(2000) + b', "typ": "at+jwt"}',
        b"\xff\xfe not UTF-8",
        b'"a string"',
        b"null",
        b'{"alg": "Ed25519", "x": ' + b"9" * 5000 + b"}",  # past Python's integer-digit limit
    ],
    ids=["deep-array", "deep-kid", "not-utf8", "string", "null", "huge-number"],
)
def test_unreadable_header_is_refused_never_raised(
    node_a: tuple[KeyRing, SigningKey], clock: FakeClock, header: bytes
) -> None:
    ring, key = node_a
    _, payload, signature = issue(key, clock).split(".")
    refused(verifier_for(ring, clock), f"{b64(header)}.{payload}.{signature}", "malformed token")


def test_token_longer_than_the_bound_is_refused_before_parsing(
    node_a: tuple[KeyRing, SigningKey], clock: FakeClock
) -> None:
    ring, key = node_a
    header, payload, signature = issue(key, clock).split(".")
    deep = b64(_deep(5000))  # the finding: a 5,000-deep header
    assert len(deep) > tokens.MAX_TOKEN_LENGTH
    refused(verifier_for(ring, clock), f"{deep}.{payload}.{signature}", "token too long")
    padded = f"{header}.{payload}.{signature}" + "A" * tokens.MAX_TOKEN_LENGTH
    refused(verifier_for(ring, clock), padded, "token too long")


def test_sessions_epoch_travels_in_the_token(node_a: tuple[KeyRing, SigningKey], clock: FakeClock) -> None:
    ring, key = node_a
    token = issue(key, clock, sessions_epoch=3)
    assert parts(token)[1]["sessions_epoch"] == 3
    assert verifier_for(ring, clock).verify(token).sessions_epoch == 3
    assert verifier_for(ring, clock).verify(issue(key, clock)).sessions_epoch is None


@pytest.mark.parametrize("claim", ["exp", "iat", "sub", "client_id", "scope", "jti"])
def test_missing_required_claim_is_refused(node_a: tuple[KeyRing, SigningKey], clock: FakeClock, claim: str) -> None:
    ring, key = node_a
    claims = {name: value for name, value in parts(issue(key, clock))[1].items() if name != claim}
    with pytest.raises(InvalidToken) as caught:
        verifier_for(ring, clock).verify(sign_claims(key, claims))
    assert caught.value.reason.startswith(f"malformed token: claim '{claim}'")


def test_expired_token_is_refused_after_the_leeway(node_a: tuple[KeyRing, SigningKey], clock: FakeClock) -> None:
    ring, key = node_a
    token = issue(key, clock, lifetime=60)
    clock.now = START + 60 + 119
    assert verifier_for(ring, clock).verify(token).subject == "Practitioner/p1"  # expired, but within leeway
    clock.now = START + 60 + 120
    refused(verifier_for(ring, clock), token, "token expired")
    refused(verifier_for(ring, clock, leeway=0), issue(key, FakeClock(START - 61), lifetime=60), "token expired")


def test_issuer_clock_five_minutes_ahead_is_refused(clock: FakeClock) -> None:
    """Documented choice: iat/nbf further ahead than the leeway means a broken clock, refused loudly."""
    ring, key_b = rotate(KeyRing(), "node-b", START - 1000)
    token = issue(key_b, FakeClock(START + 300))
    refused(verifier_for(ring, clock, leeway=120), token, "token issued in the future")
    claims = {**parts(token)[1], "iat": START}
    refused(verifier_for(ring, clock, leeway=120), sign_claims(key_b, claims), "token not valid yet")


def test_issuer_clock_ahead_within_leeway_is_accepted(node_a: tuple[KeyRing, SigningKey], clock: FakeClock) -> None:
    ring, key = node_a
    assert verifier_for(ring, clock, leeway=120).verify(issue(key, FakeClock(START + 100))).issued_at == START + 100


def test_issuer_clock_behind_only_shortens_the_token(node_a: tuple[KeyRing, SigningKey], clock: FakeClock) -> None:
    ring, key = node_a
    assert verifier_for(ring, clock).verify(issue(key, FakeClock(START - 300))).expires_at == START + 3300
    refused(verifier_for(ring, clock), issue(key, FakeClock(START - 300), lifetime=60), "token expired")


def test_node_with_its_own_clock_off_keeps_logging_in_its_users(node_a: tuple[KeyRing, SigningKey]) -> None:
    ring, key = node_a
    wrong_clock = FakeClock(START + 300)
    verifier = verifier_for(ring, wrong_clock, leeway=120)
    assert verifier.verify(issue(key, wrong_clock)).subject == "Practitioner/p1"


def test_rotation_keeps_tokens_of_the_old_key_valid(node_a: tuple[KeyRing, SigningKey], clock: FakeClock) -> None:
    ring, old_key = node_a
    verifier = verifier_for(ring, clock)
    old_token = issue(old_key, clock)
    verifier.verify(old_token)
    rotated, new_key = rotate(ring, "node-a", START + 10)
    verifier.use_keys(rotated)
    clock.now = START + 1800
    assert verifier.verify(old_token).kid == old_key.kid
    assert verifier.verify(issue(new_key, clock)).kid == new_key.kid


def test_retired_key_past_not_after_is_refused(node_a: tuple[KeyRing, SigningKey], clock: FakeClock) -> None:
    ring, key = node_a
    token = issue(key, clock, lifetime=7200)
    retired = ring.retire(key.kid, START + 600)
    verifier = verifier_for(retired, clock)
    verifier.verify(token)
    clock.now = START + 600
    refused(verifier, token, "signing key retired")  # from the cache
    refused(verifier_for(retired, clock), token, "signing key retired")  # and from scratch


def count_signature_checks(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record each token that reaches joserfc, which still does the real work."""
    decoded: list[str] = []
    real_decode = tokens.jwt.decode

    def counting_decode(value: str, *args: Any, **kwargs: Any) -> jwt.Token:
        decoded.append(value)
        return real_decode(value, *args, **kwargs)

    monkeypatch.setattr(tokens.jwt, "decode", counting_decode)
    return decoded


def test_cache_returns_the_same_result_without_rechecking_the_signature(
    node_a: tuple[KeyRing, SigningKey], clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    ring, key = node_a
    decoded = count_signature_checks(monkeypatch)
    verifier = verifier_for(ring, clock)
    token = issue(key, clock, lifetime=60)
    first = verifier.verify(token)
    assert verifier.verify(token) is first and decoded == [token]
    clock.now = START + 60 + 120
    refused(verifier, token, "token expired")
    assert decoded == [token]


def test_cache_is_bounded_and_evicts_the_least_recently_used(
    node_a: tuple[KeyRing, SigningKey], clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    ring, key = node_a
    decoded = count_signature_checks(monkeypatch)
    verifier = verifier_for(ring, clock, cache_size=2)
    first, second, third = issue(key, clock), issue(key, clock), issue(key, clock)
    for token in (first, second, first, third):  # third evicts second, the least recently used
        verifier.verify(token)
    decoded.clear()
    verifier.verify(first)
    verifier.verify(third)
    assert decoded == []
    verifier.verify(second)
    assert decoded == [second]


def test_new_key_set_clears_the_cache(node_a: tuple[KeyRing, SigningKey], clock: FakeClock) -> None:
    ring, key = node_a
    verifier = verifier_for(ring, clock)
    token = issue(key, clock)
    verifier.verify(token)
    verifier.use_keys(KeyRing())
    refused(verifier, token, "unknown key id")


def test_failures_are_not_cached(node_a: tuple[KeyRing, SigningKey], clock: FakeClock) -> None:
    ring, key = node_a
    verifier = TokenVerifier(KeyRing(), trusted_issuers={ISSUER}, audience=AUDIENCE, clock=clock)
    token = issue(key, clock)
    refused(verifier, token, "unknown key id")
    verifier.use_keys(ring)
    assert verifier.verify(token).subject == "Practitioner/p1"


def test_verifier_needs_an_issuer_and_an_audience(node_a: tuple[KeyRing, SigningKey]) -> None:
    with pytest.raises(ValueError, match="trusted issuer"):
        TokenVerifier(node_a[0], trusted_issuers=[], audience=AUDIENCE)
