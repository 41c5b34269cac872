"""GET /metadata and $validate."""

from __future__ import annotations

from tests.conftest import assert_outcome, new_patient

FHIR = {"Content-Type": "application/fhir+json"}


def test_capability_statement_says_what_the_server_does(client):
    response = client.get("/fhir/metadata")
    assert response.status_code == 200
    statement = response.json()
    assert statement["resourceType"] == "CapabilityStatement"
    assert statement["fhirVersion"] == "4.0.1"
    rest = statement["rest"][0]
    assert {i["code"] for i in rest["interaction"]} == {"transaction", "batch", "search-system", "history-system"}
    by_type = {r["type"]: r for r in rest["resource"]}
    assert len(by_type) > 140
    patient = by_type["Patient"]
    assert {i["code"] for i in patient["interaction"]} >= {"read", "vread", "update", "patch", "delete", "create"}
    params = {p["name"]: p["type"] for p in patient["searchParam"]}
    assert params["identifier"] == "token"
    assert params["birthdate"] == "date"
    assert params["general-practitioner"] == "reference"
    security = rest["security"]
    assert security["service"][0]["coding"][0]["code"] == "SMART-on-FHIR"
    uris = {e["url"]: e["valueUri"] for e in security["extension"][0]["extension"]}
    assert uris == {"authorize": "http://testserver/oauth/authorize", "token": "http://testserver/oauth/token"}


def test_the_capability_statement_needs_no_token_and_validate_does(client):
    assert client.get("/fhir/metadata", headers={"Authorization": ""}).status_code == 200
    assert_outcome(
        client.post("/fhir/Patient/$validate", json=new_patient(), headers={**FHIR, "Authorization": ""}), 401
    )


def test_validate_a_valid_and_an_invalid_resource(client):
    ok = client.post("/fhir/Patient/$validate", json=new_patient(), headers=FHIR)
    assert ok.status_code == 200
    assert ok.json()["resourceType"] == "OperationOutcome"
    bad = client.post("/fhir/Patient/$validate", json=new_patient(gender="robot", hobby="chess"), headers=FHIR)
    body = assert_outcome(bad, 400)
    assert len(body["issue"]) >= 2
    wrapped = {"resourceType": "Parameters", "parameter": [{"name": "resource", "resource": new_patient()}]}
    assert client.post("/fhir/Patient/$validate", json=wrapped, headers=FHIR).status_code == 200


def test_unknown_operation(client):
    assert_outcome(client.post("/fhir/Patient/$everything-else", json={}, headers=FHIR), 405)
