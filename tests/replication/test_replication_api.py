"""The centre's replication API: only registered site nodes read or write it, every bad request
is a clear OperationOutcome, and a site's change is taken exactly once (issue 7)."""

from __future__ import annotations

import uuid
from typing import Any

import orjson
import pytest
from starlette.testclient import TestClient

from lifeline.audit import store
from lifeline.fhir.service import FhirService
from lifeline.identity import sites
from lifeline.replication import feed
from lifeline.storage.records import StoredVersion
from tests.conftest import assert_outcome, new_patient


@pytest.fixture
def site(service: FhirService) -> tuple[str, dict[str, str]]:
    site_id = f"s{uuid.uuid4().hex[:8]}"
    credential = sites.add_site(service.repo, site_id, f"http://{site_id}.test")
    return site_id, {"authorization": f"Bearer {credential}"}


def _change(local_seq: int, resource: dict[str, Any] | None, version: int, **extra: Any) -> dict[str, Any]:
    return {
        "localSeq": local_seq,
        "type": "Patient",
        "id": resource["id"] if resource else extra.pop("id"),
        "version": version,
        "deleted": resource is None,
        "method": "PUT",
        "lastUpdated": "2026-11-23T08:00:00.000Z",
        "content": resource,
        **extra,
    }


def _push(client: TestClient, headers: dict[str, str], changes: list[dict[str, Any]], stream: str) -> list[str]:
    answer = client.post(
        "/replication/outbox", content=orjson.dumps({"stream": stream, "changes": changes}), headers=headers
    )
    assert answer.status_code == 200, answer.text
    outcomes: list[str] = answer.json()["outcomes"]
    return outcomes


def test_only_registered_sites_read_the_feed(client: TestClient, service: FhirService, site: Any) -> None:
    site_id, headers = site
    anonymous = TestClient(client.app, base_url="http://testserver")
    assert_outcome(anonymous.get("/replication/changes"), 401, "login")
    # An app's or a user's token is never a site's credential.
    assert_outcome(client.get("/replication/changes"), 401, "login")
    assert_outcome(anonymous.get("/replication/changes", headers={"authorization": f"Bearer {site_id}.wrong"}), 401)
    page = anonymous.get("/replication/changes?after=0&limit=5", headers=headers)
    assert page.status_code == 200
    assert set(page.json()) == {"after", "last", "head", "changes"}
    assert len(page.json()["changes"]) <= 5
    assert_outcome(anonymous.get("/replication/changes?after=x", headers=headers), 400, text="whole numbers")
    assert_outcome(anonymous.get("/replication/changes?after=-1", headers=headers), 400)
    sites.revoke_site(service.repo, site_id)
    assert_outcome(anonymous.get("/replication/changes", headers=headers), 403, text="revoked")


def test_a_site_change_is_taken_once(client: TestClient, service: FhirService, site: Any) -> None:
    _, headers = site
    stream = uuid.uuid4().hex
    patient = {**new_patient(), "id": str(uuid.uuid4())}
    assert _push(client, headers, [_change(1, patient, 1)], stream) == ["applied"]
    # Sent again (the answer was lost): the same answer, and nothing written twice.
    assert _push(client, headers, [_change(1, patient, 1)], stream) == ["applied"]
    with service.repo.reading() as session:
        assert session.count_history("Patient", patient["id"], None) == 1
    # The same number in a new series (a rebuilt site) is a new change.
    changed = {**patient, "gender": "male"}
    assert _push(client, headers, [_change(1, changed, 2)], uuid.uuid4().hex) == ["applied"]
    assert client.get(f"/fhir/Patient/{patient['id']}").json()["gender"] == "male"


