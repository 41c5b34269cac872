"""The audit record names every patient and every resource the core returned or wrote, from the
core's structured account of its answer, not from its bytes (issue 19.10)."""

from __future__ import annotations

import base64
import uuid
from typing import Any
from urllib.parse import parse_qsl, urlencode

import orjson
from starlette.testclient import TestClient

from lifeline.audit.store import events_after
from lifeline.fhir.request import FhirRequest
from lifeline.fhir.service import FhirService
from lifeline.identity.principal import OPERATOR
from lifeline.storage.param_numbers import of
from tests.conftest import put_resource

FHIR = {"Content-Type": "application/fhir+json"}


def _records(service: FhirService, subtype: str | None = None) -> list[dict[str, Any]]:
    rows = events_after(service.repo, service.settings.node_id, 0, limit=1_000_000)
    events = [orjson.loads(r.content) for r in rows]
    return [e for e in events if subtype is None or e["subtype"][0]["code"] == subtype]


def _patients(event: dict[str, Any]) -> set[str]:
    return {
        e["what"]["reference"].removeprefix("Patient/")
        for e in event.get("entity") or []
        if e.get("role", {}).get("code") == "1"
    }


def _resources(event: dict[str, Any]) -> dict[str, list[str]]:
    """Each domain resource entity's reference, with the patients its detail names."""
    return {
        e["what"]["reference"]: [d["valueString"] for d in e.get("detail") or [] if d["type"] == "patient"]
        for e in event.get("entity") or []
        if e.get("role", {}).get("code") == "4"
    }


def _query(event: dict[str, Any]) -> str | None:
    found = [e["query"] for e in event.get("entity") or [] if "query" in e]
    return base64.b64decode(found[0]).decode() if found else None


def _patient_with_observations(client: TestClient, n: int, code: str) -> tuple[str, list[str]]:
    pid = f"acc-{uuid.uuid4().hex[:10]}"
    put_resource(client, {"resourceType": "Patient", "id": pid})
    ids = []
    for i in range(n):
        observation = {
            "resourceType": "Observation",
            "status": "final",
            "code": {"coding": [{"system": "urn:test", "code": code}]},
            "subject": {"reference": f"Patient/{pid}"},
            "valueQuantity": {"value": 70 + i, "unit": "kg"},
        }
        answer = client.post("/fhir/Observation", json=observation, headers=FHIR)
        assert answer.status_code == 201, answer.text
        ids.append(answer.json()["id"])
    return pid, ids


def test_a_search_whose_results_leave_out_the_subject_names_the_patient_and_each_result(
    client: TestClient, service: FhirService
) -> None:
    code = uuid.uuid4().hex[:10]
    pid, ids = _patient_with_observations(client, 3, code)
    for query in (f"subject=Patient/{pid}&_elements=code,valueQuantity", f"code=urn:test|{code}&_elements=code"):
        answer = client.get(f"/fhir/Observation?{query}")
        entries = answer.json()["entry"]
        assert len(entries) == 3 and not any("subject" in e["resource"] for e in entries)
        asked = "Observation?" + urlencode(parse_qsl(query))
        record = [e for e in _records(service, "search-type") if _query(e) == asked][-1]
        assert _patients(record) == {pid}, query
        assert _resources(record) == {f"Observation/{i}": [pid] for i in ids}, query


def test_a_create_names_the_created_resource_and_its_patient(client: TestClient, service: FhirService) -> None:
    pid, [oid] = _patient_with_observations(client, 1, "weight")
    created = [e for e in _records(service, "create") if f"Observation/{oid}/_history/1" in _resources(e)]
    assert len(created) == 1  # recorded once: with the write, not again by the API
    assert _patients(created[0]) == {pid}
    assert _resources(created[0])[f"Observation/{oid}/_history/1"] == [pid]
    assert created[0]["outcome"] == "0" and created[0]["action"] == "C"
    assert created[0]["agent"][0]["altId"] == "tests" and created[0]["agent"][0]["network"]["address"]


def test_updates_and_deletes_name_the_version_they_wrote_and_whose_it_was(
    client: TestClient, service: FhirService
) -> None:
    pid, [oid] = _patient_with_observations(client, 1, "weight")
    current = client.get(f"/fhir/Observation/{oid}").json()
    assert (
        client.put(f"/fhir/Observation/{oid}", json={**current, "status": "amended"}, headers=FHIR).status_code == 200
    )
    assert client.delete(f"/fhir/Observation/{oid}").status_code == 204
    updated = [e for e in _records(service, "update") if f"Observation/{oid}/_history/2" in _resources(e)]
    deleted = [e for e in _records(service, "delete") if f"Observation/{oid}/_history/3" in _resources(e)]
    assert len(updated) == 1 and _patients(updated[0]) == {pid}
    assert len(deleted) == 1 and _patients(deleted[0]) == {pid} and deleted[0]["action"] == "D"
    # The history of what was deleted still names whose it was: from the versions it returns.
    assert client.get(f"/fhir/Observation/{oid}/_history").status_code == 200
    history = [e for e in _records(service, "history-instance") if f"Observation/{oid}" in _resources(e)][-1]
    assert _patients(history) == {pid}


