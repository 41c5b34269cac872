"""The authorisation server over the real ASGI app: discovery, authorization code with PKCE,
refresh rotation, backend services with private_key_jwt, and patients through the citizen provider."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
import time
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from joserfc import jwt
from joserfc.jwk import ECKey, OKPKey
from starlette.testclient import TestClient
from typer.testing import CliRunner

from lifeline.cli.main import app as cli
from lifeline.fhir.service import FhirService
from lifeline.identity import records, revocation
from lifeline.identity.records import Client
from tests.identity.citizen_provider import CitizenProvider, running_citizen_provider
from tests.web.test_login_pages import (
    PROVIDER_WARNINGS,
    Clock,
    add_user,
    browser,
    citizen_login,
    citizen_service,
    csrf_of,
    log_in,
    new_cpr_patient,
)

pytestmark = PROVIDER_WARNINGS
APP = "https://app.example/callback"
TOKEN_URL = "http://testserver/oauth/token"


def public_client(service: FhirService, scopes: str) -> str:
    client_id = f"app-{uuid.uuid4().hex[:8]}"
    records.put_client(service.repo, Client(client_id, "public", scopes, [APP], name="Test app"), create=True)
    return client_id


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def authorize(web: TestClient, client_id: str, scope: str, challenge: str, patient: str | None = None) -> str:
    """Through the consent page to the redirect back to the app; returns the code."""
    query = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": APP,
        "scope": scope,
        "state": "s-123",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        "aud": "http://testserver/fhir",
    }
    consent = web.get("/oauth/authorize", params=query)
    assert consent.status_code == 200, consent.text
    request_id = re.search(r'name="request" value="([^"]+)"', consent.text)
    assert request_id is not None
    form = {"csrf": csrf_of(consent.text), "request": request_id.group(1)}
    form |= {"decision": "approve"} | ({"patient": patient} if patient else {})
    back = web.post("/oauth/authorize", data=form)
    assert back.status_code == 303 and back.headers["location"].startswith(APP + "?"), back.text
    params = parse_qs(urlsplit(back.headers["location"]).query)
    assert params["state"] == ["s-123"]
    return params["code"][0]


def exchange(web: TestClient, client_id: str, code: str, verifier: str) -> Any:
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": APP, "client_id": client_id}
    return web.post("/oauth/token", data=form | {"code_verifier": verifier})


@pytest.fixture
def practitioner(client: TestClient) -> str:
    practitioner_id = uuid.uuid4().hex
    resource = {"resourceType": "Practitioner", "id": practitioner_id, "name": [{"family": "Hansen"}]}
    answer = client.put(
        f"/fhir/Practitioner/{practitioner_id}", json=resource, headers={"Content-Type": "application/fhir+json"}
    )
    assert answer.status_code == 201
    return practitioner_id


def staff_browser(service: FhirService, practitioner: str) -> tuple[TestClient, Clock]:
    clock = Clock()
    web = browser(service, clock)
    log_in(web, add_user(service, practitioner), clock)
    return web, clock


def test_discovery_documents_need_no_token(service: FhirService) -> None:
    with browser(service) as web:
        smart = web.get("/fhir/.well-known/smart-configuration")
        assert smart.status_code == 200, smart.text
        body = smart.json()
        assert body["code_challenge_methods_supported"] == ["S256"]
        assert body["token_endpoint"] == TOKEN_URL
        assert "private_key_jwt" in body["token_endpoint_auth_methods_supported"]
        assert "permission-v2" in body["capabilities"]
        assert web.get("/.well-known/openid-configuration").json()["issuer"] == "http://testserver"
        keys = web.get("/.well-known/jwks.json").json()["keys"]
        assert keys and all("d" not in key for key in keys)


def test_code_flow_with_pkce_then_a_fhir_read(service: FhirService, practitioner: str) -> None:
    client_id = public_client(service, "openid fhirUser offline_access user/Practitioner.rs")
    web, _ = staff_browser(service, practitioner)
    with web:
        verifier, challenge = pkce()
        code = authorize(web, client_id, "openid fhirUser user/Practitioner.rs user/Patient.rs", challenge)
        answer = exchange(web, client_id, code, verifier)
        assert answer.status_code == 200, answer.text
        tokens = answer.json()
        assert tokens["token_type"] == "Bearer" and tokens["scope"] == "user/Practitioner.rs openid fhirUser"
        assert "refresh_token" not in tokens  # offline_access was not asked for
        keys = OKPKey.import_key(web.get("/.well-known/jwks.json").json()["keys"][0])
        id_token = jwt.decode(tokens["id_token"], keys, algorithms=["Ed25519"]).claims
        assert (id_token["aud"], id_token["fhirUser"]) == (client_id, f"Practitioner/{practitioner}")
        headers = {"Authorization": f"Bearer {tokens['access_token']}"}
        read = web.get(f"/fhir/Practitioner/{practitioner}", headers=headers)
        assert read.status_code == 200, read.text
        assert web.get("/fhir/Patient?_count=1", headers=headers).status_code == 403

        replay = exchange(web, client_id, code, verifier)
        assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"


def test_wrong_pkce_verifier_and_wrong_redirect_are_refused(service: FhirService, practitioner: str) -> None:
    client_id = public_client(service, "user/Practitioner.rs")
    web, _ = staff_browser(service, practitioner)
    with web:
        verifier, challenge = pkce()
        code = authorize(web, client_id, "user/Practitioner.rs", challenge)
        answer = exchange(web, client_id, code, verifier + "x")
        assert answer.status_code == 400 and answer.json()["error"] == "invalid_grant"
        code = authorize(web, client_id, "user/Practitioner.rs", challenge)
        form = {"grant_type": "authorization_code", "code": code, "redirect_uri": APP + "x", "client_id": client_id}
        assert web.post("/oauth/token", data=form | {"code_verifier": verifier}).json()["error"] == "invalid_grant"


def test_unregistered_redirect_uri_never_redirects(service: FhirService, practitioner: str) -> None:
    client_id = public_client(service, "user/Practitioner.rs")
    web, _ = staff_browser(service, practitioner)
    with web:
        for uri in ("https://evil.example/callback", APP + "/../x", APP + "?x=1"):
            query = {
                "response_type": "code",
                "client_id": client_id,
                "redirect_uri": uri,
                "scope": "user/Practitioner.rs",
            }
            answer = web.get(
                "/oauth/authorize", params=query | {"code_challenge": pkce()[1], "code_challenge_method": "S256"}
            )
            assert answer.status_code == 400 and "location" not in answer.headers


def test_public_client_without_pkce_and_logged_out_user(service: FhirService) -> None:
    client_id = public_client(service, "user/Practitioner.rs")
    query = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": APP,
        "scope": "user/Practitioner.rs",
        "state": "q",
    }
    with browser(service) as web:
        refused = web.get("/oauth/authorize", params=query)
        assert refused.status_code == 303 and "error=invalid_request" in refused.headers["location"]
        to_login = web.get(
            "/oauth/authorize", params=query | {"code_challenge": pkce()[1], "code_challenge_method": "S256"}
        )
        assert to_login.status_code == 303 and to_login.headers["location"].startswith(
            "/login?next=%2Foauth%2Fauthorize"
        )


def test_refresh_tokens_rotate_and_a_reused_one_is_refused(service: FhirService, practitioner: str) -> None:
    client_id = public_client(service, "offline_access user/Practitioner.rs")
    web, _ = staff_browser(service, practitioner)
    with web:
        verifier, challenge = pkce()
        code = authorize(web, client_id, "offline_access user/Practitioner.rs", challenge)
        first = exchange(web, client_id, code, verifier).json()["refresh_token"]
        form = {"grant_type": "refresh_token", "client_id": client_id}
        second = web.post("/oauth/token", data=form | {"refresh_token": first})
        assert second.status_code == 200, second.text
        rotated = second.json()["refresh_token"]
        assert rotated != first
        reused = web.post("/oauth/token", data=form | {"refresh_token": first})
        assert reused.status_code == 400 and reused.json()["error"] == "invalid_grant"
        # The reuse revoked the family: the rotated token is dead too.
        assert web.post("/oauth/token", data=form | {"refresh_token": rotated}).status_code == 400


def test_refresh_token_dies_with_log_out_everywhere(service: FhirService, practitioner: str) -> None:
    client_id = public_client(service, "offline_access user/Practitioner.rs")
    web, _ = staff_browser(service, practitioner)
    with web:
        verifier, challenge = pkce()
        code = authorize(web, client_id, "offline_access user/Practitioner.rs", challenge)
        refresh = exchange(web, client_id, code, verifier).json()["refresh_token"]
        web.post("/logout/everywhere", data={"csrf": csrf_of(web.get("/login").text)})
        form = {"grant_type": "refresh_token", "client_id": client_id, "refresh_token": refresh}
        assert web.post("/oauth/token", data=form).json()["error"] == "invalid_grant"


def _read_until_refused(web: TestClient, path: str, token: str) -> int:
    """Read until 401, for at most a few times the second a user's state is kept (identity/revocation.py)."""
    deadline = time.monotonic() + 3 * revocation.STATE_SECONDS + 2
    while True:
        status = web.get(path, headers={"Authorization": f"Bearer {token}"}).status_code
        if status == 401 or time.monotonic() > deadline:
            return status
        time.sleep(0.1)


