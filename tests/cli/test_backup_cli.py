"""`lifeline db backup` and `lifeline db restore` as an operator runs them (a real process on a
SQLite node; storage/backup.py's own tests cover PostgreSQL and the comparison): the restored
database answers the same record and its audit chain verifies; a bad restore is one clear line."""

from __future__ import annotations

import json
from pathlib import Path

from lifeline.storage import open_repository
from tests.cli.test_cli import run


def test_backup_then_restore_then_verify(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'node.db'}"
    run("db", "upgrade", "--db", url)
    ndjson = tmp_path / "patients.ndjson"
    ndjson.write_text("\n".join(json.dumps({"resourceType": "Patient", "id": f"p{i}"}) for i in range(20)) + "\n")
    run("import", str(ndjson), "--db", url)
    said = run("db", "backup", "--out", str(tmp_path / "node.backup"), "--db", url).stderr  # the console is stderr
    assert "backed up the sqlite database" in said
    restored = f"sqlite:///{tmp_path / 'restored.db'}"
    assert "restored" in run("db", "restore", "--from", str(tmp_path / "node.backup"), "--db", restored).stderr
    repo = open_repository(restored)
    try:
        with repo.reading() as session:
            assert session.count_current() == 20
    finally:
        repo.close()
    assert run("audit", "verify", "--db", restored, check=False).returncode == 0

    again = run("db", "restore", "--from", str(tmp_path / "node.backup"), "--db", restored, check=False)
    assert again.returncode == 1 and "Traceback" not in again.stderr
    assert "restored into a new database file only" in again.stderr.replace("\n", " ")
