"""`lifeline db reindex`: index rows rebuilt from the stored resources, on both backends, writing no
version; and the command's progress and one-line errors."""

from __future__ import annotations

import subprocess
import sys

import orjson
import pytest

from lifeline.fhir.request import FhirRequest
from lifeline.fhir.service import FhirService
from lifeline.identity.principal import OPERATOR
from lifeline.search.reindex import reindex
from lifeline.storage import open_repository
from lifeline.storage.migrations import INDEX_TABLES
from tests.conftest import BACKENDS, database_url, dispose, fresh_repository

LIFELINE = [sys.executable, "-m", "lifeline.cli"]


def _index_rows(repo) -> dict[str, list[tuple]]:
    out = {}
    with repo.reading() as session:
        for table in INDEX_TABLES:
            rows = session._all(f"SELECT * FROM {table}")
            out[table] = sorted(tuple(str(v) for v in row) for row in rows)
    return out


def _family_ids(service: FhirService, family: str) -> list[str]:
    bundle = service.handle(FhirRequest("search", "Patient", params=[("family", family)], principal=OPERATOR)).resource
    assert bundle is not None
    return sorted(e["resource"]["id"] for e in orjson.loads(orjson.dumps(bundle))["entry"])


@pytest.mark.parametrize("backend", BACKENDS)
def test_reindex_rebuilds_every_row_and_writes_no_version(backend, tmp_path):
    repo = fresh_repository(backend, tmp_path)
    try:
        service = FhirService(repo)
        for i in range(12):
            body = {"resourceType": "Patient", "id": f"p{i}", "name": [{"family": "Østergård", "given": [f"G{i}"]}]}
            service.handle(FhirRequest("update", "Patient", f"p{i}", body=body, principal=OPERATOR))
        body = {
            "resourceType": "Observation",
            "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
            "subject": {"reference": "Patient/p1"},
            "valueQuantity": {"value": 72, "unit": "/min"},
        }
        service.handle(FhirRequest("create", "Observation", body=body, principal=OPERATOR))
        service.handle(FhirRequest("delete", "Patient", "p11", principal=OPERATOR))
        before = _index_rows(repo)
        sequence = repo.sequence()
        with repo._transaction() as ws:  # what a definition change leaves behind: no rows at all
            for table in INDEX_TABLES:
                ws.conn.execute(f"DELETE FROM {table}")
            ws.finish()
        assert _family_ids(service, "østergård") == []
        progress: list[int] = []
        stats = reindex(repo, service.registry, batch_size=5, on_progress=progress.append)
        assert stats.resources == 12 and sum(progress) == 12 and len(progress) == 3
        assert _index_rows(repo) == before
        assert _family_ids(service, "østergård") == sorted(f"p{i}" for i in range(11))
        assert repo.sequence() == sequence  # no new version, no change number
        only = reindex(repo, service.registry, res_type="Observation")
        assert only.resources == 1 and _index_rows(repo) == before
    finally:
        dispose(repo)


def test_reindex_command_reports_and_refuses_bad_input(tmp_path):
    url = database_url("sqlite", tmp_path)
    repo = open_repository(url)
    repo.migrate()
    FhirService(repo).handle(
        FhirRequest(
            "update",
            "Patient",
            "p1",
            body={"resourceType": "Patient", "id": "p1", "gender": "male"},
            principal=OPERATOR,
        )
    )
    repo.close()
    ok = subprocess.run([*LIFELINE, "db", "reindex", "--db", url], capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0, ok.stderr
    assert "re-indexed 1 resources" in ok.stderr
    bad = subprocess.run(
        [*LIFELINE, "db", "reindex", "--db", url, "--type", "Nonsense"], capture_output=True, text=True, timeout=120
    )
    assert bad.returncode == 1
    assert bad.stderr.strip().splitlines() == ["lifeline: error: Unknown resource type 'Nonsense'"]