def _staff_access_token(web: TestClient, service: FhirService) -> str:
    client_id = public_client(service, "user/Practitioner.rs")
    verifier, challenge = pkce()
    answer = exchange(web, client_id, authorize(web, client_id, "user/Practitioner.rs", challenge), verifier)
    assert answer.status_code == 200, answer.text
    return str(answer.json()["access_token"])


def test_access_token_dies_at_once_when_the_user_is_disabled(service: FhirService, practitioner: str) -> None:
    clock, staff = Clock(), add_user(service, practitioner)
    with browser(service, clock) as web:
        log_in(web, staff, clock)
        token = _staff_access_token(web, service)
        path = f"/fhir/Practitioner/{practitioner}"
        assert web.get(path, headers={"Authorization": f"Bearer {token}"}).status_code == 200
        disabled = CliRunner().invoke(
            cli,
            ["users", "disable", staff.username, "--db", service.repo.url],
            env={"LIFELINE_KEK": service.settings.kek},
        )
        assert disabled.exit_code == 0, disabled.output
        started = time.monotonic()
        assert _read_until_refused(web, path, token) == 401  # not after the token's 15 minutes
        assert time.monotonic() - started < revocation.STATE_SECONDS + 1


def test_access_token_dies_with_log_out_everywhere(service: FhirService, practitioner: str) -> None:
    web, _ = staff_browser(service, practitioner)
    with web:
        token = _staff_access_token(web, service)
        path = f"/fhir/Practitioner/{practitioner}"
        assert web.get(path, headers={"Authorization": f"Bearer {token}"}).status_code == 200
        web.post("/logout/everywhere", data={"csrf": csrf_of(web.get("/login").text)})
        assert _read_until_refused(web, path, token) == 401


