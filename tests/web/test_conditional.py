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
