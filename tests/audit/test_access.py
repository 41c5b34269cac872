"""Every FHIR access is on the audit trail before its answer leaves: who, what, whose data, how it
ended; and an access that cannot be recorded sends no data."""

from __future__ import annotations

import asyncio
import base64
import threading
import uuid
from typing import Any

import orjson
import pytest
from starlette.testclient import TestClient

from lifeline.audit.checkpoint import audit_key_ring
from lifeline.audit.recorder import AuditRecorder
from lifeline.audit.store import events_after
from lifeline.audit.verify import verify
from lifeline.config import Settings
from lifeline.fhir import acting
from lifeline.fhir.request import FhirRequest
from lifeline.fhir.service import FhirService
from lifeline.identity.keys import new_kek
from lifeline.identity.principal import OPERATOR
from lifeline.web.app import create_app
from tests.conftest import assert_outcome, dispose, fresh_repository

FHIR = {"Content-Type": "application/fhir+json"}


def _events(service: FhirService) -> list[dict[str, Any]]:
    rows = events_after(service.repo, service.settings.node_id, 0, limit=1_000_000)
    return [orjson.loads(r.content) for r in rows]


def _naming(events: list[dict[str, Any]], reference: str) -> list[dict[str, Any]]:
    return [e for e in events if any(x.get("what", {}).get("reference") == reference for x in e.get("entity", []))]


def test_reads_searches_and_writes_are_recorded_with_whose_data(client: TestClient, service: FhirService) -> None:
    pid = f"aud-{uuid.uuid4().hex[:10]}"
    assert client.put(
        f"/fhir/Patient/{pid}", json={"resourceType": "Patient", "id": pid}, headers=FHIR
    ).status_code in (
        200,
        201,
    )
    observation = {"resourceType": "Observation", "status": "final", "code": {"text": "pulse"}}
    created = client.post("/fhir/Observation", json={**observation, "subject": {"reference": f"Patient/{pid}"}},
                          headers=FHIR).json()  # fmt: skip
    assert client.get(f"/fhir/Patient/{pid}").status_code == 200
    assert client.get("/fhir/Observation", params={"subject": f"Patient/{pid}"}).status_code == 200
    assert client.get(f"/fhir/Observation/{created['id']}").status_code == 200
    # A write's record reaches the chain from the outbox (audit/outbox.py), after reads made later.
    events = _naming(_events(service), f"Patient/{pid}")
    kinds = sorted((e["subtype"][0]["code"], e["action"], e["outcome"]) for e in events)
    assert kinds == [
        ("create", "C", "0"),
        ("read", "R", "0"),
        ("read", "R", "0"),
        ("search-type", "R", "0"),
        ("update", "U", "0"),
    ]
    search = next(e for e in events if e["subtype"][0]["code"] == "search-type")
    query = next(x["query"] for x in search["entity"] if "query" in x)
    assert f"subject=Patient%2F{pid}".encode() in base64.b64decode(query)
    requestor = search["agent"][0]
    assert requestor["requestor"] and requestor["altId"] == "tests" and requestor["network"]["address"]
    assert search["agent"][1]["who"]["display"] == "tests"  # the app
    read = [e for e in events if e["subtype"][0]["code"] == "read"][-1]
    assert read["entity"][-1]["what"]["reference"] == f"Observation/{created['id']}"


def test_refused_and_failed_accesses_are_recorded_too(client: TestClient, service: FhirService) -> None:
    pid = f"aud-{uuid.uuid4().hex[:10]}"
    assert client.get(f"/fhir/Patient/{pid}").status_code == 404
    assert client.get(f"/fhir/Patient/{pid}", headers={"Authorization": ""}).status_code == 401
    events = _naming(_events(service), f"Patient/{pid}")
    # The 401 to nobody is summarised per address and minute (tests/audit/test_unauthenticated.py).
    assert [e["outcome"] for e in events] == ["4"]


def test_the_capability_statement_is_not_audited(client: TestClient, service: FhirService) -> None:
    before = len(_events(service))
    assert client.get("/fhir/metadata").status_code == 200
    assert len(_events(service)) == before


def test_an_access_that_cannot_be_recorded_sends_no_data(tmp_path) -> None:
    repo = fresh_repository("sqlite", tmp_path)
    try:
        service = FhirService(repo, Settings(issuer="http://testserver", kek=new_kek()))
        body = {"resourceType": "Patient", "id": "p1", "name": [{"family": "Kjærgaard"}]}
        service.handle(FhirRequest("update", "Patient", "p1", body=body, principal=OPERATOR))
        token = service.identity.issue(subject="t", client_id="t", scopes="system/*.rs")
        with repo._schema_transaction() as conn:
            conn.execute("DROP TABLE audit_event")  # the trail refuses every record
        app = create_app(service)
        with TestClient(app, base_url="http://testserver", headers={"Authorization": f"Bearer {token}"}) as web:
            response = web.get("/fhir/Patient/p1")
        assert_outcome(response, 503, "transient", "audit trail")
        assert "Kjærgaard" not in response.text
    finally:
        dispose(repo)


