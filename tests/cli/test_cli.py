"""The command line: import (streamed, re-runnable), export, db upgrade, and one clear line on failure."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from lifeline.storage import open_repository
from tests.conftest import BACKENDS, database_url, dispose

LIFELINE = [sys.executable, "-m", "lifeline.cli"]


def run(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([*LIFELINE, *args], capture_output=True, text=True, timeout=300)
    if check:
        assert result.returncode == 0, result.stderr
    return result


def _patients(n: int) -> list[dict]:
    return [
        {"resourceType": "Patient", "id": f"p{i}", "name": [{"family": f"Hansen{i}"}], "gender": "female"}
        for i in range(n)
    ]


@pytest.mark.parametrize("backend", BACKENDS)
def test_import_is_safe_to_rerun_and_export_writes_ndjson(backend, tmp_path):
    url = database_url(backend, tmp_path)
    run("db", "upgrade", "--db", url)
    ndjson = tmp_path / "patients.ndjson"
    ndjson.write_text("\n".join(json.dumps(p) for p in _patients(30)) + "\n")
    bundle = tmp_path / "orgs.json"
    bundle.write_text(
        json.dumps(
            {
                "resourceType": "Bundle",
                "type": "collection",
                "entry": [
                    {"resource": {"resourceType": "Organization", "id": f"o{i}", "name": f"Hospital {i}"}}
                    for i in range(5)
                ],
            }
        )
    )
    first = run("import", str(ndjson), str(bundle), "--db", url, "--batch-size", "7")
    assert "35 written" in first.stderr
    second = run("import", str(ndjson), str(bundle), "--db", url)
    assert "0 written, 35 unchanged" in second.stderr
    out = tmp_path / "export"
    run("export", "--out", str(out), "--db", url)
    exported = [orjson.loads(line) for line in (out / "Patient.ndjson").read_text().splitlines()]
    assert sorted(p["id"] for p in exported) == sorted(f"p{i}" for i in range(30))
    assert all(p["meta"]["versionId"] == "1" for p in exported)
    repo = open_repository(url)
    try:
        assert repo.read("Organization", "o3") is not None
    finally:
        dispose(repo)


def test_import_stops_at_a_bad_resource_and_keeps_its_batch_out(tmp_path):
    url = database_url("sqlite", tmp_path)
    run("db", "upgrade", "--db", url)
    lines = [json.dumps(p) for p in _patients(4)]
    lines.insert(2, json.dumps({"resourceType": "Patient", "id": "bad", "gender": "robot"}))
    source = tmp_path / "mixed.ndjson"
    source.write_text("\n".join(lines) + "\n")
    result = run("import", str(source), "--db", url, "--batch-size", "100", check=False)
    assert result.returncode == 1
    assert "mixed.ndjson:3" in result.stderr
    assert "Traceback" not in result.stderr
    repo = open_repository(url)
    try:
        assert repo.read("Patient", "p0") is None
    finally:
        repo.close()


@pytest.mark.parametrize("command", [["import", "/no/such/file.ndjson"], ["db", "reindex"], ["db", "repack"]])
def test_a_batch_of_no_resources_is_refused_in_one_line(command: list[str], tmp_path: Path) -> None:
    # 0 read no rows and reported the work done (repack, reindex); import took it too.
    url = f"sqlite:///{tmp_path / 'none.db'}"
    done = subprocess.run(
        [sys.executable, "-m", "lifeline.cli", *command, "--db", url, "--batch-size", "0"],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        env={**os.environ, "COLUMNS": "200"},  # the error panel's line unwrapped
    )
    assert done.returncode == 2
    assert "Invalid value for '--batch-size': Input should be greater than or equal to 1" in done.stderr
    assert not (tmp_path / "none.db").exists()  # refused before anything was opened


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["import", "/no/such/file.ndjson", "--db", "sqlite:///{tmp}/x.db"], "no such file"),
        (["db", "upgrade", "--db", "sqlite:///no/such/folder/x.db"], "does not exist"),
        (["db", "upgrade", "--db", "mysql://nowhere/db"], "bad database URL"),
        (["db", "upgrade", "--db", "postgresql://postgres@127.0.0.1:1/test"], "cannot connect to PostgreSQL"),
        (["export", "--out", "{tmp}/out", "--db", "sqlite:///{tmp}/empty.db"], "lifeline db upgrade"),
        (["serve", "--db", "postgresql://postgres@127.0.0.1:1/test", "--port", "1"], "cannot connect to PostgreSQL"),
        (["serve", "--db", "sqlite:///no/such/folder/x.db"], "does not exist"),
        (["serve", "--db", "sqlite:///{tmp}/x.db", "--host", "192.0.2.1"], "cannot listen on 192.0.2.1"),
        (["import", "{tmp}", "--db", "sqlite:///{tmp}/x.db"], "no such file"),
    ],
)
def test_failures_are_one_clear_line(args, expected, tmp_path):
    result = run(*[a.format(tmp=tmp_path) for a in args], check=False)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("lifeline: error:")
    assert expected in lines[0]


def test_demo_data_loads_and_reloads(tmp_path):
    url = database_url("sqlite", tmp_path)
    run("demo-data", "--db", url)
    again = run("demo-data", "--db", url)
    assert "0 written" in again.stderr


def test_import_of_a_transaction_bundle(tmp_path):
    url = database_url("sqlite", tmp_path)
    run("db", "upgrade", "--db", url)
    bundle = tmp_path / "patient-bundle.json"
    bundle.write_text(
        json.dumps(
            {
                "resourceType": "Bundle",
                "type": "transaction",
                "entry": [
                    {
                        "fullUrl": "urn:uuid:0b6a2a8e-8d2c-4b8a-9d1e-1c2f3a4b5c6d",
                        "resource": {"resourceType": "Patient", "name": [{"family": "Ærø"}]},
                        "request": {"method": "POST", "url": "Patient"},
                    },
                    {
                        "resource": {
                            "resourceType": "Observation",
                            "status": "final",
                            "code": {"text": "pulse"},
                            "subject": {"reference": "urn:uuid:0b6a2a8e-8d2c-4b8a-9d1e-1c2f3a4b5c6d"},
                        },
                        "request": {"method": "POST", "url": "Observation"},
                    },
                ],
            }
        )
    )
    result = run("import", str(bundle), "--db", url)
    assert "1 transaction bundles" in result.stderr


def test_import_of_gzip_ndjson(tmp_path):
    import gzip

    url = database_url("sqlite", tmp_path)
    run("db", "upgrade", "--db", url)
    source = tmp_path / "patients.ndjson.gz"
    source.write_bytes(gzip.compress(("\n".join(json.dumps(p) for p in _patients(12)) + "\n").encode()))
    result = run("import", str(source), "--db", url)
    assert "12 written" in result.stderr


def _trail(url: str) -> list[dict]:
    """The audit records of the node, from the chain and from the outbox (an import's writes
    wait there until a server moves them into the chain)."""
    from lifeline.audit.store import events_after

    repo = open_repository(url)
    try:
        chained = [orjson.loads(row.content) for row in events_after(repo, "central", 0, 1_000_000)]
        with repo._schema_transaction() as conn:
            waiting = [orjson.loads(row[0]) for row in conn.execute("SELECT content FROM audit_outbox").fetchall()]
    finally:
        dispose(repo)
    return chained + waiting


@pytest.mark.parametrize("backend", BACKENDS)
def test_import_and_export_are_on_the_audit_trail_as_the_operator(backend, tmp_path):
    """The command line asks through the core's audited entry (fhir/acting.py)."""
    url = database_url(backend, tmp_path)
    run("db", "upgrade", "--db", url)
    ndjson = tmp_path / "patients.ndjson"
    ndjson.write_text("\n".join(json.dumps(p) for p in _patients(3)) + "\n")
    run("import", str(ndjson), "--db", url)
    run("export", "--out", str(tmp_path / "out"), "--db", url)
    trail = _trail(url)
    imports = [e for e in trail if e["subtype"][0]["code"] == "import"]
    named = {x["what"]["reference"] for e in imports for x in e["entity"]}
    assert {"Patient/p0", "Patient/p1", "Patient/p2", "Patient/p0/_history/1"} <= named
    assert imports[0]["agent"][0]["altId"].startswith("operator:")
    exports = [e for e in trail if e["subtype"][0]["code"] == "export"]
    assert len(exports) == 2  # before anything left, and what left


def test_an_export_that_cannot_be_recorded_writes_nothing(tmp_path):
    url = database_url("sqlite", tmp_path)
    run("db", "upgrade", "--db", url)
    ndjson = tmp_path / "patients.ndjson"
    ndjson.write_text("\n".join(json.dumps(p) for p in _patients(3)) + "\n")
    run("import", str(ndjson), "--db", url)
    repo = open_repository(url)
    with repo._schema_transaction() as conn:  # the trail refuses every record from now on
        conn.execute("DROP TABLE audit_event")
    dispose(repo)
    result = run("export", "--out", str(tmp_path / "out"), "--db", url, check=False)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "lifeline: error: The access could not be recorded in the audit trail, so nothing was sent"
    ]
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