# Backend services (SMART Backend Services, private_key_jwt).


@pytest.fixture
def backend_client(service: FhirService) -> tuple[str, ECKey]:
    key = ECKey.generate_key("P-384", parameters={"kid": uuid.uuid4().hex}, private=True)
    client_id = f"backend-{uuid.uuid4().hex[:8]}"
    jwks = {"keys": [key.as_dict(private=False)]}
    records.put_client(service.repo, Client(client_id, "backend", "system/Patient.rs", jwks=jwks), create=True)
    return client_id, key


def assertion(client_id: str, key: ECKey, *, exp_in: float = 120, jti: str | None = None, aud: str = TOKEN_URL) -> str:
    now = int(time.time())
    claims = {"iss": client_id, "sub": client_id, "aud": aud, "exp": now + exp_in, "jti": jti or uuid.uuid4().hex}
    return jwt.encode({"alg": "ES384", "kid": key.kid}, claims, key, algorithms=["ES384"])


def backend_token(web: TestClient, signed: str, scope: str = "system/Patient.rs") -> Any:
    form = {
        "grant_type": "client_credentials",
        "scope": scope,
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        "client_assertion": signed,
    }
    return web.post("/oauth/token", data=form)


def test_client_credentials_with_a_private_key_jwt(service: FhirService, backend_client: tuple[str, ECKey]) -> None:
    client_id, key = backend_client
    with browser(service) as web:
        signed = assertion(client_id, key)
        answer = backend_token(web, signed, "system/Patient.rs system/Observation.rs")
        assert answer.status_code == 200, answer.text
        assert answer.json()["scope"] == "system/Patient.rs"
        headers = {"Authorization": f"Bearer {answer.json()['access_token']}"}
        assert web.get("/fhir/Patient?_count=1", headers=headers).status_code == 200

        replay = backend_token(web, signed)
        assert replay.status_code == 401 and "replay" in replay.json()["error_description"]
        expired = backend_token(web, assertion(client_id, key, exp_in=-10))
        assert expired.status_code == 401 and expired.json()["error"] == "invalid_client"
        too_long = backend_token(web, assertion(client_id, key, exp_in=3600))
        assert too_long.status_code == 401
        wrong_aud = backend_token(web, assertion(client_id, key, aud="https://elsewhere/token"))
        assert wrong_aud.status_code == 401
        other = ECKey.generate_key("P-384", private=True)  # signs under the registered key's kid
        forged = jwt.encode(
            {"alg": "ES384", "kid": key.kid},
            {"iss": client_id, "sub": client_id, "aud": TOKEN_URL, "exp": int(time.time()) + 60, "jti": "f"},
            other,
            algorithms=["ES384"],
        )
        assert backend_token(web, forged).status_code == 401


# Patients.


@pytest.fixture(scope="module")
def provider() -> Iterator[CitizenProvider]:
    with running_citizen_provider(register_client=False) as running:
        yield running


def test_patient_app_reads_the_patients_own_record(
    service: FhirService, client: TestClient, provider: CitizenProvider
) -> None:
    patient_id, cpr = new_cpr_patient(client)
    client_id = public_client(service, "openid fhirUser launch/patient patient/Patient.rs user/Patient.rs")
    with browser(citizen_service(service, provider.issuer)) as web:
        logged_in = citizen_login(web, provider, cpr)
        assert logged_in.status_code == 303 and logged_in.headers["location"] == "/", logged_in.text  # else: why
        verifier, challenge = pkce()
        code = authorize(web, client_id, "openid launch/patient patient/Patient.rs user/Patient.rs", challenge)
        tokens = exchange(web, client_id, code, verifier).json()
        assert tokens["patient"] == patient_id
        assert tokens["scope"] == "patient/Patient.rs openid launch/patient"  # no user/ scopes for patients
        headers = {"Authorization": f"Bearer {tokens['access_token']}"}
        read = web.get(f"/fhir/Patient/{patient_id}", headers=headers)
        assert read.status_code == 200 and read.json()["id"] == patient_id
