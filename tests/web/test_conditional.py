"""Conditional create, update, delete and patch (https://hl7.org/fhir/R4/http.html#ccreate)."""

from __future__ import annotations

import uuid

from tests.conftest import assert_outcome, new_patient

FHIR = {"Content-Type": "application/fhir+json"}


def _identified(value: str) -> dict:
    return new_patient(identifier=[{"system": "urn:lifeline:test", "value": value}])


def test_conditional_create(client):
    value = uuid.uuid4().hex
    headers = {**FHIR, "If-None-Exist": f"identifier=urn:lifeline:test|{value}"}
    first = client.post("/fhir/Patient", json=_identified(value), headers=headers)
    assert first.status_code == 201
    second = client.post("/fhir/Patient", json=_identified(value), headers=headers)
    assert second.status_code == 200
    assert second.json()["id"] == first.json()["id"]
    found = client.get(f"/fhir/Patient?identifier=urn:lifeline:test|{value}").json()
    assert found["total"] == 1


def test_conditional_create_with_several_matches_is_412(client):
    family = f"Dup{uuid.uuid4().hex[:8]}"
    for _ in range(2):
        client.post("/fhir/Patient", json=new_patient(name=[{"family": family}]), headers=FHIR)
    response = client.post("/fhir/Patient", json=new_patient(), headers={**FHIR, "If-None-Exist": f"family={family}"})
    assert_outcome(response, 412)


def test_conditional_criteria_with_an_unknown_parameter_is_400(client):
    response = client.post("/fhir/Patient", json=new_patient(), headers={**FHIR, "If-None-Exist": "nonsense=1"})
    assert_outcome(response, 400, text="nonsense")


def test_conditional_update(client):
    value = uuid.uuid4().hex
    url = f"/fhir/Patient?identifier=urn:lifeline:test|{value}"
    created = client.put(url, json=_identified(value), headers=FHIR)
    assert created.status_code == 201, created.text
    pid = created.json()["id"]
    updated = client.put(url, json={**_identified(value), "gender": "male"}, headers=FHIR)
    assert updated.status_code == 200
    assert updated.json()["id"] == pid
    assert updated.headers["ETag"] == 'W/"2"'


def test_conditional_update_with_several_matches_is_412(client):
    family = f"Many{uuid.uuid4().hex[:8]}"
    for _ in range(2):
        client.post("/fhir/Patient", json=new_patient(name=[{"family": family}]), headers=FHIR)
    assert_outcome(client.put(f"/fhir/Patient?family={family}", json=new_patient(), headers=FHIR), 412)


def test_conditional_delete_and_patch(client):
    value = uuid.uuid4().hex
    pid = client.post("/fhir/Patient", json=_identified(value), headers=FHIR).json()["id"]
    criteria = f"identifier=urn:lifeline:test|{value}"
    patched = client.patch(
        f"/fhir/Patient?{criteria}",
        json=[{"op": "add", "path": "/active", "value": False}],
        headers={"Content-Type": "application/json-patch+json"},
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["id"] == pid
    assert client.delete(f"/fhir/Patient?{criteria}").status_code == 204
    assert client.get(f"/fhir/Patient/{pid}").status_code == 410
    assert client.delete(f"/fhir/Patient?{criteria}").status_code == 204


def test_type_level_write_without_criteria_is_refused(client):
    assert_outcome(client.delete("/fhir/Patient"), 405)


def test_put_with_if_none_match_star_creates_only_what_does_not_exist(client):
    """If-None-Match: * on PUT (RFC 9110 §13.1.2): a new resource is created, an existing one is 412."""
    pid = f"inm-{uuid.uuid4().hex[:12]}"
    url = f"/fhir/Patient/{pid}"
    headers = {**FHIR, "If-None-Match": "*"}
    created = client.put(url, json=new_patient(id=pid), headers=headers)
    assert created.status_code == 201, created.text
    refused = client.put(url, json=new_patient(id=pid, gender="male"), headers=headers)
    assert_outcome(refused, 412, code="conflict", text="If-None-Match")
    current = client.get(url)
    assert current.headers["ETag"] == 'W/"1"'
    assert current.json()["gender"] == "female"


def test_conditional_put_with_if_none_match_star_on_a_match_is_412(client):
    value = uuid.uuid4().hex
    url = f"/fhir/Patient?identifier=urn:lifeline:test|{value}"
    assert client.put(url, json=_identified(value), headers=FHIR).status_code == 201
    assert_outcome(client.put(url, json=_identified(value), headers={**FHIR, "If-None-Match": "*"}), 412)
    assert client.get(url).json()["entry"][0]["resource"]["meta"]["versionId"] == "1"


def test_put_with_if_none_match_naming_the_current_version_is_412(client):
    pid = f"inm-{uuid.uuid4().hex[:12]}"
    url = f"/fhir/Patient/{pid}"
    assert client.put(url, json=new_patient(id=pid), headers=FHIR).status_code == 201
    assert_outcome(client.put(url, json=new_patient(id=pid), headers={**FHIR, "If-None-Match": 'W/"1"'}), 412)
    other = client.put(url, json=new_patient(id=pid), headers={**FHIR, "If-None-Match": 'W/"7"'})
    assert other.status_code == 200, other.text


def test_transaction_entry_with_if_none_match_star_on_an_existing_resource_is_412(client):
    pid = f"inm-{uuid.uuid4().hex[:12]}"
    assert client.put(f"/fhir/Patient/{pid}", json=new_patient(id=pid), headers=FHIR).status_code == 201
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "resource": new_patient(id=pid, gender="male"),
                "request": {"method": "PUT", "url": f"Patient/{pid}", "ifNoneMatch": "*"},
            }
        ],
    }
    assert_outcome(client.post("/fhir", json=bundle, headers=FHIR), 412)
    assert client.get(f"/fhir/Patient/{pid}").json()["gender"] == "female"


def test_create_with_search_parameters_in_the_url_is_refused_naming_if_none_exist(client):
    """fhirpy's create(identifier=...) and get_or_create put the criteria in the POST's query string."""
    value = uuid.uuid4().hex
    criteria = f"identifier=urn:lifeline:test|{value}"
    first = client.post(f"/fhir/Patient?{criteria}", json=_identified(value), headers=FHIR)
    assert_outcome(first, 400, code="invalid", text="If-None-Exist")
    assert "identifier" in first.json()["issue"][0]["diagnostics"]
    assert client.get(f"/fhir/Patient?{criteria}").json()["total"] == 0
    # The parameters every interaction takes stay allowed.
    formatted = client.post("/fhir/Patient?_format=json&_pretty=true", json=_identified(value), headers=FHIR)
    assert formatted.status_code == 201, formatted.text
    assert client.get(f"/fhir/Patient?{criteria}").json()["total"] == 1


def test_transaction_create_with_search_parameters_in_the_url_is_refused(client):
    value = uuid.uuid4().hex
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "resource": _identified(value),
                "request": {"method": "POST", "url": f"Patient?identifier=urn:lifeline:test|{value}"},
            }
        ],
    }
    assert_outcome(client.post("/fhir", json=bundle, headers=FHIR), 400, text="If-None-Exist")
    assert client.get(f"/fhir/Patient?identifier=urn:lifeline:test|{value}").json()["total"] == 0