def test_an_access_whose_record_cannot_be_written_in_time_sends_no_data(tmp_path, monkeypatch) -> None:
    """PostgreSQL: another transaction holds the node's chain head, so the record waits; after the
    API's wait the answer is a 503 without the data, and the chain goes on once the head is free."""
    monkeypatch.setattr(acting, "AUDIT_WAIT_SECONDS", 0.5)
    repo = fresh_repository("postgresql", tmp_path)
    service = FhirService(repo, Settings(issuer="http://testserver", kek=new_kek()))
    try:
        body = {"resourceType": "Patient", "id": "p1", "name": [{"family": "Kjærgaard"}]}
        service.handle(FhirRequest("update", "Patient", "p1", body=body, principal=OPERATOR))
        token = service.identity.issue(subject="t", client_id="t", scopes="system/*.rs")
        with TestClient(
            create_app(service, close_on_shutdown=False),
            base_url="http://testserver",
            headers={"Authorization": f"Bearer {token}"},
        ) as web:
            assert web.get("/fhir/Patient/p1").status_code == 200  # the head row exists
            with repo._schema_transaction() as conn:
                conn.execute("SELECT * FROM audit_head FOR UPDATE")
                response = web.get("/fhir/Patient/p1")
                assert_outcome(response, 503, "transient", "audit trail")
                assert "Kjærgaard" not in response.text
            assert web.get("/fhir/Patient/p1").status_code == 200
        assert verify(repo, audit_key_ring(repo)).ok
    finally:
        if service.auditor is not None:
            service.auditor.close()
        dispose(repo)


def test_a_record_text_with_a_newline_is_refused_whole(tmp_path) -> None:
    """PostgreSQL takes a group's records as one text of lines; canonical JSON escapes newlines,
    and a text that held one anyway would become two records: it is refused, nothing written."""
    repo = fresh_repository("postgresql", tmp_path)
    try:

        async def append() -> None:
            try:
                await repo.append_audit_async("central", "2026-11-23T00:00:00.000000Z", ["{}", "{\n}"])
            finally:
                await repo.aclose()  # the async pool belongs to this loop

        with pytest.raises(ValueError, match="newline"):
            asyncio.run(append())
        assert events_after(repo, "central", 0) == []
    finally:
        dispose(repo)


def test_concurrent_records_share_commits_and_stay_one_chain(tmp_path) -> None:
    repo = fresh_repository("postgresql", tmp_path)
    recorder = AuditRecorder(repo, "central")
    try:
        seqs: list[int] = []
        lock = threading.Lock()

        def client(n: int) -> None:
            for i in range(25):
                seq = recorder.record({"resourceType": "AuditEvent", "n": n, "i": i})
                with lock:
                    seqs.append(seq)

        threads = [threading.Thread(target=client, args=(n,)) for n in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert sorted(seqs) == list(range(1, 201))
        commits = {r.recorded for r in events_after(repo, "central", 0, limit=1000)}
        assert len(commits) < 200  # group commit: records waiting together were written together
        assert verify(repo, audit_key_ring(repo)).ok
    finally:
        recorder.close()
        dispose(repo)


def test_a_closed_recorder_refuses_at_once_rather_than_leaving_a_request_waiting(tmp_path) -> None:
    repo = fresh_repository("sqlite", tmp_path)
    try:
        recorder = AuditRecorder(repo, "central")
        assert recorder.record({"resourceType": "AuditEvent"}) == 1
        recorder.close()
        refused = recorder.submit({"resourceType": "AuditEvent"})
        assert refused.done() and isinstance(refused.exception(), RuntimeError)
    finally:
        dispose(repo)


def test_audit_events_cannot_be_written_through_the_api(client: TestClient) -> None:
    event = {"resourceType": "AuditEvent", "type": {"code": "rest"}, "recorded": "2026-11-23T01:00:00Z",
             "agent": [{"requestor": True}], "source": {"observer": {"display": "x"}}}  # fmt: skip
    assert_outcome(client.post("/fhir/AuditEvent", json=event, headers=FHIR), 405)
    assert_outcome(client.put("/fhir/AuditEvent/a1", json={**event, "id": "a1"}, headers=FHIR), 405)
    assert_outcome(client.delete("/fhir/AuditEvent/a1"), 405)
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [{"resource": event, "request": {"method": "POST", "url": "AuditEvent"}}],
    }
    assert client.post("/fhir", json=bundle, headers=FHIR).status_code in (400, 405)