def test_a_stale_change_is_refused_while_a_clinician_waits_and_kept_after_a_cut(
    client: TestClient, service: FhirService, site: Any
) -> None:
    _, headers = site
    stream = uuid.uuid4().hex
    created = client.post("/fhir/Patient", json=new_patient()).json()
    client.put(f"/fhir/Patient/{created['id']}", json={**created, "gender": "other"})  # now version 2
    stale = {**created, "gender": "male"}
    assert _push(client, headers, [_change(1, stale, 2, synchronous=True)], stream) == ["rejected"]
    assert client.get(f"/fhir/Patient/{created['id']}").json()["gender"] == "other"
    # A refusal is not final: if its request stopped waiting, the site sends it again as an
    # ordinary change, and it is kept as a conflict.
    assert _push(client, headers, [_change(1, stale, 2)], stream) == ["conflict"]
    assert _push(client, headers, [_change(1, stale, 2)], stream) == ["conflict"]  # and that is final
    current = client.get(f"/fhir/Patient/{created['id']}").json()
    assert current["gender"] == "other"
    assert {"system": "urn:lifeline:replication", "code": "conflict"}.items() <= current["meta"]["tag"][0].items()
    listed = client.get("/fhir/$conflicts").json()
    mine = [
        e["resource"]
        for e in listed["entry"]
        if {"name": "target", "valueReference": {"reference": f"Patient/{created['id']}"}} in e["resource"]["parameter"]
    ]
    assert len(mine) == 1
    conflict_id = next(p["valueString"] for p in mine[0]["parameter"] if p["name"] == "conflict")
    resolve = "/fhir/Patient/{}/$resolve-conflict".format(created["id"])

    def parameters(*parts: dict[str, Any]) -> dict[str, Any]:
        return {"resourceType": "Parameters", "parameter": list(parts)}

    conflict = {"name": "conflict", "valueString": conflict_id}
    assert_outcome(client.post(resolve, json={"resourceType": "Patient"}), 400, text="Parameters")
    assert_outcome(
        client.post(resolve, json=parameters(conflict, {"name": "choice", "valueCode": "x"})), 400, text="choice"
    )
    unknown = {"name": "conflict", "valueString": "nope"}
    assert_outcome(client.post(resolve, json=parameters(unknown, {"name": "choice", "valueCode": "site"})), 404)
    assert_outcome(client.post(resolve, json=parameters(conflict, {"name": "choice", "valueCode": "merged"})), 400)
    merged = {**current, "gender": "unknown"}
    done = client.post(
        resolve,
        json=parameters(conflict, {"name": "choice", "valueCode": "merged"}, {"name": "resource", "resource": merged}),
    )
    assert done.status_code == 200, done.text
    assert done.json()["gender"] == "unknown" and "tag" not in done.json()["meta"]
    again = client.post(resolve, json=parameters(conflict, {"name": "choice", "valueCode": "site"}))
    assert_outcome(again, 409, text="already resolved")
    assert all(
        {"name": "target", "valueReference": {"reference": f"Patient/{created['id']}"}}
        not in e["resource"]["parameter"]
        for e in client.get("/fhir/$conflicts").json()["entry"]
    )


def test_bad_pushes_are_refused_whole(client: TestClient, site: Any) -> None:
    _, headers = site
    assert_outcome(client.post("/replication/outbox", content=b"{", headers=headers), 400, text="JSON")
    assert_outcome(client.post("/replication/outbox", content=b"[]", headers=headers), 400)
    bad_stream = orjson.dumps({"stream": "x", "changes": []})
    assert_outcome(client.post("/replication/outbox", content=bad_stream, headers=headers), 400, text="stream")
    malformed = orjson.dumps({"stream": uuid.uuid4().hex, "changes": [{"type": "Patient"}]})
    assert_outcome(client.post("/replication/outbox", content=malformed, headers=headers), 400, text="malformed")


def test_a_site_audit_chain_must_continue(client: TestClient, service: FhirService, site: Any) -> None:
    site_id, headers = site
    assert client.get("/replication/audit", headers=headers).json() == {"seq": 0}
    record = {"node_id": site_id, "seq": 1, "recorded": "2026-11-23T08:00:00.000000Z", "content": "{}"}
    forged = {**record, "prev_hash": "0" * 64, "hash": "f" * 64}
    answer = client.post("/replication/audit", content=orjson.dumps({"records": [forged]}), headers=headers)
    assert_outcome(answer, 400, text="does not continue")
    assert store.head(service.repo, site_id) is None


def test_status_and_metrics_need_no_login(client: TestClient) -> None:
    anonymous = TestClient(client.app, base_url="http://testserver")
    status = anonymous.get("/status.json").json()
    assert status["node"] == "central" and status["role"] == "central" and status["mode"] == "connected"
    assert {"position", "lagSeconds", "pendingLocalChanges", "openConflicts", "centralLastReached"} <= set(status)
    metrics = anonymous.get("/metrics").text
    assert 'lifeline_mode{mode="connected",node="central",role="central"} 1.0' in metrics
    assert "lifeline_replication_lag_seconds" in metrics
    answer = client.get("/fhir/metadata")
    assert answer.headers["x-lifeline-node"] == "central" and answer.headers["x-lifeline-mode"] == "connected"


def test_a_push_answer_stamps_what_was_stored_as_sent_and_the_lean_feed_leaves_it_out(
    client: TestClient, service: FhirService, site: Any
) -> None:
    site_id, headers = site
    stream = uuid.uuid4().hex
    patient = {**new_patient(), "id": str(uuid.uuid4())}
    answer = client.post(
        "/replication/outbox",
        content=orjson.dumps({"stream": stream, "changes": [_change(1, patient, 1)]}),
        headers=headers,
    ).json()
    stored = service.repo.read("Patient", patient["id"])
    assert stored is not None
    assert answer == {"outcomes": ["applied"], "stamps": [stored.last_updated]}
    # Sent again, the centre answers from what it recorded: no stamp, the site keeps its copy.
    again = client.post(
        "/replication/outbox",
        content=orjson.dumps({"stream": stream, "changes": [_change(1, patient, 1)]}),
        headers=headers,
    ).json()
    assert again == {"outcomes": ["applied"], "stamps": [None]}
    whole = client.get("/replication/changes?after=0&limit=5000", headers=headers).json()["changes"]
    lean = client.get("/replication/changes?after=0&limit=5000&lean=1", headers=headers).json()["changes"]
    ours = [c for c in lean if c["id"] == patient["id"]]
    assert ours == [
        {
            "seq": ours[0]["seq"],
            "type": "Patient",
            "id": patient["id"],
            "version": 1,
            "lastUpdated": stored.last_updated,
            "deleted": False,
            "method": "PUT",
            "node": site_id,
            "lean": True,
        }
    ]
    assert [c for c in whole if c["id"] == patient["id"]][0]["content"]["id"] == patient["id"]
    # Every other node's changes come whole either way.
    assert [c for c in lean if c["id"] != patient["id"]] == [c for c in whole if c["id"] != patient["id"]]


