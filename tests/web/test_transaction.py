"""batch and transaction Bundles (https://hl7.org/fhir/R4/http.html#transaction)."""

from __future__ import annotations

import base64
import uuid

import orjson

from tests.conftest import assert_outcome, new_patient

FHIR = {"Content-Type": "application/fhir+json"}


def _count(client, value: str) -> int:
    return client.get(f"/fhir/Patient?identifier=urn:lifeline:test|{value}").json()["total"]


def test_transaction_resolves_urn_uuid_references(client):
    patient_url = f"urn:uuid:{uuid.uuid4()}"
    value = uuid.uuid4().hex
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "fullUrl": f"urn:uuid:{uuid.uuid4()}",
                "resource": {
                    "resourceType": "Observation",
                    "status": "final",
                    "code": {"text": "pulse"},
                    "subject": {"reference": patient_url},
                },
                "request": {"method": "POST", "url": "Observation"},
            },
            {
                "fullUrl": patient_url,
                "resource": new_patient(identifier=[{"system": "urn:lifeline:test", "value": value}]),
                "request": {"method": "POST", "url": "Patient"},
            },
        ],
    }
    response = client.post("/fhir", json=bundle, headers=FHIR)
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["type"] == "transaction-response"
    assert [e["response"]["status"] for e in result["entry"]] == ["201 Created", "201 Created"]
    observation = result["entry"][0]["resource"]
    patient = result["entry"][1]["resource"]
    assert observation["subject"]["reference"] == f"Patient/{patient['id']}"


def test_transaction_is_all_or_nothing(client):
    value = uuid.uuid4().hex
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "resource": new_patient(identifier=[{"system": "urn:lifeline:test", "value": value}]),
                "request": {"method": "POST", "url": "Patient"},
            },
            {
                "resource": {"resourceType": "Patient", "id": "x", "gender": "robot"},
                "request": {"method": "PUT", "url": "Patient/x"},
            },
        ],
    }
    assert_outcome(client.post("/fhir", json=bundle, headers=FHIR), 400, text="Entry 1")
    assert _count(client, value) == 0
    # A failure found only while writing (If-Match) rolls back the earlier entries too.
    existing = client.post("/fhir/Patient", json=new_patient(), headers=FHIR).json()
    bundle["entry"][1] = {
        "resource": existing,
        "request": {"method": "PUT", "url": f"Patient/{existing['id']}", "ifMatch": 'W/"3"'},
    }
    assert_outcome(client.post("/fhir", json=bundle, headers=FHIR), 412)
    assert _count(client, value) == 0


def test_transaction_order_conditional_references_and_conditional_create(client):
    value = uuid.uuid4().hex
    identified = new_patient(identifier=[{"system": "urn:lifeline:test", "value": value}])
    pid = client.post("/fhir/Patient", json=identified, headers=FHIR).json()["id"]
    changed = client.post("/fhir/Patient", json=new_patient(), headers=FHIR).json()
    doomed = client.post("/fhir/Patient", json=new_patient(), headers=FHIR).json()["id"]
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {"request": {"method": "GET", "url": f"Patient/{changed['id']}"}},
            {
                "resource": {
                    "resourceType": "Observation",
                    "status": "final",
                    "code": {"text": "weight"},
                    "subject": {"reference": f"Patient?identifier=urn:lifeline:test|{value}"},
                },
                "request": {"method": "POST", "url": "Observation"},
            },
            {
                "resource": identified,
                "request": {"method": "POST", "url": "Patient", "ifNoneExist": f"identifier=urn:lifeline:test|{value}"},
            },
            {
                "resource": {**changed, "gender": "male"},
                "request": {"method": "PUT", "url": f"Patient/{changed['id']}"},
            },
            {"request": {"method": "DELETE", "url": f"Patient/{doomed}"}},
        ],
    }
    response = client.post("/fhir", json=bundle, headers=FHIR)
    assert response.status_code == 200, response.text
    entries = response.json()["entry"]
    # The GET runs after the PUT, whatever its place in the Bundle.
    assert entries[0]["resource"]["gender"] == "male"
    assert entries[1]["resource"]["subject"]["reference"] == f"Patient/{pid}"
    assert entries[2]["response"]["status"] == "200 OK"
    assert entries[3]["response"]["status"] == "200 OK"
    assert entries[4]["response"]["status"] == "204 No Content"
    assert client.get(f"/fhir/Patient/{doomed}").status_code == 410
    assert _count(client, value) == 1


def test_transaction_refuses_the_same_resource_twice(client):
    existing = client.post("/fhir/Patient", json=new_patient(), headers=FHIR).json()
    url = f"Patient/{existing['id']}"
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {"resource": existing, "request": {"method": "PUT", "url": url}},
            {"request": {"method": "DELETE", "url": url}},
        ],
    }
    assert_outcome(client.post("/fhir", json=bundle, headers=FHIR), 400, text="more than once")


def test_transaction_unresolved_references_fail(client):
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "resource": {
                    "resourceType": "Observation",
                    "status": "final",
                    "code": {"text": "x"},
                    "subject": {"reference": f"urn:uuid:{uuid.uuid4()}"},
                },
                "request": {"method": "POST", "url": "Observation"},
            },
        ],
    }
    assert_outcome(client.post("/fhir", json=bundle, headers=FHIR), 400, text="names no entry")
    bundle["entry"][0]["resource"]["subject"]["reference"] = f"Patient?identifier=urn:lifeline:test|{uuid.uuid4()}"
    assert_outcome(client.post("/fhir", json=bundle, headers=FHIR), 400, text="matches no resource")


