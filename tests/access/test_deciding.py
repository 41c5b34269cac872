"""Writes to what decides access (access/deciding.py, issue 19.2 and 19.3): allowed only to those
entitled, each one a security event in the audit trail, and none open to a patient."""

from __future__ import annotations

import uuid
from typing import Any

import orjson

from lifeline.audit.store import events_after
from lifeline.fhir.service import FhirService
from lifeline.identity import records
from tests.conftest import assert_outcome
from tests.web.test_access_policy import CPR

FHIR = {"Content-Type": "application/fhir+json"}


def _events(service: FhirService, subtype: str) -> list[dict[str, Any]]:
    found = []
    for record in events_after(service.repo, service.settings.node_id, 0, limit=1_000_000):
        event = orjson.loads(record.content)
        if any(s.get("code") == subtype for s in event.get("subtype") or []):
            found.append(event)
    return found


def _patients(event: dict[str, Any]) -> set[str]:
    return {e["what"]["reference"] for e in event.get("entity") or [] if "what" in e}


def _role(world: dict[str, Any], practitioner: str, department: str) -> dict[str, Any]:
    return {
        "resourceType": "PractitionerRole",
        "active": True,
        "practitioner": {"reference": f"Practitioner/{world[practitioner]}"},
        "organization": {"reference": f"Organization/{world[department]}"},
    }


def test_staff_cannot_give_themselves_a_department(client: Any, service: FhirService, world: dict[str, Any]) -> None:
    """Finding 2: doctor B names themself in department A and would see A's patients."""
    role = _role(world, "docB", "depA")
    assert_outcome(client.post("/fhir/PractitionerRole", json=role, headers={**FHIR, **world["docB_h"]}), 403)
    for moved in (
        {"resourceType": "Location", "id": world["wardA"], "managingOrganization": {"reference": "Organization/x"}},
        {"resourceType": "Organization", "id": world["depB"], "name": "B", "partOf": {"reference": "Organization/y"}},
    ):
        url = f"/fhir/{moved['resourceType']}/{moved['id']}"
        assert_outcome(client.put(url, json=moved, headers={**FHIR, **world["docB_h"]}), 403, text="administrator")
    # B still sees only B's patients.
    assert_outcome(client.get(f"/fhir/Patient/{world['enc']}", headers=world["docB_h"]), 403, "suppressed")


def test_an_administrator_may_and_it_is_a_security_event(
    client: Any, service: FhirService, world: dict[str, Any]
) -> None:
    admin = f"admin-{world['tag']}"
    records.put_user(
        service.repo,
        records.User(admin, world["docB"], "unused", extra_roles=["administrator"]),
        create=True,
    )
    token = service.identity.issue(
        subject=admin, client_id="tests", scopes="user/*.cruds", fhir_user=f"Practitioner/{world['docB']}", lifetime=600
    )
    headers = {**FHIR, "Authorization": f"Bearer {token}"}
    response = client.post("/fhir/PractitionerRole", json=_role(world, "docB", "depB"), headers=headers)
    assert response.status_code == 201, response.text
    written = response.json()["id"]
    changes = [
        e for e in _events(service, "access-change") if f"PractitionerRole/{written}" in e.get("outcomeDesc", "")
    ]
    assert len(changes) == 1 and changes[0]["agent"][0]["altId"] == admin


def test_a_patient_changes_only_their_phone_and_email(client: Any, world: dict[str, Any]) -> None:
    """Finding 3: a patient links themself to a stranger's mother, or takes her CPR number."""
    parent = world["patient_h"]("parent", "patient/*.cruds")
    current = client.get(f"/fhir/Patient/{world['parent']}", headers=parent).json()
    url = f"/fhir/Patient/{world['parent']}"
    linked = {**current, "link": [*current["link"], {"other": {"reference": f"RelatedPerson/rp3-{world['tag']}"}}]}
    linked["link"][-1]["type"] = "seealso"
    assert_outcome(client.put(url, json=linked, headers={**FHIR, **parent}), 403, text="telecom")
    stolen = {**current, "identifier": [*current["identifier"], {"system": CPR, "value": "0101701234"}]}
    assert_outcome(client.put(url, json=stolen, headers={**FHIR, **parent}), 403, text="identifier")
    assert_outcome(client.delete(url, headers=parent), 403)
    phone = {**current, "telecom": [{"system": "phone", "value": "+45 20 30 40 50"}]}
    assert client.put(url, json=phone, headers={**FHIR, **parent}).status_code == 200
    kin = {
        "resourceType": "RelatedPerson",
        "patient": {"reference": f"Patient/{world['parent']}"},
        "identifier": [{"system": CPR, "value": "0101701234"}],
    }
    assert_outcome(client.post("/fhir/RelatedPerson", json=kin, headers={**FHIR, **parent}), 403)


