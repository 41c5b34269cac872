"""AuditEvent search from the audit trail: by patient, agent, date, action and outcome; privacy
officers see everyone's access, other staff their own, and a patient who looked at their record,
with the staff member's name, role and department and why (issue 6)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from starlette.testclient import TestClient

from lifeline.fhir.service import FhirService
from lifeline.identity import records
from lifeline.identity.passwords import hash_password
from tests.conftest import assert_outcome, put_resource
from tests.identity.helpers import CHEAP


@pytest.fixture(scope="module")
def ward(client: TestClient, service: FhirService) -> dict[str, Any]:
    tag = uuid.uuid4().hex[:8]
    ids = {name: f"{name}-{tag}" for name in ("dep", "doc", "role", "other", "officer", "p", "q", "enc", "encq")}
    put_resource(client, {"resourceType": "Organization", "id": ids["dep"], "name": "Cardiology"})
    for doc in ("doc", "other", "officer"):
        name = [{"given": ["Mette"], "family": f"Lund{doc}"}]
        put_resource(client, {"resourceType": "Practitioner", "id": ids[doc], "name": name})
    put_resource(
        client,
        {
            "resourceType": "PractitionerRole",
            "id": ids["role"],
            "practitioner": {"reference": f"Practitioner/{ids['doc']}"},
            "organization": {"reference": f"Organization/{ids['dep']}", "display": "Cardiology"},
            "code": [{"coding": [{"system": "urn:lifeline:staff-role", "code": "physician", "display": "physician"}]}],
        },
    )
    # The colleague works elsewhere: a clinician (only those break the glass), without care here.
    put_resource(client, {"resourceType": "Organization", "id": f"elsewhere-{tag}", "name": "Elsewhere"})
    role = {
        "resourceType": "PractitionerRole",
        "id": f"other-role-{tag}",
        "practitioner": {"reference": f"Practitioner/{ids['other']}"},
        "organization": {"reference": f"Organization/elsewhere-{tag}"},
    }
    put_resource(client, role)
    for patient, encounter in (("p", "enc"), ("q", "encq")):
        put_resource(client, {"resourceType": "Patient", "id": ids[patient]})
        put_resource(
            client,
            {
                "resourceType": "Encounter",
                "id": ids[encounter],
                "status": "in-progress",
                "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "IMP"},
                "subject": {"reference": f"Patient/{ids[patient]}"},
                "serviceProvider": {"reference": f"Organization/{ids['dep']}"},
                "period": {"start": datetime.now(UTC).date().isoformat()},
            },
        )
    records.put_user(service.repo, records.User(f"officer-{tag}", ids["officer"], hash_password("x" * 12, CHEAP),
                                                extra_roles=["privacy-officer"]))  # fmt: skip

    def staff(doc: str) -> dict[str, str]:
        token = service.identity.issue(
            subject=f"{doc}-{tag}", client_id="ward-app", scopes="user/*.cruds", fhir_user=f"Practitioner/{ids[doc]}"
        )
        return {"Authorization": f"Bearer {token}"}

    def patient(name: str) -> dict[str, str]:
        token = service.identity.issue(
            subject=f"citizen-{tag}", client_id="portal", scopes="patient/*.rs", fhir_user=f"Patient/{ids[name]}"
        )
        return {"Authorization": f"Bearer {token}"}

    assert client.get(f"/fhir/Patient/{ids['p']}", headers=staff("doc")).status_code == 200
    assert client.get(f"/fhir/Patient/{ids['q']}", headers=staff("doc")).status_code == 200
    return {**ids, "tag": tag, "staff": staff, "patient": patient}


def _events(client: TestClient, query: str, headers: dict[str, str] | None = None) -> list[dict[str, Any]]:
    answer = client.get(f"/fhir/AuditEvent?{query}", headers=headers or {})
    assert answer.status_code == 200, answer.text
    return [entry["resource"] for entry in answer.json()["entry"]]


def _agents(event: dict[str, Any]) -> set[str]:
    return {a["who"].get("reference") or a["who"].get("display") for a in event["agent"]}


def test_search_by_patient_agent_action_outcome_and_date(client: TestClient, ward: dict[str, Any]) -> None:
    doc = f"Practitioner/{ward['doc']}"
    found = _events(client, f"patient={ward['p']}&agent={doc}")
    assert found and all(doc in _agents(e) for e in found)
    assert any(e["subtype"][0]["code"] == "read" for e in found)
    today = datetime.now(UTC).date().isoformat()
    assert _events(client, f"patient=Patient/{ward['p']}&agent={doc}&action=R&outcome=0&date=ge{today}")
    assert not _events(client, f"patient={ward['p']}&agent={doc}&date=lt{today}")
    assert not _events(client, f"patient={ward['p']}&agent={doc}&action=D")
    one = found[0]
    assert client.get(f"/fhir/AuditEvent/{one['id']}").json()["id"] == one["id"]


def test_staff_see_only_their_own_access_and_privacy_officers_everyone(
    client: TestClient, ward: dict[str, Any]
) -> None:
    mine = _events(client, f"patient={ward['p']}", ward["staff"]("doc"))
    assert mine and all(f"Practitioner/{ward['doc']}" in _agents(e) for e in mine)
    assert not _events(client, f"patient={ward['p']}", ward["staff"]("other"))
    everyone = _events(client, f"patient={ward['p']}", ward["staff"]("officer"))
    assert len(everyone) > len(mine)  # the set-up's own accesses, by the test service, too


def test_a_patient_sees_who_looked_at_their_record_and_why(client: TestClient, ward: dict[str, Any]) -> None:
    seen = _events(client, "", ward["patient"]("p"))
    by_doc = [e for e in seen if f"Practitioner/{ward['doc']}" in _agents(e)]
    assert by_doc
    requestor = next(a for a in by_doc[0]["agent"] if a.get("requestor"))
    assert requestor["who"]["display"] == "Mette Lunddoc"
    assert requestor["role"] == [{"text": "physician, Cardiology"}]
    assert requestor["purposeOfUse"][0]["coding"][0]["code"] == "TREAT"
    # A colleague without a care relationship broke the glass: the reason is shown.
    reason = {
        "name": "reason",
        "valueCoding": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActReason", "code": "BTG"},
    }
    text = {"name": "text", "valueString": "Unconscious in the emergency room"}
    body = {"resourceType": "Parameters", "parameter": [reason, text]}
    other = ward["staff"]("other")
    assert client.post(f"/fhir/Patient/{ward['p']}/$break-the-glass", json=body, headers=other).status_code == 200
    assert client.get(f"/fhir/Patient/{ward['p']}", headers=other).status_code == 200
    seen = _events(client, "", ward["patient"]("p"))
    broke = [e for e in seen if f"Practitioner/{ward['other']}" in _agents(e) and e["subtype"][0]["code"] == "read"]
    assert broke
    purpose = next(a for a in broke[0]["agent"] if a.get("requestor"))["purposeOfUse"][0]
    assert purpose["coding"][0]["code"] == "BTG" and purpose["text"] == "Unconscious in the emergency room"
    # Only their own record, whatever they ask for.
    assert not _events(client, f"patient={ward['q']}", ward["patient"]("p"))
    other = _events(client, f"patient={ward['q']}")[0]
    assert_outcome(client.get(f"/fhir/AuditEvent/{other['id']}", headers=ward["patient"]("p")), 404)


def test_paging_bad_values_and_writes(client: TestClient, ward: dict[str, Any]) -> None:
    first = client.get(f"/fhir/AuditEvent?patient={ward['p']}&_count=1").json()
    following = next(link["url"] for link in first["link"] if link["relation"] == "next")
    second = client.get(following.replace("http://testserver", "")).json()
    assert first["entry"][0]["resource"]["id"] != second["entry"][0]["resource"]["id"]
    assert_outcome(client.get("/fhir/AuditEvent?date=yesterday"), 400, text="date")
    assert_outcome(client.get("/fhir/AuditEvent?_page=%%%"), 400, text="cursor")
    assert_outcome(client.get("/fhir/AuditEvent?colour=red", headers={"Prefer": "handling=strict"}), 400)
    assert_outcome(client.get("/fhir/AuditEvent/nonsense"), 404)
    assert_outcome(client.post("/fhir/AuditEvent", json={"resourceType": "AuditEvent"}), 405)
