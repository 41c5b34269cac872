"""The audit journal (audit/journal.py): a record is durable in this process's journal before its
answer leaves, and reaches the chain by folds — once each, after any crash, in order — and an
answer whose record cannot be made durable carries no data."""

from __future__ import annotations

import os
from pathlib import Path

import orjson
import pytest
from starlette.testclient import TestClient

from lifeline.audit import journal
from lifeline.audit.checkpoint import audit_key_ring
from lifeline.audit.recorder import AuditRecorder
from lifeline.audit.store import events_after
from lifeline.audit.verify import verify
from lifeline.config import SettingError, Settings
from lifeline.fhir.request import FhirRequest
from lifeline.fhir.service import FhirService
from lifeline.identity.keys import new_kek
from lifeline.identity.principal import OPERATOR
from lifeline.storage.repository import Repository
from lifeline.web.app import create_app
from tests.conftest import assert_outcome, dispose, fresh_repository

BACKENDS = ["sqlite", "postgresql"]


def _event(n: int) -> dict[str, object]:
    return {"resourceType": "AuditEvent", "action": "R", "outcome": "0", "n": n}


def _chain(repo: Repository) -> list[dict[str, object]]:
    return [orjson.loads(r.content) for r in events_after(repo, "central", 0, limit=100_000)]


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_record_is_in_the_journal_when_it_is_durable_and_in_the_chain_once_folded(backend, tmp_path) -> None:
    repo = fresh_repository(backend, tmp_path)
    recorder = AuditRecorder(repo, "central", tmp_path / "journal")
    try:
        for n in range(5):
            recorder.record(_event(n))
        assert recorder._journal is not None
        text = recorder._journal.path.read_bytes().decode()
        assert [orjson.loads(line.split("\t", 1)[1])["n"] for line in text.splitlines()[1:]] == [0, 1, 2, 3, 4]
        recorder.flush()
        assert [e["n"] for e in _chain(repo)] == [0, 1, 2, 3, 4]
        recorder.flush()  # folding again adds nothing
        assert len(_chain(repo)) == 5
        assert verify(repo, audit_key_ring(repo)).ok
    finally:
        recorder.close()
        dispose(repo)
    assert list((tmp_path / "journal").glob("*.journal")) == []  # closed: folded and removed


@pytest.mark.parametrize("backend", BACKENDS)
def test_what_a_killed_process_left_is_folded_once_by_the_next_to_start(backend, tmp_path) -> None:
    repo = fresh_repository(backend, tmp_path)
    folder = tmp_path / "journal"
    try:
        # A process's journal as SIGKILL leaves it: three records folded, four only durable, a
        # last write cut short (its answer never left), and the lock gone with the process.
        dead = journal.Journal(folder, "central")
        lines = [journal.line(f"2026-11-23T10:00:0{n}.000000Z", orjson.dumps(_event(n)).decode()) for n in range(7)]
        dead.append(lines[:3])
        folded = dead.read(dead.start, dead.written)
        journal.fold(repo, "central", dead.name, [(r, c) for r, c, _ in folded], folded[-1][2])
        dead.append(lines[3:])
        os.write(dead.fd, journal.line("2026-11-23T10:00:09.000000Z", orjson.dumps(_event(99)).decode())[:-5])
        os.close(dead.fd)
        assert [e["n"] for e in _chain(repo)] == [0, 1, 2]
        live = AuditRecorder(repo, "central", folder)  # another process, still running
        second = AuditRecorder(repo, "central", folder)
        try:
            assert [e["n"] for e in _chain(repo)] == [0, 1, 2, 3, 4, 5, 6]
            assert not dead.path.exists()
            assert live._journal is not None and live._journal.path.exists()  # a live journal is left alone
            with repo.reading() as session:
                assert session.journal_folded(dead.name) is None
            second.record(_event(7))
            second.flush()
            assert [e["n"] for e in _chain(repo)] == [0, 1, 2, 3, 4, 5, 6, 7]
            assert verify(repo, audit_key_ring(repo)).ok
        finally:
            second.close()
            live.close()
    finally:
        dispose(repo)


def test_a_full_journal_is_replaced_once_folded(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(journal, "ROTATE_BYTES", 600)
    repo = fresh_repository("sqlite", tmp_path)
    recorder = AuditRecorder(repo, "central", tmp_path / "journal")
    try:
        names = set()
        for n in range(20):
            recorder.record(_event(n))
            recorder.flush()
            assert recorder._journal is not None
            names.add(recorder._journal.name)
        assert len(names) >= 3
        assert len(list((tmp_path / "journal").glob("*.journal"))) == 1
        assert [e["n"] for e in _chain(repo)] == list(range(20))
        assert verify(repo, audit_key_ring(repo)).ok
    finally:
        recorder.close()
        dispose(repo)


def test_an_answer_whose_record_cannot_be_made_durable_carries_no_data(tmp_path) -> None:
    repo = fresh_repository("sqlite", tmp_path)
    try:
        service = FhirService(repo, Settings(issuer="http://testserver", kek=new_kek()))
        body = {"resourceType": "Patient", "id": "p1", "name": [{"family": "Kjærgaard"}]}
        service.handle(FhirRequest("update", "Patient", "p1", body=body, principal=OPERATOR))
        token = service.identity.issue(subject="t", client_id="t", scopes="system/*.rs")
        app = create_app(service)
        with TestClient(app, base_url="http://testserver", headers={"Authorization": f"Bearer {token}"}) as web:
            assert web.get("/fhir/Patient/p1").status_code == 200
            recorder = service.auditor
            assert recorder is not None and recorder._journal is not None
            os.close(recorder._journal.fd)  # the journal's disk fails: every write is refused
            recorder._journal.fd = os.open(os.devnull, os.O_RDONLY)
            response = web.get("/fhir/Patient/p1")
        assert_outcome(response, 503, "transient", "audit trail")
        assert "Kjærgaard" not in response.text
    finally:
        dispose(repo)


def test_the_journal_lives_beside_an_sqlite_file_or_under_var_per_database() -> None:
    assert journal.directory(Settings(db="sqlite:///var/x.db")) == Path("var/x.db.audit-journal")
    assert journal.directory(Settings(db="sqlite:///:memory:")) is None
    assert journal.directory(Settings(db="sqlite:///var/x.db", audit_journal="off")) is None
    assert journal.directory(Settings(audit_journal="/srv/journal")) == Path("/srv/journal")
    one = journal.directory(Settings(db="postgresql://db/a"))
    other = journal.directory(Settings(db="postgresql://db/b"))
    assert one is not None and one.parent == Path("var/audit-journal") and one != other


def test_a_journal_folder_that_cannot_be_written_is_one_clear_line(tmp_path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(SettingError, match="LIFELINE_AUDIT_JOURNAL: cannot keep the audit journal in"):
        journal.check_directory(blocker / "journal")