def test_staff_changes_to_family_and_identity_are_security_events(
    client: Any, service: FhirService, world: dict[str, Any]
) -> None:
    kin = {
        "resourceType": "RelatedPerson",
        "patient": {"reference": f"Patient/{world['enc']}"},
        "relationship": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-RoleCode", "code": "MTH"}]}],
        "identifier": [{"system": CPR, "value": f"010170{uuid.uuid4().int % 10000:04d}"}],
    }
    response = client.post("/fhir/RelatedPerson", json=kin, headers={**FHIR, **world["docA_h"]})
    assert response.status_code == 201, response.text
    written = response.json()["id"]
    changes = [e for e in _events(service, "access-change") if written in e.get("outcomeDesc", "")]
    assert len(changes) == 1 and _patients(changes[0]) == {f"Patient/{world['enc']}"}
    # A change of the patient's telecom alone is not a security event; of the identifier it is.
    url = f"/fhir/Patient/{world['enc']}"
    current = client.get(url, headers=world["docA_h"]).json()
    before = len(_events(service, "access-change"))
    phone = {**current, "telecom": [{"system": "phone", "value": "+45 11 22 33 44"}]}
    assert client.put(url, json=phone, headers={**FHIR, **world["docA_h"]}).status_code == 200
    assert len(_events(service, "access-change")) == before
    numbered = {**phone, "identifier": [{"system": "urn:lifeline:test", "value": uuid.uuid4().hex}]}
    assert client.put(url, json=numbered, headers={**FHIR, **world["docA_h"]}).status_code == 200
    assert len(_events(service, "access-change")) == before + 1


def test_a_care_relationship_written_by_staff_is_recorded(
    client: Any, service: FhirService, world: dict[str, Any]
) -> None:
    encounter = {
        "resourceType": "Encounter",
        "status": "in-progress",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
        "subject": {"reference": f"Patient/{world['enc']}"},
        "serviceProvider": {"reference": f"Organization/{world['depA']}"},
    }
    response = client.post("/fhir/Encounter", json=encounter, headers={**FHIR, **world["docA_h"]})
    assert response.status_code == 201, response.text
    written = response.json()["id"]
    made = [e for e in _events(service, "care-relationship") if written in e.get("outcomeDesc", "")]
    assert len(made) == 1 and _patients(made[0]) == {f"Patient/{world['enc']}"}


def test_changes_and_self_made_care_are_on_the_review_list(
    client: Any, service: FhirService, world: dict[str, Any]
) -> None:
    """Each change to what decides access is an item; so is opening a record after writing a
    care relationship for that patient oneself."""
    officer = f"officer-{world['tag']}"
    records.put_user(service.repo, records.User(officer, officer, "unused", extra_roles=["privacy-officer"]))
    reviewer = {
        "Authorization": "Bearer "
        + service.identity.issue(
            subject=officer, client_id="tests", scopes="user/*.rs", fhir_user=f"Practitioner/{officer}", lifetime=600
        )
    }
    kin = {
        "resourceType": "RelatedPerson",
        "patient": {"reference": f"Patient/{world['bed']}"},
        "relationship": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-RoleCode", "code": "FTH"}]}],
    }
    assert client.post("/fhir/RelatedPerson", json=kin, headers={**FHIR, **world["docA_h"]}).status_code == 201
    team = {
        "resourceType": "CareTeam",
        "status": "active",
        "subject": {"reference": f"Patient/{world['epi']}"},
        "participant": [{"member": {"reference": f"Practitioner/{world['docA']}"}}],
    }
    assert client.post("/fhir/CareTeam", json=team, headers={**FHIR, **world["docA_h"]}).status_code == 201
    admission = {
        "resourceType": "Encounter",
        "status": "in-progress",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "IMP"},
        "subject": {"reference": f"Patient/{world['bed']}"},
        "serviceProvider": {"reference": f"Organization/{world['depA']}"},
    }
    assert client.post("/fhir/Encounter", json=admission, headers={**FHIR, **world["docA_h"]}).status_code == 201
    assert client.get(f"/fhir/Patient/{world['bed']}", headers=world["docA_h"]).status_code == 200
    listed = client.get("/fhir/AuditEvent/$review?status=all", headers=reviewer)
    assert listed.status_code == 200, listed.text
    items = []
    for entry in listed.json()["entry"]:
        parts = entry["resource"]["parameter"]
        kind = next(p["valueCode"] for p in parts if p["name"] == "kind")
        patients = {p["valueReference"]["reference"] for p in parts if p["name"] == "patient"}
        staff = next((p["valueReference"]["reference"] for p in parts if p["name"] == "staff"), None)
        items.append((kind, staff, frozenset(patients)))
    mine = (f"Practitioner/{world['docA']}", frozenset({f"Patient/{world['bed']}"}))
    assert ("access-change", *mine) in items  # the RelatedPerson
    assert ("self-made-care", *mine) in items  # the Encounter, then the read
    team_change = ("access-change", f"Practitioner/{world['docA']}", frozenset({f"Patient/{world['epi']}"}))
    assert team_change in items  # a CareTeam names who may see the patient: always on the list