def test_transaction_patch_entry_as_binary(client):
    existing = client.post("/fhir/Patient", json=new_patient(), headers=FHIR).json()
    patch = base64.b64encode(orjson.dumps([{"op": "replace", "path": "/gender", "value": "male"}])).decode()
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "resource": {"resourceType": "Binary", "contentType": "application/json-patch+json", "data": patch},
                "request": {"method": "PATCH", "url": f"Patient/{existing['id']}"},
            },
        ],
    }
    response = client.post("/fhir", json=bundle, headers=FHIR)
    assert response.status_code == 200, response.text
    assert client.get(f"/fhir/Patient/{existing['id']}").json()["gender"] == "male"


def test_batch_runs_entries_on_their_own(client):
    value = uuid.uuid4().hex
    bundle = {
        "resourceType": "Bundle",
        "type": "batch",
        "entry": [
            {
                "resource": new_patient(identifier=[{"system": "urn:lifeline:test", "value": value}]),
                "request": {"method": "POST", "url": "Patient"},
            },
            {"request": {"method": "GET", "url": f"Patient/{uuid.uuid4()}"}},
            {
                "resource": {"resourceType": "Patient", "gender": "robot"},
                "request": {"method": "POST", "url": "Patient"},
            },
        ],
    }
    response = client.post("/fhir", json=bundle, headers=FHIR)
    assert response.status_code == 200, response.text
    entries = response.json()["entry"]
    assert entries[0]["response"]["status"] == "201 Created"
    assert entries[1]["response"]["status"] == "404"
    assert entries[1]["response"]["outcome"]["resourceType"] == "OperationOutcome"
    assert entries[2]["response"]["status"] == "400"
    assert _count(client, value) == 1


def test_bundle_errors(client):
    assert_outcome(client.post("/fhir", json={"resourceType": "Patient"}, headers=FHIR), 400)
    assert_outcome(client.post("/fhir", json={"resourceType": "Bundle", "type": "collection"}, headers=FHIR), 400)
    no_request = {"resourceType": "Bundle", "type": "transaction", "entry": [{"resource": new_patient()}]}
    assert_outcome(client.post("/fhir", json=no_request, headers=FHIR), 400)


def test_relative_references_resolve_against_the_entrys_restful_full_url(client):
    """R4 bundle.html "Resolving references in Bundles" (the Bundle-bundle-references example): in an
    entry with fullUrl http://example.com/fhir/Observation/1, `Patient/0` is the entry with fullUrl
    http://example.com/fhir/Patient/0, rewritten to the id the server gave it."""
    value = uuid.uuid4().hex
    other_base = "http://example.org/other/fhir"
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "fullUrl": "http://example.com/fhir/Observation/1",
                "resource": {
                    "resourceType": "Observation",
                    "status": "final",
                    "code": {"text": "pulse"},
                    "subject": {"reference": "Patient/0"},
                    "performer": [{"reference": f"{other_base}/Practitioner/9"}],
                },
                "request": {"method": "POST", "url": "Observation"},
            },
            {
                "fullUrl": "http://example.com/fhir/Patient/0",
                "resource": new_patient(identifier=[{"system": "urn:lifeline:test", "value": value}]),
                "request": {"method": "POST", "url": "Patient"},
            },
            {
                "fullUrl": f"{other_base}/Patient/0",
                "resource": new_patient(),
                "request": {"method": "POST", "url": "Patient"},
            },
            {
                # No fullUrl of this base is Patient/0: the reference stays as it is.
                "fullUrl": "http://example.net/fhir/Observation/2",
                "resource": {
                    "resourceType": "Observation",
                    "status": "final",
                    "code": {"text": "pulse"},
                    "subject": {"reference": "Patient/0"},
                },
                "request": {"method": "POST", "url": "Observation"},
            },
            {
                # A urn:uuid: fullUrl has no base: Patient/0 is on the server.
                "fullUrl": f"urn:uuid:{uuid.uuid4()}",
                "resource": {
                    "resourceType": "Observation",
                    "status": "final",
                    "code": {"text": "pulse"},
                    "subject": {"reference": "Patient/0"},
                },
                "request": {"method": "POST", "url": "Observation"},
            },
        ],
    }
    response = client.post("/fhir", json=bundle, headers=FHIR)
    assert response.status_code == 200, response.text
    entries = response.json()["entry"]
    patient_id = entries[1]["resource"]["id"]
    assert patient_id != "0"
    observation = client.get(f"/fhir/Observation/{entries[0]['resource']['id']}").json()
    assert observation["subject"]["reference"] == f"Patient/{patient_id}"
    assert observation["performer"] == [{"reference": f"{other_base}/Practitioner/9"}]
    assert entries[3]["resource"]["subject"]["reference"] == "Patient/0"
    assert entries[4]["resource"]["subject"]["reference"] == "Patient/0"
    found = client.get(f"/fhir/Observation?subject=Patient/{patient_id}").json()
    assert found["total"] == 1


def test_relative_reference_to_an_updated_entry_under_a_restful_full_url(client):
    pid = f"ref-{uuid.uuid4().hex[:12]}"
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "fullUrl": "http://example.com/fhir/Observation/1",
                "resource": {
                    "resourceType": "Observation",
                    "status": "final",
                    "code": {"text": "pulse"},
                    "subject": {"reference": "Patient/a"},
                },
                "request": {"method": "POST", "url": "Observation"},
            },
            {
                "fullUrl": "http://example.com/fhir/Patient/a",
                "resource": new_patient(id=pid),
                "request": {"method": "PUT", "url": f"Patient/{pid}"},
            },
        ],
    }
    response = client.post("/fhir", json=bundle, headers=FHIR)
    assert response.status_code == 200, response.text
    assert response.json()["entry"][0]["resource"]["subject"]["reference"] == f"Patient/{pid}"
