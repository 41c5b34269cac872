"""The privacy officers' review list: break-the-glass, a burst of records opened in an hour, a
colleague's record, a namesake's record — each marked reviewed with a note (issue 6)."""

from __future__ import annotations

import uuid
from typing import Any

import orjson
from starlette.testclient import TestClient

from lifeline.fhir.service import FhirService
from lifeline.identity import records
from lifeline.identity.passwords import hash_password
from tests.conftest import assert_outcome, put_resource
from tests.identity.helpers import CHEAP

BTG = {"system": "http://terminology.hl7.org/CodeSystem/v3-ActReason", "code": "BTG"}


def _token(service: FhirService, **claims: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {service.identity.issue(client_id='ward', lifetime=3600, **claims)}"}


def _parameters(**values: Any) -> dict[str, Any]:
    parts = [
        {"name": k, "valueCoding": v} if isinstance(v, dict) else {"name": k, "valueString": v}
        for k, v in values.items()
    ]
    return {"resourceType": "Parameters", "parameter": parts}


def _person(family: str, given: str | None = None) -> list[dict[str, Any]]:
    return [{"family": family, **({"given": [given]} if given else {})}]


def _items(answer: Any) -> dict[str, dict[str, Any]]:
    assert answer.status_code == 200, answer.text
    found = {}
    for entry in answer.json()["entry"]:
        parts = entry["resource"]["parameter"]
        values = {p["name"]: next(v for k, v in p.items() if k.startswith("value")) for p in parts}
        values["patients"] = [p["valueReference"]["reference"] for p in parts if p["name"] == "patient"]
        found[values["item"]] = values
    return found


def test_the_review_list_and_marking_items_reviewed(client: TestClient, service: FhirService) -> None:
    tag = uuid.uuid4().hex[:8]
    doc, colleague, officer = f"doc-{tag}", f"colleague-{tag}", f"officer-{tag}"
    family = f"Lund{tag}"
    put_resource(client, {"resourceType": "Practitioner", "id": doc, "name": _person(family, "Mette")})
    put_resource(client, {"resourceType": "Practitioner", "id": colleague, "name": _person(f"Berg{tag}", "Ole")})
    verifier = hash_password("x" * 12, CHEAP)
    records.put_user(service.repo, records.User(officer, officer, verifier, extra_roles=["privacy-officer"]))
    patients = [f"p{n}-{tag}" for n in range(22)]
    names = [_person(family, "Anna"), _person(f"Berg{tag}", "Ole")] + [_person(f"Other{n}") for n in range(20)]
    for patient, name in zip(patients, names, strict=True):
        put_resource(client, {"resourceType": "Patient", "id": patient, "name": name})
    # A clinician (only those break the glass) of a department that cares for none of them.
    put_resource(client, {"resourceType": "Organization", "id": f"dep-{tag}", "name": "Dermatology"})
    role = {
        "resourceType": "PractitionerRole",
        "id": f"role-{tag}",
        "practitioner": {"reference": f"Practitioner/{doc}"},
        "organization": {"reference": f"Organization/dep-{tag}"},
    }
    put_resource(client, role)
    doctor = _token(service, subject=f"u-{doc}", scopes="user/*.cruds", fhir_user=f"Practitioner/{doc}")
    body = _parameters(reason=BTG, text="Trauma call")
    for patient in patients:
        assert client.post(f"/fhir/Patient/{patient}/$break-the-glass", json=body, headers=doctor).status_code == 200
        assert client.get(f"/fhir/Patient/{patient}", headers=doctor).status_code == 200
    reviewer = _token(service, subject=officer, scopes="user/*.rs", fhir_user=f"Practitioner/{officer}")
    listed = _items(client.get("/fhir/AuditEvent/$review", headers=reviewer))
    mine = {k: v for k, v in listed.items() if v.get("staff") == {"reference": f"Practitioner/{doc}"}}
    kinds = sorted(v["kind"] for v in mine.values())
    assert kinds.count("break-the-glass") == 22
    assert {"burst", "namesake", "colleague"} <= set(kinds)
    namesake = next(v for v in mine.values() if v["kind"] == "namesake")
    assert namesake["patients"] == [f"Patient/{patients[0]}"]
    fellow = next(v for v in mine.values() if v["kind"] == "colleague")
    assert fellow["patients"] == [f"Patient/{patients[1]}"]
    # Marked reviewed: off the open list, on the full one with its note and reviewer.
    item = next(k for k, v in mine.items() if v["kind"] == "burst")
    mark = _parameters(item=item, note="Mass casualty drill")
    assert client.post("/fhir/AuditEvent/$review", json=mark, headers=reviewer).status_code == 200
    assert item not in _items(client.get("/fhir/AuditEvent/$review", headers=reviewer))
    full = _items(client.get("/fhir/AuditEvent/$review?status=all", headers=reviewer))
    assert full[item]["reviewed"] is True and full[item]["note"] == "Mass casualty drill"
    assert full[item]["reviewedBy"] == officer
    glass = next(k for k, v in mine.items() if v["kind"] == "break-the-glass")
    glass_mark = _parameters(item=glass, note="Justified")
    assert client.post("/fhir/AuditEvent/$review", json=glass_mark, headers=reviewer).status_code == 200
    grant = service.repo.read("_Grant", glass[len("btg-") :])
    assert grant is not None and orjson.loads(grant.content or "{}")["reviewed"] is True
    # Only privacy officers (and administrators); bad marks are clear errors.
    assert_outcome(client.get("/fhir/AuditEvent/$review", headers=doctor), 403)
    patient = _token(service, subject="citizen", scopes="patient/*.rs", fhir_user=f"Patient/{patients[0]}")
    assert_outcome(client.get("/fhir/AuditEvent/$review", headers=patient), 403)
    assert_outcome(client.post("/fhir/AuditEvent/$review", json={"resourceType": "Parameters"}, headers=reviewer), 400)
    unknown = _parameters(item="btg-nope", note="x")
    assert_outcome(client.post("/fhir/AuditEvent/$review", json=unknown, headers=reviewer), 404)
    assert_outcome(client.get("/fhir/AuditEvent/$review?status=maybe", headers=reviewer), 400)