def test_the_lean_feed_sends_a_sites_own_internal_records_whole() -> None:
    """The centre may have merged them field by field (replication/merge.py): the site's copy is
    not the centre's, so they are never left out."""
    when = "2026-11-23T08:00:00.000Z"
    internal = StoredVersion("_User", "u1", 2, when, False, '{"username": "u1"}', 9, "PUT", "herlev")
    clinical = StoredVersion("Patient", "p1", 1, when, False, '{"id": "p1"}', 10, "PUT", "herlev")
    assert orjson.loads(orjson.dumps(feed._change(internal, "herlev")))["content"] == {"username": "u1"}
    assert "content" not in feed._change(clinical, "herlev") and feed._change(clinical, "herlev")["lean"] is True
    assert orjson.loads(orjson.dumps(feed._change(clinical, "rigshospitalet")))["content"] == {"id": "p1"}


def _exchanges(service: FhirService, name: str) -> list[dict[str, Any]]:
    rows = store.events_after(service.repo, service.settings.node_id, 0, 1_000_000)
    events = [orjson.loads(row.content) for row in rows]
    return [e for e in events if e["subtype"][0]["code"] == name]


def test_a_feed_page_with_changes_is_on_the_trail_as_the_site_and_an_empty_one_is_not(
    client: TestClient, service: FhirService, site: Any
) -> None:
    """The replication API asks through the core's audited entry as the site (fhir/acting.py)."""
    site_id, headers = site
    anonymous = TestClient(client.app, base_url="http://testserver")
    patient = {**new_patient(), "id": f"feed-{uuid.uuid4().hex[:10]}"}
    start = anonymous.get("/replication/changes?after=0&limit=0", headers=headers).json()["head"]
    assert client.put(f"/fhir/Patient/{patient['id']}", json=patient).status_code == 201
    before = len(_exchanges(service, "replication-feed"))
    page = anonymous.get(f"/replication/changes?after={start}&limit=1000", headers=headers).json()
    assert patient["id"] in [c["id"] for c in page["changes"]]
    recorded = _exchanges(service, "replication-feed")[before:]
    assert len(recorded) == 1
    assert recorded[0]["agent"][0]["altId"] == f"site:{site_id}"
    named = [x["what"]["reference"] for x in recorded[0]["entity"] if "what" in x]
    assert f"Patient/{patient['id']}/_history/1" in named
    head = page["head"]
    # Past the head: nothing of anyone's was sent, and no record is kept of it.
    assert anonymous.get(f"/replication/changes?after={head}", headers=headers).json()["changes"] == []
    assert len(_exchanges(service, "replication-feed")) == before + 1
    # A refused credential is recorded as nobody's.
    anonymous.get("/replication/changes", headers={"authorization": f"Bearer {site_id}.wrong"})
    assert _exchanges(service, "replication-feed")[-1]["agent"][0]["who"] == {"display": "anonymous"}


def test_a_feed_page_whose_record_cannot_be_written_sends_nothing(backend: str, tmp_path: Any) -> None:
    from lifeline.config import Settings
    from lifeline.fhir.request import FhirRequest
    from lifeline.identity.keys import new_kek
    from lifeline.identity.principal import OPERATOR
    from lifeline.web.app import create_app
    from tests.conftest import dispose, fresh_repository

    repo = fresh_repository(backend, tmp_path)
    own = FhirService(repo, Settings(issuer="http://testserver", kek=new_kek()))
    try:
        body = {"resourceType": "Patient", "id": "p1", "name": [{"family": "Kjærgaard"}]}
        own.handle(FhirRequest("update", "Patient", "p1", body=body, principal=OPERATOR))
        credential = sites.add_site(repo, "herlev", "http://herlev.test")
        with repo._schema_transaction() as conn:  # the trail refuses every record from now on
            conn.execute("DROP TABLE audit_event")
        with TestClient(create_app(own, close_on_shutdown=False), base_url="http://testserver") as web:
            page = web.get("/replication/changes?after=0", headers={"authorization": f"Bearer {credential}"})
        assert_outcome(page, 503, "transient", "audit trail")
        assert "Kjærgaard" not in page.text
    finally:
        own.auditor.close()
        dispose(repo)
