"""Bad tokens at the API: each is a 401 OperationOutcome with one message, whatever was wrong (which
check failed would guide a forger), never a 500, and no data."""

from __future__ import annotations

import base64
import json
import time

import pytest

from lifeline.identity.keys import new_signing_key
from lifeline.identity.tokens import TOKEN_REFUSED, issue_token
from tests.conftest import assert_outcome, new_patient

FHIR = {"Content-Type": "application/fhir+json"}


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


@pytest.fixture(scope="module")
def patient_id(client) -> str:
    response = client.post("/fhir/Patient", json=new_patient(), headers=FHIR)
    assert response.status_code == 201
    return str(response.json()["id"])


def _token(service, **changes) -> str:
    identity = service.identity
    claims = {
        "issuer": identity.issuer,
        "audience": identity.audience,
        "subject": "tests",
        "client_id": "tests",
        "scopes": "system/*.cruds",
        **changes,
    }
    key = claims.pop("key", identity.signing_key())
    return issue_token(key, **claims)


def _refused(client, token: str, patient_id: str) -> None:
    response = client.get(f"/fhir/Patient/{patient_id}", headers={"Authorization": f"Bearer {token}"})
    body = assert_outcome(response, 401, "login")
    assert [issue["diagnostics"] for issue in body["issue"]] == [TOKEN_REFUSED]
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert patient_id not in json.dumps(body)


def test_a_good_token_reads(client, service, patient_id):
    response = client.get(f"/fhir/Patient/{patient_id}", headers={"Authorization": f"Bearer {_token(service)}"})
    assert response.status_code == 200


def test_expired(client, service, patient_id):
    token = _token(service, lifetime=60, clock=lambda: time.time() - 3600)
    _refused(client, token, patient_id)


def test_tampered_payload(client, service, patient_id):
    header, payload, signature = _token(service, scopes="system/Patient.r").split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["scope"] = "system/*.cruds"  # scope escalation by editing the token
    _refused(client, f"{header}.{_b64(claims)}.{signature}", patient_id)


def test_alg_none(client, service, patient_id):
    header, payload, _ = _token(service).split(".")
    kid = json.loads(base64.urlsafe_b64decode(header + "=="))["kid"]
    unsigned = f"{_b64({'alg': 'none', 'typ': 'at+jwt', 'kid': kid})}.{payload}."
    _refused(client, unsigned, patient_id)


def test_wrong_audience(client, service, patient_id):
    _refused(client, _token(service, audience="http://elsewhere/fhir"), patient_id)


def test_wrong_issuer(client, service, patient_id):
    _refused(client, _token(service, issuer="http://impostor"), patient_id)


def test_a_key_no_node_of_the_region_holds(client, service, patient_id):
    stranger, _ = new_signing_key("stranger", int(time.time()))
    _refused(client, _token(service, key=stranger), patient_id)


@pytest.mark.parametrize("header", ["Basic dGVzdHM6dGVzdHM=", "Bearer", "Bearer not-a-jwt"])
def test_malformed_authorization(client, patient_id, header):
    response = client.get(f"/fhir/Patient/{patient_id}", headers={"Authorization": header})
    assert_outcome(response, 401, "login")


def _deep(depth: int) -> str:
    return base64.urlsafe_b64encode(b"[" * depth + b"]" * depth).decode().rstrip("=")


@pytest.mark.parametrize(
    "shape",
    ["deep-5000", "deep-2500", "huge", "bad-base64", "bad-json", "not-an-object", "not-utf8"],
)
def test_a_malformed_token_is_a_401_never_a_500(client, service, patient_id, shape):
    _, payload, signature = _token(service).split(".")
    header = {
        "deep-5000": _deep(5000),  # the finding: a RecursionError, answered 500
        "deep-2500": _deep(2500),  # as deep, but short enough to reach the parser
        "huge": "A" * 20_000,
        "bad-base64": "!!!%%%",
        "bad-json": _b64({}).replace("e30", "e3x"),
        "not-an-object": base64.urlsafe_b64encode(b"[1, 2]").decode().rstrip("="),
        "not-utf8": base64.urlsafe_b64encode(b"\xff\xfe\xfd").decode().rstrip("="),
    }[shape]
    _refused(client, f"{header}.{payload}.{signature}", patient_id)


def test_every_refusal_reads_the_same(client, service, patient_id):
    """Unknown key, bad signature, expiry: one text, so a forger learns nothing from the answer."""
    stranger, _ = new_signing_key("stranger", int(time.time()))
    header, payload, signature = _token(service).split(".")
    tokens = [
        _token(service, key=stranger),
        f"{header}.{payload}.{signature[:-4]}AAAA",
        _token(service, lifetime=60, clock=lambda: time.time() - 3600),
    ]
    answers = [client.get(f"/fhir/Patient/{patient_id}", headers={"Authorization": f"Bearer {t}"}) for t in tokens]
    assert {(a.status_code, a.text) for a in answers} == {(401, answers[0].text)}