def test_a_search_for_a_strangers_records_that_finds_nothing_names_the_patient_asked_about(
    client: TestClient, service: FhirService
) -> None:
    pid = f"acc-{uuid.uuid4().hex[:10]}"
    put_resource(client, {"resourceType": "Patient", "id": pid})
    stranger = service.identity.issue(
        subject=f"u-{pid}", client_id="ward-app", scopes="user/*.rs", fhir_user=f"Practitioner/nobody-{pid}"
    )
    headers = {"Authorization": f"Bearer {stranger}"}
    for query in (f"subject=Patient/{pid}&code=I48.9", f"patient={pid}", f"subject:Patient={pid}"):
        answer = client.get(f"/fhir/Condition?{query}", headers=headers)
        assert answer.status_code in (200, 403), answer.text
        record = [e for e in _records(service, "search-type") if e["agent"][0].get("altId") == f"u-{pid}"][-1]
        assert _patients(record) == {pid}, query


def test_a_transaction_is_recorded_once_with_its_writes_and_a_batch_names_what_its_searches_found(
    client: TestClient, service: FhirService
) -> None:
    pid = f"acc-{uuid.uuid4().hex[:10]}"
    observation = {"resourceType": "Observation", "status": "final", "code": {"text": "pulse"}}
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {"resource": {"resourceType": "Patient", "id": pid}, "request": {"method": "PUT", "url": f"Patient/{pid}"}},
            {
                "resource": {**observation, "subject": {"reference": f"Patient/{pid}"}},
                "request": {"method": "POST", "url": "Observation"},
            },
        ],
    }
    answer = client.post("/fhir", json=bundle, headers=FHIR)
    assert answer.status_code == 200, answer.text
    oid = answer.json()["entry"][1]["response"]["location"].split("/")[-3]
    records = [e for e in _records(service, "transaction") if pid in _patients(e)]
    assert len(records) == 1
    assert set(_resources(records[0])) == {f"Patient/{pid}/_history/1", f"Observation/{oid}/_history/1"}
    batch = {
        "resourceType": "Bundle",
        "type": "batch",
        "entry": [
            {"request": {"method": "GET", "url": f"Observation?subject=Patient/{pid}&_elements=code"}},
            {"request": {"method": "GET", "url": f"Observation/{oid}"}},
        ],
    }
    assert client.post("/fhir", json=batch, headers=FHIR).status_code == 200
    found = [e for e in _records(service, "batch") if f"Observation/{oid}" in _resources(e)]
    assert len(found) == 1 and _patients(found[0]) == {pid}


def test_the_core_gives_its_account_of_every_answer(service: FhirService) -> None:
    """Without a server: the FhirResponse says which resources and patients it holds."""
    pid = f"acc-{uuid.uuid4().hex[:10]}"
    service.handle(
        FhirRequest("update", "Patient", pid, body={"resourceType": "Patient", "id": pid}, principal=OPERATOR)
    )
    subject = {"reference": f"Patient/{pid}"}
    body = {"resourceType": "Observation", "status": "final", "code": {"text": "x"}, "subject": subject}
    created = service.handle(FhirRequest("create", "Observation", body=body, principal=OPERATOR))
    oid = created.location.split("/")[-3] if created.location else ""
    assert (created.accessed, created.patients, created.recorded) == ([("Observation", oid)], [pid], True)
    read = service.handle(FhirRequest("read", "Observation", oid, principal=OPERATOR))
    assert (read.accessed, read.patients, read.recorded) == ([("Observation", oid)], [pid], False)
    search = service.handle(
        FhirRequest(
            "search", "Observation", params=[("_id", oid), ("_include", "Observation:subject")], principal=OPERATOR
        )
    )
    assert search.accessed == [("Observation", oid), ("Patient", pid)] and search.patients == [pid]
    assert search.whose == {("Observation", oid): [pid], ("Patient", pid): [pid]}
    nothing = service.handle(FhirRequest("search", "Condition", params=[("patient", pid)], principal=OPERATOR))
    assert (nothing.accessed, nothing.patients) == ([], [pid])


def test_the_patients_of_an_answer_are_found_through_the_index_owner(service: FhirService) -> None:
    """One statement for the whole answer, driven by each index row's owner (res_type, res_id)."""
    if service.repo.dialect.name != "sqlite":
        return
    with service.repo.reading() as session:
        sql = (
            "EXPLAIN QUERY PLAN SELECT s.res_type, s.res_id, s.target_id FROM search_reference s"
            " WHERE s.target_type = 'Patient' AND s.target_id IS NOT NULL AND ((s.res_type = ? AND s.res_id IN (?, ?)"
            " AND s.pid + 0 IN (?, ?)) OR (s.res_type = ? AND s.res_id IN (?) AND s.pid + 0 IN (?)))"
        )
        subject, performer, encounter = of(
            [("Observation", "subject"), ("Observation", "performer"), ("Encounter", "subject")]
        )
        args = ["Observation", "a", "b", subject, performer, "Encounter", "c", encounter]
        plan = " ".join(str(row[-1]) for row in session.conn.execute(sql, args))
    assert "search_reference_owner" in plan and "SCAN s" not in plan, plan
