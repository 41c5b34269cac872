"""`lifeline probe account|run` (cli/probe.py): a bad login name is one line and writes nothing;
the account is made, and `run` reports each probe and fails when one does."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from lifeline.cli.main import app
from lifeline.config import SettingError, from_environment
from lifeline.identity import records
from lifeline.identity.keys import new_kek
from lifeline.storage import open_repository
from lifeline.storage.matching import Match
from lifeline.storage.repository import Repository
from tests.conftest import BACKENDS, database_url, dispose
from tests.replication.nodes import free_port

KEK = new_kek()


@pytest.fixture(params=BACKENDS)
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, Repository]]:
    url = database_url(request.param, tmp_path)
    repo = open_repository(url)
    repo.migrate()
    yield url, repo
    dispose(repo)


def run(*args: str, user: str = "") -> tuple[int, str, str]:
    env = {"LIFELINE_KEK": KEK, "LIFELINE_PROBE_USER": user, "LIFELINE_PORT": str(free_port())}
    result = CliRunner().invoke(app, ["probe", *args], env=env)
    return result.exit_code, result.stdout, result.stderr


def test_a_bad_login_name_is_one_line_and_writes_nothing(db: tuple[str, Repository]) -> None:
    url, repo = db
    code, _, err = run("account", "--user", "no spaces please", "--db", url)
    assert code == 1 and err.count("\n") == 1 and "probe's login name 'no spaces please'" in err
    with repo.reading() as session:
        assert session.count("Practitioner", Match()) == 0  # no Practitioner made for it
    assert records.get_user(repo, "no spaces please") is None


def test_the_account_and_a_run_that_reports_each_probe(db: tuple[str, Repository]) -> None:
    url, repo = db
    code, out, _ = run("account", "--db", url)
    assert code == 0 and "LIFELINE_PROBE_USER=probe-central" in out
    assert records.get_user(repo, "probe-central") is not None
    # No server answers at the front door: the synthetic probe fails, and so does the run.
    code, out, _ = run("run", "--db", url, user="probe-central")
    assert code == 1
    for line in ("database", "login-failures", "clock", "synthetic"):
        assert line in out
    assert "FAILED" in out and "did not answer the probe" in out


def test_an_unknown_log_level_is_refused() -> None:
    with pytest.raises(SettingError, match="LIFELINE_LOG_LEVEL must be info or debug, not 'loud'"):
        from_environment({"LIFELINE_LOG_LEVEL": "loud"})
