"""A patient's view of who looked shows only what concerns them (issue 19.12): their own patient
entity and resources, never another patient's id or a staff member's query, login, address or
token; and why: care for a successful access under a care relationship, nothing for a refused one."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from starlette.testclient import TestClient

from lifeline.fhir.service import FhirService
from tests.conftest import put_resource

FHIR = {"Content-Type": "application/fhir+json"}


@pytest.fixture(scope="module")
def ward(client: TestClient, service: FhirService) -> dict[str, Any]:
    tag = uuid.uuid4().hex[:8]
    ids = {name: f"{name}-{tag}" for name in ("dep", "doc", "role", "other", "p", "q")}
    put_resource(client, {"resourceType": "Organization", "id": ids["dep"], "name": "Cardiology"})
    for doc in ("doc", "other"):
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
    observations: dict[str, str] = {}
    for patient in ("p", "q"):
        put_resource(client, {"resourceType": "Patient", "id": ids[patient]})
        put_resource(
            client,
            {
                "resourceType": "Encounter",
                "id": f"enc-{ids[patient]}",
                "status": "in-progress",
                "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "IMP"},
                "subject": {"reference": f"Patient/{ids[patient]}"},
                "serviceProvider": {"reference": f"Organization/{ids['dep']}"},
                "period": {"start": datetime.now(UTC).date().isoformat()},
            },
        )
        observation = {
            "resourceType": "Observation",
            "id": f"obs-{ids[patient]}",
            "status": "final",
            "code": {"coding": [{"system": "urn:test", "code": tag}]},
            "subject": {"reference": f"Patient/{ids[patient]}"},
        }
        put_resource(client, observation)
        observations[patient] = observation["id"]

    def token(subject: str, scopes: str, fhir_user: str, client_id: str = "ward-app") -> dict[str, str]:
        issued = service.identity.issue(subject=subject, client_id=client_id, scopes=scopes, fhir_user=fhir_user)
        return {"Authorization": f"Bearer {issued}"}

    doc = token(f"doc-{tag}", "user/*.cruds", f"Practitioner/{ids['doc']}")
    other = token(f"other-{tag}", "user/*.cruds", f"Practitioner/{ids['other']}")
    # The doctor cares for both: one search names both patients, and holds a query naming both.
    both = f"Observation?subject=Patient/{ids['p']},Patient/{ids['q']}&code=urn:test|{tag}"
    answer = client.get(f"/fhir/{both}", headers=doc)
    assert answer.status_code == 200 and len(answer.json()["entry"]) == 2, answer.text
    assert client.get(f"/fhir/Patient/{ids['p']}", headers=doc).status_code == 200
    # A colleague without a care relationship is refused.
    assert client.get(f"/fhir/Patient/{ids['p']}", headers=other).status_code in (403, 404)
    patient = token(f"citizen-{tag}", "patient/*.rs", f"Patient/{ids['p']}", client_id="portal")
    seen = client.get("/fhir/AuditEvent?_count=1000", headers=patient)
    assert seen.status_code == 200, seen.text
    return {**ids, "tag": tag, "observations": observations, "seen": seen}


def _events(ward: dict[str, Any]) -> list[dict[str, Any]]:
    return [entry["resource"] for entry in ward["seen"].json()["entry"]]


def _by(ward: dict[str, Any], doc: str) -> list[dict[str, Any]]:
    reference = f"Practitioner/{ward[doc]}"
    return [e for e in _events(ward) if any(a["who"].get("reference") == reference for a in e["agent"])]


def test_a_patient_sees_no_other_patients_id_and_no_query(ward: dict[str, Any]) -> None:
    text = ward["seen"].text
    assert ward["q"] not in text and ward["observations"]["q"] not in text
    assert '"query"' not in text  # the search the doctor typed names the other patient too
    search = [e for e in _by(ward, "doc") if e["subtype"][0]["code"] == "search-type"]
    assert len(search) == 1
    entities = {e["what"]["reference"] for e in search[0]["entity"]}
    assert entities == {f"Patient/{ward['p']}", f"Observation/{ward['observations']['p']}"}


def test_a_patient_sees_who_when_what_and_why_but_not_their_login_address_or_token(ward: dict[str, Any]) -> None:
    read = [e for e in _by(ward, "doc") if e["subtype"][0]["code"] == "read"][0]
    assert {"recorded", "action", "outcome", "subtype"} <= set(read)
    requestor = next(a for a in read["agent"] if a.get("requestor"))
    assert requestor["who"] == {"reference": f"Practitioner/{ward['doc']}", "display": "Mette Lunddoc"}
    assert requestor["role"] == [{"text": "physician, Cardiology"}]
    assert requestor["purposeOfUse"][0]["text"] == "Care"
    for agent in (a for e in _events(ward) for a in e["agent"]):
        assert not {"altId", "network", "policy"} & set(agent), agent


def test_a_refused_access_is_not_labelled_care(ward: dict[str, Any]) -> None:
    refused = _by(ward, "other")
    assert refused and all(e["outcome"] != "0" for e in refused)
    for event in refused:
        assert all("purposeOfUse" not in agent for agent in event["agent"]), event
