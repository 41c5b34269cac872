"""Chains, _has and composites through the API: matches, 400s and the CapabilityStatement.

https://hl7.org/fhir/R4/search.html#chaining, #has, #composite and #errors. The matching rules
themselves are in tests/search/query; here the request goes all the way through the server.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.conftest import assert_outcome, new_patient

FHIR = {"Content-Type": "application/fhir+json"}
LOINC = "http://loinc.org"
SYSTOLIC, DIASTOLIC = "8480-6", "8462-4"


def _component(code: str, value: float) -> dict[str, Any]:
    return {"code": {"coding": [{"system": LOINC, "code": code}]}, "valueQuantity": {"value": value}}


@pytest.fixture(scope="module")
def patient(client: Any) -> dict[str, Any]:
    """A patient with a blood pressure (120/80) and a heart rate (72), all found by unique values."""
    unique = uuid.uuid4().hex[:10]
    created = client.post("/fhir/Patient", json=new_patient(name=[{"family": f"Kæde{unique}"}]), headers=FHIR)
    body: dict[str, Any] = created.json()
    subject = {"reference": f"Patient/{body['id']}"}
    observations = [
        {
            "code": {"coding": [{"system": LOINC, "code": "85354-9"}]},
            "component": [_component(SYSTOLIC, 120), _component(DIASTOLIC, 80)],
        },
        {"code": {"coding": [{"system": LOINC, "code": "8867-4"}]}, "valueQuantity": {"value": 72}},
    ]
    body["observations"] = [
        client.post(
            "/fhir/Observation",
            json={"resourceType": "Observation", "status": "final", "subject": subject, **o},
            headers=FHIR,
        ).json()["id"]
        for o in observations
    ]
    body["family"] = f"Kæde{unique}"
    return body


def ids(client: Any, path: str, params: dict[str, str]) -> set[str]:
    response = client.get(path, params=params)
    assert response.status_code == 200, response.text
    return {e["resource"]["id"] for e in response.json().get("entry", []) if e["search"]["mode"] == "match"}


def test_chains_follow_the_reference(client: Any, patient: dict[str, Any]) -> None:
    identifier = patient["identifier"][0]
    by_identifier = {"subject:Patient.identifier": f"{identifier['system']}|{identifier['value']}"}
    assert ids(client, "/fhir/Observation", by_identifier) == set(patient["observations"])
    assert ids(client, "/fhir/Observation", {"subject.name": patient["family"].lower()}) == set(patient["observations"])
    assert ids(client, "/fhir/Observation", {"patient.family:exact": patient["family"].upper()}) == set()


def test_has_finds_the_patient(client: Any, patient: dict[str, Any]) -> None:
    found = {"_has:Observation:patient:code": f"{LOINC}|8867-4", "family": patient["family"]}
    assert ids(client, "/fhir/Patient", found) == {patient["id"]}
    missing = {"_has:Observation:patient:code": f"{LOINC}|29463-7", "family": patient["family"]}
    assert ids(client, "/fhir/Patient", missing) == set()


def test_composite_components_pair_within_the_component(client: Any, patient: dict[str, Any]) -> None:
    subject = {"subject": f"Patient/{patient['id']}"}
    bp = patient["observations"][0]
    own = {"component-code-value-quantity": f"{LOINC}|{SYSTOLIC}$lt130", **subject}
    crossed = {"component-code-value-quantity": f"{LOINC}|{SYSTOLIC}$80", **subject}
    assert ids(client, "/fhir/Observation", own) == {bp}
    assert ids(client, "/fhir/Observation", crossed) == set()


@pytest.mark.parametrize(
    ("path", "name", "value"),
    [
        ("/fhir/Observation", "subject.", "x"),
        ("/fhir/Observation", "subject.nonsense", "x"),
        ("/fhir/Patient", "name.family", "x"),
        ("/fhir/Patient", "_has:Observation", "x"),
        ("/fhir/Patient", "_has:Observation:patient", "x"),
        ("/fhir/Patient", "_has:Observation:has-member:code", "x"),
        ("/fhir/Observation", "code-value-quantity", "abc"),
        ("/fhir/Observation", "code-value-quantity", f"{LOINC}|8867-4$x72"),
    ],
)
def test_bad_chains_has_and_composites_are_400(client: Any, path: str, name: str, value: str) -> None:
    assert_outcome(client.get(path, params={name: value}), 400)


def test_an_unknown_name_in_has_is_lenient_or_strict(client: Any, patient: dict[str, Any]) -> None:
    params = {"family": patient["family"], "_has:Observation:nonsense:code": "x"}
    lenient = client.get("/fhir/Patient", params=params).json()
    assert {e["resource"]["id"] for e in lenient["entry"] if e["search"]["mode"] == "match"} == {patient["id"]}
    strict = client.get("/fhir/Patient", params=params, headers={"Prefer": "handling=strict"})
    assert_outcome(strict, 400, text="_has:Observation:nonsense:code")


def test_the_capability_statement_lists_composites_and_chaining(client: Any) -> None:
    resources = {r["type"]: r for r in client.get("/fhir/metadata").json()["rest"][0]["resource"]}
    observation = {p["name"]: p for p in resources["Observation"]["searchParam"]}
    assert observation["code-value-quantity"]["type"] == "composite"
    assert "_has:[type]:subject:" in observation["subject"]["documentation"]
    assert "near" not in {p["name"] for p in resources["Location"]["searchParam"]}  # special: not searchable


def test_has_ending_in_a_coding_is_answered_by_search_subject_code(client: Any) -> None:
    """Issue 27: `_has:Observation:patient:code=system|code` is one probe of search_subject_code
    per Patient, not every Observation of the code in the region. It finds what the index tables
    find (a bare code takes that way): the patients with the code in that system, through
    `patient` or `subject`, and not one whose only such result was deleted or is in another
    system."""
    tag = uuid.uuid4().hex[:8]
    code = f"glu-{tag}"
    family = f"Omvendt{tag}"
    for key, system, deleted in (
        ("a", "urn:lab", False),
        ("b", "urn:lab", True),
        ("c", "urn:other", False),
        ("d", None, False),
    ):
        put = client.put(
            f"/fhir/Patient/{key}-{tag}",
            json={"resourceType": "Patient", "id": f"{key}-{tag}", "name": [{"family": family}]},
            headers=FHIR,
        )
        assert put.status_code in (200, 201), put.text
        if system is None:
            continue
        made = client.post(
            "/fhir/Observation",
            json={
                "resourceType": "Observation",
                "status": "final",
                "code": {"coding": [{"system": system, "code": code}]},
                "subject": {"reference": f"Patient/{key}-{tag}"},
            },
            headers=FHIR,
        )
        assert made.status_code == 201, made.text
        if deleted:
            assert client.delete(f"/fhir/Observation/{made.json()['id']}").status_code in (200, 204)
    coding = f"urn:lab|{code}"
    by_coding = ids(client, "/fhir/Patient", {"family": family, "_has:Observation:patient:code": coding})
    assert by_coding == {f"a-{tag}"}
    assert ids(client, "/fhir/Patient", {"family": family, "_has:Observation:subject:code": coding}) == by_coding
    alone = client.get("/fhir/Patient", params={"_has:Observation:patient:code": f"urn:lab|{code}"}).json()
    assert alone["total"] == 1
    bare = ids(client, "/fhir/Patient", {"family": family, "_has:Observation:patient:code": code})
    assert bare == {f"a-{tag}", f"c-{tag}"}
