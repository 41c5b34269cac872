"""`lifeline audit checkpoint|verify`: one line per node, and exit 1 with one line naming the
first bad record."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from lifeline.audit import store
from lifeline.audit.siem import SyslogTlsSink, load_cursor
from lifeline.cli.main import app
from lifeline.identity.keys import new_kek
from lifeline.storage import open_repository
from lifeline.storage.repository import Repository
from tests.audit.tampering import run, stored
from tests.audit.test_siem import Collector, Pki, make_pki
from tests.conftest import BACKENDS, database_url, dispose
from tests.replication.nodes import wait_until

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


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


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


def test_export_to_ndjson_ships_each_record_once(db: tuple[str, Repository], tmp_path: Path) -> None:
    url, _ = db
    path = tmp_path / "siem.ndjson"
    assert "exported 10 audit record(s) to ndjson:" in lifeline("audit", "export", "--db", url, "--ndjson", str(path))
    assert "exported 0 audit record(s)" in lifeline("audit", "export", "--db", url, "--ndjson", str(path))
    assert len(path.read_bytes().splitlines()) == 10


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "give exactly one of --ndjson FILE or --syslog HOST:PORT"),
        (("--syslog", "collector-without-port"), "not a syslog address (HOST:PORT): 'collector-without-port'"),
        (("--syslog", "127.0.0.1:6514", "--ca", "/no/such/ca.pem"), "cannot load the TLS certificates"),
        (("--ndjson", "/no/such/folder/siem.ndjson"), "cannot write the NDJSON file /no/such/folder/siem.ndjson"),
    ],
)
def test_export_failures_are_one_clear_line(db: tuple[str, Repository], args: tuple[str, ...], message: str) -> None:
    url, _ = db
    out = lifeline("audit", "export", "--db", url, *args, code=1)
    assert f"lifeline: error: {message}" in out
    assert "Traceback" not in out


def test_export_to_a_collector_with_a_certificate_from_another_ca_fails_cleanly(
    db: tuple[str, Repository], pki: Pki
) -> None:
    url, repo = db
    collector = Collector(pki.foreign_cert, pki.foreign_key)
    out = lifeline(
        "audit", "export", "--db", url, "--syslog", f"127.0.0.1:{collector.port}", "--ca", str(pki.ca), code=1
    )
    collector.join()
    assert "lifeline: error: TLS failure with 127.0.0.1:" in out
    assert load_cursor(repo, SyslogTlsSink("127.0.0.1", collector.port, ca_file=pki.ca)) == {}


def test_export_to_a_collector_over_tls(db: tuple[str, Repository], pki: Pki) -> None:
    url, _ = db
    collector = Collector(pki.cert, pki.key)
    out = lifeline("audit", "export", "--db", url, "--syslog", f"127.0.0.1:{collector.port}", "--ca", str(pki.ca))
    collector.join()
    assert f"exported 10 audit record(s) to syslog:127.0.0.1:{collector.port}" in out
    assert bytes(collector.received).count(b" <8") == 10


def test_export_follow_ships_new_records_as_they_come(db: tuple[str, Repository], tmp_path: Path) -> None:
    url, repo = db
    path = tmp_path / "siem.ndjson"
    command = [sys.executable, "-m", "lifeline.cli", "audit", "export", "--db", url, "--ndjson", str(path)]
    follower = subprocess.Popen(
        [*command, "--follow", "--every", "0.2"],
        env={**os.environ, "LIFELINE_KEK": KEK},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_until(lambda: path.exists() and len(path.read_bytes().splitlines()) == 10, 30, "the first export")
        store.append(repo, "central", [{"resourceType": "AuditEvent", "action": "E", "id": f"n{i}"} for i in range(5)])
        wait_until(lambda: len(path.read_bytes().splitlines()) == 15, 30, "the new records at the SIEM")
    finally:
        follower.send_signal(signal.SIGINT)
        out, _ = follower.communicate(timeout=20)
    assert follower.returncode == 130, out
    lines = path.read_bytes().splitlines()
    assert len(lines) == len(set(lines)) == 15
