"""`lifeline incidents open|update|resolve|list`: each change an operator action on the audit
trail; every mistake one clear line, exit status 1, and nothing written."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from lifeline.audit.store import events_after
from lifeline.cli.main import app
from lifeline.identity.keys import new_kek
from lifeline.identity.sites import add_site
from lifeline.status import incidents
from lifeline.storage import open_repository
from tests.conftest import BACKENDS, database_url, dispose

KEK = new_kek()


@pytest.fixture(params=BACKENDS)
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    url = database_url(request.param, tmp_path)
    repo = open_repository(url)
    repo.migrate()
    add_site(repo, "herlev", "https://herlev.example")
    yield url
    dispose(repo)


def lifeline(*args: str, ok: bool = True) -> str:
    result = CliRunner().invoke(app, list(args), env={"LIFELINE_KEK": KEK})
    assert (result.exit_code == 0) == ok, result.output
    return result.output


def _stored(db: str) -> list[incidents.Incident]:
    repo = open_repository(db)
    try:
        with repo.reading() as session:
            return incidents.open_incidents(session) + incidents.resolved_incidents(session, "", 100)
    finally:
        repo.close()


def _trail(db: str) -> list[dict]:  # type: ignore[type-arg]
    repo = open_repository(db)
    try:
        return [orjson.loads(row.content) for row in events_after(repo, "central", 0, 1_000_000)]
    finally:
        repo.close()


def test_open_update_resolve_and_list(db: str) -> None:
    out = lifeline(
        "incidents", "open", "--title", "Staff cannot log in", "--impact", "major", "--component", "staff-login",
        "--component", "replication:herlev", "--eta", "2026-12-06T14:30+01:00", "--db", db,
    )  # fmt: skip
    incident_id = out.strip().splitlines()[-1]
    [found] = _stored(db)
    assert found.id == incident_id and found.components == ("staff-login", "replication:herlev")
    assert found.expected_back == "2026-12-06T13:30:00Z" and found.updates[0].author.startswith("operator:")
    lifeline("incidents", "update", incident_id, "--status", "identified", "--text", "Certificate", "--db", db)
    assert _stored(db)[0].expected_back == "2026-12-06T13:30:00Z"  # unchanged without --eta
    lifeline("incidents", "update", incident_id, "--status", "monitoring", "--text", "Fixed", "--eta", "none",
             "--db", db)  # fmt: skip
    assert _stored(db)[0].expected_back is None
    listed = lifeline("incidents", "list", "--db", db)
    assert incident_id in listed and "monitoring" in listed and "not known" in listed
    lifeline("incidents", "resolve", incident_id, "--text", "Back to normal", "--db", db)
    assert incident_id not in lifeline("incidents", "list", "--db", db)
    assert incident_id in lifeline("incidents", "list", "--all", "--db", db)
    [done] = _stored(db)
    assert [u.status for u in done.updates] == ["investigating", "identified", "monitoring", "resolved"]
    trail = [e for e in _trail(db) if e["subtype"][0]["code"].startswith("incident-")]
    assert [e["subtype"][0]["code"] for e in trail] == [
        "incident-open", "incident-update", "incident-update", "incident-resolve",
    ]  # fmt: skip
    assert all(e["agent"][0]["altId"].startswith("operator:") for e in trail)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["open", "--title", "T", "--impact", "huge", "--component", "record"], "unknown impact 'huge'"),
        (["open", "--title", "T", "--impact", "minor", "--component", "kitchen"], "unknown component 'kitchen'"),
        (["open", "--title", "T", "--impact", "minor", "--component", "replication:nowhere"], "unknown component"),
        (["open", "--title", "T", "--impact", "minor", "--component", "record", "--eta", "soon"], "not a date-time"),
        (["open", "--title", " ", "--impact", "minor", "--component", "record"], "title must not be empty"),
        (["update", "nope", "--status", "identified", "--text", "x"], "no incident 'nope'"),
        (["update", "nope", "--status", "fixed", "--text", "x"], "unknown status 'fixed'"),
        (["resolve", "nope", "--text", "x"], "no incident 'nope'"),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(db: str, args: list[str], message: str) -> None:
    out = lifeline("incidents", *args, "--db", db, ok=False)
    assert out.strip().splitlines()[-1].startswith("lifeline: error: ") and message in out
    assert "Traceback" not in out and _stored(db) == []


def test_a_resolved_incident_cannot_be_updated(db: str) -> None:
    out = lifeline("incidents", "open", "--title", "T", "--impact", "minor", "--component", "search", "--db", db)
    incident_id = out.strip().splitlines()[-1]
    lifeline("incidents", "resolve", incident_id, "--text", "Done", "--db", db)
    out = lifeline("incidents", "update", incident_id, "--status", "monitoring", "--text", "x", "--db", db, ok=False)
    assert "is resolved" in out and len(_stored(db)[0].updates) == 2
    out = lifeline("incidents", "update", incident_id, "--status", "monitoring", "--text", "x", "--eta", "x",
                   "--db", db, ok=False)  # fmt: skip
    assert "not a date-time" in out
