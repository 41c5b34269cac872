"""Citizen login against a real OpenID Connect provider on loopback (see citizen_provider.py)."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from lifeline.identity.citizen import (
    UNAVAILABLE_MESSAGE,
    CitizenIdentity,
    CitizenLogin,
    CitizenLoginConfig,
    CitizenLoginError,
    LoginState,
    normalise_cpr,
)
from tests.identity.citizen_provider import (
    PROVIDER_WARNINGS,
    REDIRECT_URI,
    CitizenProvider,
    running_citizen_provider,
    serve_wsgi,
)

pytestmark = PROVIDER_WARNINGS


def config_for(provider: CitizenProvider) -> CitizenLoginConfig:
    return CitizenLoginConfig(
        issuer=provider.issuer,
        client_id=provider.client_id,
        client_secret=provider.client_secret,
        redirect_uri=REDIRECT_URI,
        scopes="openid profile",
        timeout=2,
    )


@pytest.fixture(scope="module")
def provider() -> Iterator[CitizenProvider]:
    """One provider for the module (each login uses a fresh subject); tests that stop a provider start their own."""
    with running_citizen_provider() as running:
        yield running


@pytest.fixture
def login(provider: CitizenProvider) -> Iterator[CitizenLogin]:
    with CitizenLogin(config_for(provider)) as citizen_login:
        yield citizen_login


def failure(login: CitizenLogin, params: dict[str, str], state: LoginState | None) -> CitizenLoginError:
    with pytest.raises(CitizenLoginError) as caught:
        login.finish(params, state)
    return caught.value


def test_round_trip_returns_the_citizen(login: CitizenLogin, provider: CitizenProvider) -> None:
    url, state = login.begin()
    # The state record goes through the browser session as plain strings.
    kept = LoginState.from_dict(state.as_dict())

    identity = login.finish(provider.log_in_as_citizen(url, "0101701234", name="Jens Jensen"), kept)

    assert identity == CitizenIdentity(
        cpr="0101701234", name="Jens Jensen", subject=identity.subject, issuer=provider.issuer
    )
    assert identity.subject.startswith("citizen-")


def test_authorisation_url_carries_state_nonce_and_pkce_s256(login: CitizenLogin) -> None:
    url, state = login.begin()

    params = httpx.URL(url).params
    digest = hashlib.sha256(state.code_verifier.encode()).digest()
    assert params["code_challenge"] == base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    assert params["code_challenge_method"] == "S256"
    assert (params["state"], params["nonce"]) == (state.state, state.nonce)
    assert (params["response_type"], params["redirect_uri"], params["scope"]) == (
        "code",
        REDIRECT_URI,
        "openid profile",
    )
    assert state.code_verifier not in url


def test_cpr_written_with_a_dash_is_normalised(login: CitizenLogin, provider: CitizenProvider) -> None:
    url, state = login.begin()

    identity = login.finish(provider.log_in_as_citizen(url, "010170-1234"), state)

    assert identity.cpr == "0101701234"
    assert identity.name is None


@pytest.mark.parametrize(
    ("raw", "cpr"), [("0101701234", "0101701234"), ("010170-1234", "0101701234"), (" 3112999999 ", "3112999999")]
)
def test_normalise_cpr_accepts_both_spellings(raw: str, cpr: str) -> None:
    assert normalise_cpr(raw) == cpr


@pytest.mark.parametrize(
    "raw", ["010170123", "01017012345", "0101-701234", "010170_1234", "０１０１７０１２３４", 101701234, None]
)
def test_normalise_cpr_rejects_anything_else(raw: object) -> None:
    with pytest.raises(ValueError, match="10 digits"):
        normalise_cpr(raw)


@pytest.mark.parametrize("claims", [{"name": "No Number"}, {"cpr": "12345"}])
def test_missing_or_malformed_cpr_claim_is_a_clear_error(
    login: CitizenLogin, provider: CitizenProvider, claims: dict[str, object]
) -> None:
    url, state = login.begin()

    error = failure(login, provider.log_in(url, claims), state)

    assert (error.unavailable, error.reason, error.status) == (False, "cpr_missing", 401)
    assert "did not include a valid CPR number" in error.message
    assert "cpr" in error.detail


def test_state_from_another_login_is_refused(login: CitizenLogin, provider: CitizenProvider) -> None:
    url, _ = login.begin()
    _, other_state = login.begin()

    error = failure(login, provider.log_in_as_citizen(url, "0101701234"), other_state)

    assert (error.unavailable, error.reason) == (False, "state_mismatch")
    assert "does not belong to this browser session" in error.message


def test_callback_without_a_login_in_progress_is_refused(login: CitizenLogin, provider: CitizenProvider) -> None:
    url, _ = login.begin()

    error = failure(login, provider.log_in_as_citizen(url, "0101701234"), LoginState.from_dict({"state": 42}))

    assert (error.unavailable, error.reason) == (False, "no_login_in_progress")


def test_nonce_mismatch_is_refused(login: CitizenLogin, provider: CitizenProvider) -> None:
    url, state = login.begin()
    tampered = dataclasses.replace(state, nonce="not-the-nonce-we-sent")

    error = failure(login, provider.log_in_as_citizen(url, "0101701234"), tampered)

    assert (error.unavailable, error.reason) == (False, "nonce_mismatch")
    assert "start the login again" in error.message


def test_replayed_code_is_refused_by_the_provider(login: CitizenLogin, provider: CitizenProvider) -> None:
    url, state = login.begin()
    params = provider.log_in_as_citizen(url, "0101701234")
    login.finish(params, state)

    error = failure(login, params, state)

    assert (error.unavailable, error.reason) == (False, "code_rejected")
    assert "invalid_grant" in error.detail
    assert "already used" in error.message


def test_citizen_who_denies_at_the_provider_gets_a_clear_message(
    login: CitizenLogin, provider: CitizenProvider
) -> None:
    url, state = login.begin()

    error = failure(login, provider.deny(url), state)

    assert (error.unavailable, error.reason) == (False, "access_denied")
    assert "cancelled or refused" in error.message


def test_expired_id_token_is_refused() -> None:
    now = [datetime.now(UTC)]
    with running_citizen_provider() as provider, CitizenLogin(config_for(provider), clock=lambda: now[0]) as login:
        url, state = login.begin()
        params = provider.log_in_as_citizen(url, "0101701234")
        now[0] += timedelta(hours=2)  # the provider's ID tokens live one hour

        error = failure(login, params, state)

    assert (error.unavailable, error.reason, error.detail) == (False, "invalid_token", "ID token expired")


def test_provider_stopped_between_begin_and_finish_is_unavailable() -> None:
    with httpx.Client(timeout=2) as http:
        with running_citizen_provider() as provider:
            login = CitizenLogin(config_for(provider), http=http)
            url, state = login.begin()
            params = provider.log_in_as_citizen(url, "0101701234")
        # The provider's port is closed now; the login still holds the discovery document.
        error = failure(login, params, state)

    assert (error.unavailable, error.message, error.status) == (True, UNAVAILABLE_MESSAGE, 503)
    assert "ConnectError" in error.detail


def test_provider_down_before_begin_is_unavailable() -> None:
    with running_citizen_provider() as provider:
        config = config_for(provider)

    with CitizenLogin(config) as login, pytest.raises(CitizenLoginError) as caught:
        login.begin()

    assert (caught.value.unavailable, str(caught.value)) == (True, UNAVAILABLE_MESSAGE)


def test_provider_that_never_answers_is_unavailable_after_the_timeout() -> None:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)  # accepts connections in the kernel, never reads them
        issuer = f"http://127.0.0.1:{silent.getsockname()[1]}"
        config = CitizenLoginConfig(issuer, "lifeline", "secret", REDIRECT_URI, timeout=0.3)
        with CitizenLogin(config) as login, pytest.raises(CitizenLoginError) as caught:
            login.begin()

    assert (caught.value.unavailable, caught.value.message) == (True, UNAVAILABLE_MESSAGE)
    assert "Timeout" in caught.value.detail


def test_after_an_outage_the_provider_is_not_asked_again_until_retry_after() -> None:
    now = [datetime.now(UTC)]
    with running_citizen_provider(register_client=False) as provider:
        config = config_for(provider)
    port = httpx.URL(config.issuer).port or 0
    with CitizenLogin(config, clock=lambda: now[0]) as login:
        with pytest.raises(CitizenLoginError):
            login.begin()
        with running_citizen_provider(port, register_client=False):
            with pytest.raises(CitizenLoginError) as caught:
                login.begin()
            assert (caught.value.unavailable, caught.value.message) == (True, UNAVAILABLE_MESSAGE)
            assert "not asking yet" in caught.value.detail

            now[0] += timedelta(seconds=config.retry_after)
            url, _ = login.begin()

    assert url.startswith(config.issuer)


def _down_for_maintenance(environ: object, start_response: object) -> list[bytes]:
    start_response("503 Service Unavailable", [("Content-Type", "text/html")])  # type: ignore[operator]
    return [b"<h1>Planned maintenance</h1>"]


def test_provider_answering_5xx_is_unavailable() -> None:
    with serve_wsgi(_down_for_maintenance) as issuer:  # type: ignore[arg-type]
        config = CitizenLoginConfig(issuer, "lifeline", "secret", REDIRECT_URI)
        with CitizenLogin(config) as login, pytest.raises(CitizenLoginError) as caught:
            login.begin()

    assert (caught.value.unavailable, caught.value.message) == (True, UNAVAILABLE_MESSAGE)
    assert "503" in caught.value.detail


def test_rotated_provider_keys_are_fetched_again() -> None:
    with httpx.Client(timeout=2) as http:
        with running_citizen_provider(register_client=False) as first:
            login = CitizenLogin(config_for(first), http=http)
            url, state = login.begin()
            login.finish(first.log_in_as_citizen(url, "0101701234"), state)
        # A restart on the same port: same issuer, fresh signing key, so the cached key no longer verifies.
        with running_citizen_provider(httpx.URL(first.issuer).port or 0, register_client=False) as second:
            url, state = login.begin()
            identity = login.finish(second.log_in_as_citizen(url, "0202802345"), state)

    assert identity.cpr == "0202802345"
