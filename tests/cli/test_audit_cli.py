"""`lifeline audit checkpoint|verify`: one line per node, and exit 1 with one line naming the
first bad record."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from lifeline.audit import store
from lifeline.cli.main import app
from lifeline.identity.keys import new_kek
from lifeline.storage import open_repository
from lifeline.storage.repository import Repository
from tests.audit.tampering import run, stored
from tests.conftest import BACKENDS, database_url, dispose

KEK = new_kek()


@pytest.fixture(params=BACKENDS)
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, Repository]]:
    url = database_url(request.param, tmp_path)
    repo = open_repository(url)
    repo.migrate()
    store.append(repo, "central", [{"resourceType": "AuditEvent", "action": "R", "id": str(i)} for i in range(7)])
    store.append(repo, "site-b", [{"resourceType": "AuditEvent", "action": "C", "id": str(i)} for i in range(3)])
    yield url, repo
    dispose(repo)


def lifeline(*args: str, code: int = 0) -> str:
    result = CliRunner().invoke(app, list(args), env={"LIFELINE_KEK": KEK})
    assert result.exit_code == code, result.output
    return result.output


def test_checkpoint_then_verify_passes(db: tuple[str, Repository]) -> None:
    url, _ = db
    assert "signed checkpoint of node central at record 7" in lifeline("audit", "checkpoint", "--db", url)
    out = lifeline("audit", "verify", "--db", url)
    assert "node central: 7 records checked, OK" in out
    assert "node site-b: 3 records checked, OK" in out
    assert "audit trail intact: 10 records on 2 node(s)" in out


def test_verify_names_the_first_bad_record_and_exits_1(db: tuple[str, Repository]) -> None:
    url, repo = db
    run(repo, "UPDATE audit_event SET content = '{}' WHERE node_id = 'site-b' AND seq = 2")
    out = lifeline("audit", "verify", "--db", url, code=1)
    assert "node central: 7 records checked, OK" in out
    assert "lifeline: audit trail broken: altered record 2 of node site-b" in out
    assert "Traceback" not in out


def test_a_cut_tail_is_caught_after_a_checkpoint(db: tuple[str, Repository]) -> None:
    url, repo = db
    lifeline("audit", "checkpoint", "--db", url)
    run(repo, "DELETE FROM audit_event WHERE node_id = 'central' AND seq > 5")
    run(repo, "UPDATE audit_head SET seq = 5, hash = ? WHERE node_id = 'central'", (stored(repo, "central", 5)[3],))
    out = lifeline("audit", "verify", "--db", url, code=1)
    assert "truncated record 6 of node central" in out


def test_checkpoint_of_an_empty_chain_signs_nothing(tmp_path: Path) -> None:
    url = database_url("sqlite", tmp_path)
    repo = open_repository(url)
    repo.migrate()
    try:
        assert "nothing to sign" in lifeline("audit", "checkpoint", "--db", url)
        assert "audit trail intact: 0 records" in lifeline("audit", "verify", "--db", url)
    finally:
        dispose(repo)
