"""Backup and restore (storage/backup.py, `lifeline db backup` / `lifeline db restore`), on both
backends: a record with versions, a deletion and an audit trail is backed up while it is in use,
restored into an empty database, and every version of every resource reads back equal and the
restored audit chain verifies; what was written after the backup is not in it; a restore into a
database that holds data, or of the wrong kind of file, is refused with one clear line and
changes nothing."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

from lifeline.audit.checkpoint import audit_key_ring
from lifeline.audit.store import events_after
from lifeline.audit.verify import verify
from lifeline.config import Settings
from lifeline.errors import BadRequest
from lifeline.fhir.request import FhirRequest
from lifeline.fhir.service import FhirService
from lifeline.identity.keys import new_kek
from lifeline.identity.principal import OPERATOR
from lifeline.storage import open_repository
from lifeline.storage.backup import backup, restore
from lifeline.storage.repository import Repository
from tests.conftest import PG_URL, database_url, dispose


def _write(service: FhirService, resource: dict[str, Any]) -> None:
    request = FhirRequest("update", resource["resourceType"], resource["id"], body=resource, principal=OPERATOR)
    assert service.handle(request).status in (200, 201)


def _record(service: FhirService) -> None:
    """Patients with a few versions, Observations with exact decimals, one deleted resource, and
    reads on the audit trail."""
    for n in range(5):
        for version in range(3):
            _write(service, {"resourceType": "Patient", "id": f"p{n}", "name": [{"family": f"Hansen{version}"}]})
        _write(service, {"resourceType": "Observation", "id": f"o{n}", "status": "final", "code": {"text": "K"},
                         "subject": {"reference": f"Patient/p{n}"},
                         "valueQuantity": {"value": 4.10, "unit": "mmol/L"}})  # fmt: skip
    service.handle(FhirRequest("delete", "Observation", "o4", principal=OPERATOR))
    reader = service.as_user(OPERATOR, "192.0.2.1", "TREAT")
    for n in range(5):
        reader.handle(FhirRequest("read", "Patient", f"p{n}"))


def _everything(repo: Repository) -> dict[tuple[str, str, int], tuple[str | None, bool]]:
    with repo.reading() as session:
        versions = session.history(None, None, since=None, at=None, before=None, limit=100_000)
    return {(v.res_type, v.res_id, v.version_id): (v.content, v.deleted) for v in versions}


def _trail(repo: Repository, node: str) -> list[str]:
    return [row.content for row in events_after(repo, node, 0, limit=1_000_000)]


def _restore_target(backend: str, folder: Path, source_url: str) -> tuple[str, str | None]:
    """An empty place to restore into: a new SQLite file, or a new PostgreSQL database (the dump
    keeps the schema's name); the database to drop afterwards."""
    if backend == "sqlite":
        return f"sqlite:///{folder / 'restored.db'}", None
    name = f"restore_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    parts = urlsplit(source_url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, "")), name


def _drop_database(name: str | None) -> None:
    if name is not None:
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def node(backend: str, tmp_path: Path) -> Any:
    url = database_url(backend, tmp_path)
    repo = open_repository(url)
    repo.migrate()
    service = FhirService(repo, Settings(issuer="http://testserver", kek=new_kek()))
    try:
        yield url, service
    finally:
        if service.auditor is not None:
            service.auditor.close()
        dispose(repo)


def test_a_backup_restores_every_version_and_a_trail_that_verifies(backend: str, node: Any, tmp_path: Path) -> None:
    url, service = node
    _record(service)
    assert service.auditor is not None
    service.auditor.close()  # every submitted record written: the backup is taken of a still node here
    before, trail = _everything(service.repo), _trail(service.repo, service.settings.node_id)
    assert len(before) == 21 and trail
    taken = backup(url, tmp_path / "lifeline.backup")
    assert taken.size > 0 and taken.backend == backend
    _write(service, {"resourceType": "Patient", "id": "after", "name": [{"family": "Later"}]})  # not in it

    target, database = _restore_target(backend, tmp_path, url)
    try:
        assert restore(tmp_path / "lifeline.backup", target) == backend
        restored = open_repository(target)
        try:
            assert _everything(restored) == before  # every version, content and deletion, decimals as text
            assert _trail(restored, service.settings.node_id) == trail
            report = verify(restored, audit_key_ring(restored))
            assert report.ok, report
            restored.migrate()  # already current: nothing to do
        finally:
            restored.close()
        with pytest.raises(BadRequest, match="restore into an empty one|new database file"):
            restore(tmp_path / "lifeline.backup", target)  # it holds the record now
    finally:
        _drop_database(database)


def test_bad_backups_and_targets_are_refused_with_one_line(backend: str, node: Any, tmp_path: Path) -> None:
    url, service = node
    _write(service, {"resourceType": "Patient", "id": "p1"})
    out = tmp_path / "one.backup"
    backup(url, out)
    with pytest.raises(BadRequest, match="exists already"):
        backup(url, out)
    junk = tmp_path / "junk.backup"
    junk.write_bytes(b"not a backup at all")
    target, database = _restore_target(backend, tmp_path, url)
    try:
        with pytest.raises(BadRequest, match="is no (SQLite|PostgreSQL) backup"):
            restore(junk, target)
        with pytest.raises(BadRequest, match="no backup file"):
            restore(tmp_path / "missing.backup", target)
        with pytest.raises(BadRequest, match="restore into an empty one|new database file"):
            restore(out, url)  # the living database itself
        assert _everything(service.repo)  # untouched
    finally:
        _drop_database(database)
