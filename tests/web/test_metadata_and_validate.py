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


def test_audit_event_lists_only_what_the_audit_trail_answers(client):
    """AuditEvent is written by Lifeline alone: its writes are 405 and not listed; what is listed works."""
    client.post("/fhir/Patient", json=new_patient(), headers=FHIR)  # leaves at least one audit record
    statement = client.get("/fhir/metadata").json()
    audit = next(r for r in statement["rest"][0]["resource"] if r["type"] == "AuditEvent")
    listed = {i["code"] for i in audit["interaction"]}
    assert listed == {"read", "search-type"}
    assert audit["conditionalCreate"] is False and audit["conditionalUpdate"] is False
    assert audit["conditionalDelete"] == "not-supported" and audit["updateCreate"] is False
    assert audit["versioning"] == "no-version" and audit["readHistory"] is False
    searched = client.get("/fhir/AuditEvent", params={"_count": "1"})
    assert searched.status_code == 200, searched.text
    record = searched.json()["entry"][0]["resource"]
    assert client.get(f"/fhir/AuditEvent/{record['id']}").status_code == 200
    for param in audit["searchParam"]:
        value = {"date": "ge2000-01-01", "patient": "Patient/x", "agent": "tests"}.get(param["name"], "x")
        found = client.get("/fhir/AuditEvent", params={param["name"]: value}, headers={"Prefer": "handling=strict"})
        assert found.status_code == 200, (param["name"], found.text)
    body = {k: v for k, v in record.items() if k not in ("id", "meta")}
    refused = {
        "create": client.post("/fhir/AuditEvent", json=body, headers=FHIR),
        "update": client.put(f"/fhir/AuditEvent/{record['id']}", json=record, headers=FHIR),
        "patch": client.patch(
            f"/fhir/AuditEvent/{record['id']}",
            json=[{"op": "remove", "path": "/outcome"}],
            headers={"Content-Type": "application/json-patch+json"},
        ),
        "delete": client.delete(f"/fhir/AuditEvent/{record['id']}"),
    }
    for code, response in refused.items():
        assert_outcome(response, 405)
        assert code not in listed


def test_patch_formats_list_json_merge_patch(client):
    statement = client.get("/fhir/metadata").json()
    assert set(statement["patchFormat"]) == {"application/json-patch+json", "application/merge-patch+json"}
