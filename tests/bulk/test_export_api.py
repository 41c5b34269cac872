"""FHIR Bulk Data $export over the real ASGI app, on both backends: kick-off, polling, NDJSON files,
`_type`, `_since`, the three levels, who may ask, cancel, and the audit trail.

Each module run has its own database, so a system-level export holds exactly what the test wrote."""

from __future__ import annotations

import base64
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from starlette.testclient import TestClient

from lifeline import jsontext
from lifeline.audit.store import events_after
from lifeline.bulk import export_jobs
from lifeline.fhir.service import FhirService
from lifeline.identity.principal import Principal
from lifeline.identity.scopes import ScopeSet
from lifeline.storage import open_repository
from lifeline.web.app import create_app
from tests.conftest import TEST_SETTINGS, TickingClock, assert_outcome, database_url, dispose

KICKOFF_HEADERS = {"Accept": "application/fhir+json", "Prefer": "respond-async"}


@dataclass
class World:
    service: FhirService
    web: TestClient
    url: str
    exporter: str  # a backend service's token: system/*.rs
    tag: str
    pat: list[str]
    group: str
    obs: list[str]
    gone: str
    doc: str


def bearer(token: str, **more: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", **more}


def put(web: TestClient, token: str, resource: dict[str, Any], raw: bytes | None = None) -> None:
    answer = web.put(
        f"/fhir/{resource['resourceType']}/{resource['id']}",
        content=raw if raw is not None else orjson.dumps(resource),
        headers=bearer(token, **{"Content-Type": "application/fhir+json"}),
    )
    assert answer.status_code in (200, 201), answer.text


def observation(obs_id: str, patient: str, value: str) -> bytes:
    """An Observation whose value is written with trailing zeros: the export must keep them."""
    subject = f'"subject":{{"reference":"Patient/{patient}"}}'
    value_quantity = f'"valueQuantity":{{"value":{value},"unit":"mmol/L"}}'
    head = f'"resourceType":"Observation","id":"{obs_id}","status":"final","code":{{"text":"Hb"}}'
    return f"{{{head},{subject},{value_quantity}}}".encode()


@pytest.fixture(scope="module")
def world(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    url = database_url(backend, tmp_path_factory.mktemp(f"export-{backend}"))
    repo = open_repository(url)
    repo.migrate()
    service = FhirService(repo, replace(TEST_SETTINGS, export_file_lines=2), clock=TickingClock())
    writer = service.identity.issue(subject="loader", client_id="loader", scopes="system/*.cruds", lifetime=3600)
    exporter = service.identity.issue(subject="exporter", client_id="exporter", scopes="system/*.rs", lifetime=3600)
    tag = uuid.uuid4().hex[:6]
    pat = [f"p{n}-{tag}" for n in range(3)]
    obs = [f"o{n}-{tag}" for n in range(4)]
    with TestClient(create_app(service, close_on_shutdown=False), base_url="http://testserver") as web:
        for n, patient in enumerate(pat):
            put(web, writer, {"resourceType": "Patient", "id": patient, "name": [{"family": f"Østergård{n}"}]})
        doc = f"doc-{tag}"
        put(web, writer, {"resourceType": "Practitioner", "id": doc, "name": [{"family": "Læge"}]})
        for n, (obs_id, value) in enumerate(zip(obs, ["7.250", "1.0", "0.50", "12.00"], strict=True)):
            put(web, writer, {"resourceType": "Observation", "id": obs_id}, observation(obs_id, pat[n % 3], value))
        gone = f"gone-{tag}"
        put(web, writer, {"resourceType": "Observation", "id": gone}, observation(gone, pat[0], "3.0"))
        assert web.delete(f"/fhir/Observation/{gone}", headers=bearer(writer)).status_code in (200, 204)
        group = f"g-{tag}"
        members = [{"entity": {"reference": f"Patient/{p}"}} for p in pat[:2]]
        put(web, writer, {"resourceType": "Group", "id": group, "type": "person", "actual": True, "member": members})
        yield World(service, web, url, exporter, tag, pat, group, obs, gone, doc)
    service.auditor.close()
    dispose(repo)


def kick_off(web: TestClient, path: str, token: str, **headers: str) -> httpx.Response:
    return web.get(path, headers=bearer(token, **(KICKOFF_HEADERS | headers)))


def finished(web: TestClient, status_url: str, token: str) -> httpx.Response:
    """Poll the status URL as a client would, until the export is no longer in progress."""
    for _ in range(2000):
        answer = web.get(status_url, headers=bearer(token))
        if answer.status_code != 202:
            return answer
        assert answer.headers["x-progress"] and answer.headers["retry-after"]
        time.sleep(0.05)
    raise AssertionError(f"{status_url} never finished")


def export(world: World, path: str, token: str | None = None) -> dict[str, Any]:
    started = kick_off(world.web, path, token or world.exporter)
    assert started.status_code == 202, started.text
    status_url = started.headers["content-location"]
    assert status_url.startswith("http://testserver/fhir/$export-status/")
    done = finished(world.web, status_url, token or world.exporter)
    assert done.status_code == 200, done.text
    assert done.headers["content-type"] == "application/json" and done.headers["expires"].endswith("GMT")
    manifest: dict[str, Any] = done.json()
    manifest["status_url"] = status_url
    return manifest


def lines_by_type(world: World, manifest: dict[str, Any], token: str | None = None) -> dict[str, list[str]]:
    """Every file of the manifest, downloaded; each NDJSON line kept as its text, by type."""
    found: dict[str, list[str]] = {}
    for output in manifest["output"]:
        answer = world.web.get(output["url"], headers=bearer(token or world.exporter))
        assert answer.status_code == 200, answer.text
        assert answer.headers["content-type"] == "application/fhir+ndjson"
        lines = answer.text.splitlines()
        assert len(lines) == output["count"]
        for line in lines:
            assert orjson.loads(line)["resourceType"] == output["type"]
        found.setdefault(output["type"], []).extend(lines)
    return found


def stored_text(world: World, res_type: str, res_id: str) -> str:
    stored = world.service.repo.read(res_type, res_id)
    assert stored is not None and stored.content is not None
    return stored.content


def ids(lines: list[str]) -> list[str]:
    return sorted(orjson.loads(line)["id"] for line in lines)


def test_a_system_export_gives_every_current_resource_as_stored(world: World) -> None:
    manifest = export(world, "/fhir/$export")
    assert manifest["requiresAccessToken"] is True and manifest["error"] == []
    assert manifest["request"] == "http://testserver/fhir/$export"
    assert manifest["transactionTime"].endswith("Z")
    found = lines_by_type(world, manifest)
    assert ids(found["Patient"]) == sorted(world.pat)
    assert ids(found["Observation"]) == sorted(world.obs)  # the deleted one is not exported
    assert ids(found["Practitioner"]) == [world.doc] and ids(found["Group"]) == [world.group]
    # Files split at LIFELINE_EXPORT_FILE_LINES (2 here): 4 observations are 2 files.
    assert [o["count"] for o in manifest["output"] if o["type"] == "Observation"] == [2, 2]
    for res_type, lines in found.items():
        for line in lines:
            assert line == stored_text(world, res_type, orjson.loads(line)["id"])  # exact text: 7.250 stays
    values = [str(jsontext.loads(line)["valueQuantity"]["value"]) for line in found["Observation"]]
    assert "7.250" in values and "12.00" in values


def test_type_limits_the_export_to_the_types_named(world: World) -> None:
    manifest = export(world, "/fhir/$export?_type=Patient,Practitioner&_outputFormat=application/fhir+ndjson")
    assert sorted({o["type"] for o in manifest["output"]}) == ["Patient", "Practitioner"]
    assert ids(lines_by_type(world, manifest)["Patient"]) == sorted(world.pat)


def test_since_gives_only_what_changed_after_it(world: World) -> None:
    first = export(world, "/fhir/$export?_type=Observation")
    loader = world.service.identity.issue(subject="loader", client_id="loader", scopes="system/*.cruds")
    put(
        world.web,
        loader,
        {"resourceType": "Observation", "id": world.obs[1]},
        observation(world.obs[1], world.pat[1], "2.10"),
    )
    # The same instant in Danish winter time, its '+' left unescaped as clients often send it.
    moment = datetime.fromisoformat(first["transactionTime"]).astimezone(timezone(timedelta(hours=1)))
    since = moment.isoformat(timespec="milliseconds")
    assert "+01:00" in since
    changed = export(world, f"/fhir/$export?_type=Observation,Patient&_since={since}")
    found = lines_by_type(world, changed)
    assert list(found) == ["Observation"] and ids(found["Observation"]) == [world.obs[1]]
    assert found["Observation"][0] == stored_text(world, "Observation", world.obs[1])
    assert str(jsontext.loads(found["Observation"][0])["valueQuantity"]["value"]) == "2.10"


def test_a_patient_export_gives_the_patients_and_their_compartments(world: World) -> None:
    found = lines_by_type(world, export(world, "/fhir/Patient/$export"))
    # The Group names patients as members: it is in their compartments; the Practitioner is in none.
    assert sorted(found) == ["Group", "Observation", "Patient"]
    assert ids(found["Patient"]) == sorted(world.pat) and ids(found["Observation"]) == sorted(world.obs)


def test_a_group_export_gives_its_members_compartments_only(world: World) -> None:
    found = lines_by_type(world, export(world, f"/fhir/Group/{world.group}/$export"))
    assert ids(found["Patient"]) == sorted(world.pat[:2]) and ids(found["Group"]) == [world.group]
    assert "Practitioner" not in found
    # Observations 0 and 3 are the first patient's, 1 the second's; 2 is the third's, outside the Group.
    assert ids(found["Observation"]) == sorted([world.obs[0], world.obs[1], world.obs[3]])
    missing = kick_off(world.web, "/fhir/Group/no-such-group/$export", world.exporter)
    assert_outcome(missing, 404)


def test_only_the_scopes_types_may_be_exported(world: World) -> None:
    narrow = world.service.identity.issue(subject="narrow", client_id="narrow", scopes="system/Patient.rs")
    assert_outcome(kick_off(world.web, "/fhir/$export?_type=Observation", narrow), 403, text="Observation")
    found = lines_by_type(world, export(world, "/fhir/$export", narrow), narrow)
    assert list(found) == ["Patient"]  # without _type: the types the scopes allow
    writer_only = world.service.identity.issue(subject="w", client_id="w", scopes="system/Patient.c")
    assert_outcome(kick_off(world.web, "/fhir/$export", writer_only), 403)
    assert_outcome(kick_off(world.web, f"/fhir/Group/{world.group}/$export", narrow), 403, text="Group")


def test_a_persons_token_is_refused(world: World) -> None:
    staff = world.service.identity.issue(
        subject="nurse", client_id="ward-app", scopes="user/*.rs", fhir_user="Practitioner/p1"
    )
    assert_outcome(kick_off(world.web, "/fhir/$export", staff), 403, text="backend")
    patient = world.service.identity.issue(
        subject="citizen", client_id="portal", scopes="patient/*.rs", fhir_user=f"Patient/{world.pat[0]}"
    )
    assert_outcome(kick_off(world.web, "/fhir/Patient/$export", patient), 403)
    assert_outcome(world.web.get("/fhir/$export", headers=KICKOFF_HEADERS), 401)


def test_bad_kick_offs_are_refused_with_an_outcome(world: World) -> None:
    token = world.exporter
    assert_outcome(world.web.get("/fhir/$export", headers=bearer(token)), 400, text="respond-async")
    assert_outcome(kick_off(world.web, "/fhir/$export?_type=Nonsense", token), 400, text="Nonsense")
    assert_outcome(kick_off(world.web, "/fhir/$export?_outputFormat=text/csv", token), 400)
    assert_outcome(kick_off(world.web, "/fhir/$export?_since=yesterday", token), 400, text="_since")
    assert_outcome(kick_off(world.web, "/fhir/Patient/$export?_type=Practitioner", token), 400)
    strict = kick_off(
        world.web, "/fhir/$export?_typeFilter=Patient%3Factive%3Dtrue", token, Prefer="respond-async, handling=strict"
    )
    assert_outcome(strict, 400, text="_typeFilter")
    assert_outcome(world.web.post("/fhir/$export", headers=bearer(token, **KICKOFF_HEADERS)), 405)


def test_an_ignored_parameter_is_a_warning_in_the_manifest(world: World) -> None:
    manifest = export(world, "/fhir/$export?_type=Group&_elements=id")
    assert [o["type"] for o in manifest["output"]] == ["Group"]
    [warning] = manifest["error"]
    assert warning["type"] == "OperationOutcome" and warning["count"] == 1
    outcome = orjson.loads(world.web.get(warning["url"], headers=bearer(world.exporter)).text)
    assert outcome["issue"][0]["severity"] == "warning" and "_elements" in outcome["issue"][0]["diagnostics"]


def test_another_clients_job_and_files_are_not_found(world: World) -> None:
    manifest = export(world, "/fhir/$export?_type=Patient")
    other = world.service.identity.issue(subject="other", client_id="other", scopes="system/*.rs")
    assert_outcome(world.web.get(manifest["status_url"], headers=bearer(other)), 404)
    assert_outcome(world.web.get(manifest["output"][0]["url"], headers=bearer(other)), 404)
    assert_outcome(world.web.delete(manifest["status_url"], headers=bearer(other)), 404)
    assert world.web.get(manifest["status_url"], headers=bearer(world.exporter)).status_code == 200


def test_cancel_removes_the_job_and_its_files(world: World) -> None:
    manifest = export(world, "/fhir/$export?_type=Patient")
    cancelled = world.web.delete(manifest["status_url"], headers=bearer(world.exporter))
    assert cancelled.status_code == 202
    assert_outcome(world.web.get(manifest["status_url"], headers=bearer(world.exporter)), 404)
    assert_outcome(world.web.get(manifest["output"][0]["url"], headers=bearer(world.exporter)), 404)
    # Cancelled while it may still run: the walk stops, nothing of it is left.
    started = kick_off(world.web, "/fhir/$export", world.exporter)
    assert world.web.delete(started.headers["content-location"], headers=bearer(world.exporter)).status_code == 202
    assert_outcome(world.web.get(started.headers["content-location"], headers=bearer(world.exporter)), 404)


def test_a_job_survives_a_restart_and_is_answered_by_another_process(world: World, tmp_path: Path) -> None:
    """A job left accepted by a process that stopped before running it is run by whichever
    process is polled; its files are then served by any process on the same database."""
    principal = Principal(kind="system", subject="exporter", client_id="exporter", scopes=ScopeSet.parse("system/*.rs"))
    ask = export_jobs.plan(
        world.service,
        principal,
        "system",
        None,
        [("_type", "Patient")],
        strict=False,
        request="http://testserver/fhir/$export?_type=Patient",
        base="http://testserver/fhir",
    )
    job_id = export_jobs.start(world.service, principal, ask)  # no runner started: as if the process stopped
    repo = open_repository(world.url)
    second = FhirService(repo, world.service.settings, clock=world.service.clock)
    try:
        with TestClient(create_app(second, close_on_shutdown=False), base_url="http://testserver") as web:
            done = finished(web, f"/fhir/$export-status/{job_id}", world.exporter)
            assert done.status_code == 200, done.text
            [output] = done.json()["output"][:1]
            again = world.web.get(output["url"], headers=bearer(world.exporter))  # the first process serves it
            assert again.status_code == 200 and ids(again.text.splitlines()) == sorted(world.pat)[:2]
    finally:
        second.auditor.close()
        repo.close()


def test_every_step_is_audited(world: World) -> None:
    before = len(events_after(world.service.repo, world.service.settings.node_id, 0, 10_000_000))
    manifest = export(world, "/fhir/$export?_type=Practitioner")
    world.web.get(manifest["output"][0]["url"], headers=bearer(world.exporter))
    world.web.delete(manifest["status_url"], headers=bearer(world.exporter))
    rows = events_after(world.service.repo, world.service.settings.node_id, 0, 10_000_000)[before:]
    events = [orjson.loads(row.content) for row in rows]
    steps = [s["code"] for e in events for s in e["subtype"] if s["code"].startswith("bulk-export")]
    assert steps[0] == "bulk-export-kickoff" and steps[-2:] == ["bulk-export-file", "bulk-export-cancel"]
    assert "bulk-export-status" in steps
    once = ("bulk-export-kickoff", "bulk-export-file", "bulk-export-cancel")
    assert [steps.count(step) for step in once] == [1, 1, 1]
    kickoff = next(e for e in events if e["subtype"][0]["code"] == "bulk-export-kickoff")
    assert any(a.get("who", {}).get("display") == "exporter" for a in kickoff["agent"])
    queries = [base64.b64decode(x["query"]).decode() for x in kickoff["entity"] if "query" in x]
    assert any("_type=Practitioner" in q for q in queries)
    job_id = manifest["status_url"].rsplit("/", 1)[1]
    for event in events:
        if event["subtype"][0]["code"].startswith("bulk-export"):
            texts = [base64.b64decode(x["query"]).decode() for x in event.get("entity", []) if "query" in x]
            assert any(job_id in t for t in texts), event


def test_jobs_expire_after_the_keeping_time(world: World) -> None:
    """Last in the module: it moves the node's clock a day on."""
    manifest = export(world, "/fhir/$export?_type=Patient")
    clock = world.service.clock
    assert isinstance(clock, TickingClock)
    clock.now += timedelta(hours=world.service.settings.export_keep_hours)
    assert_outcome(world.web.get(manifest["status_url"], headers=bearer(world.exporter)), 404)
    assert_outcome(world.web.get(manifest["output"][0]["url"], headers=bearer(world.exporter)), 404)
