"""Every statement has a time limit (LIFELINE_STATEMENT_TIMEOUT_MS; issues 27 and 28), on both
backends: a read that runs past it is stopped and answered TooCostly (503, `too-costly`, words
that say what to do), the connection goes on serving the next read, and a statement within the
limit is untouched; the schema's own work (migrations, index builds) is not cut short. Through
the API the client gets the OperationOutcome (503, Retry-After), not a 500."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import orjson
import psycopg
import pytest

from lifeline.config import SettingError, from_environment
from lifeline.errors import TooCostly
from lifeline.storage import open_repository
from lifeline.storage.repository import Repository
from lifeline.web.errors import error_answer
from tests.conftest import BACKENDS, PG_URL, database_url, dispose

LIMIT_MS = 300
# A statement that runs for seconds on either backend, with no table behind it.
SLOW = {
    "sqlite": "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 200000000)"
    " SELECT count(*) FROM n",
    "postgresql": "SELECT pg_sleep(5)",
}


@pytest.fixture(params=BACKENDS)
def limited(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, Repository]]:
    url = database_url(request.param, tmp_path)
    repo = open_repository(url, statement_timeout_ms=LIMIT_MS)
    repo.migrate()
    yield request.param, repo
    dispose(repo)


def test_a_read_past_the_limit_is_stopped_and_the_connection_goes_on(limited: tuple[str, Repository]) -> None:
    backend, repo = limited
    with pytest.raises(TooCostly) as stopped, repo.reading() as session:
        session._all(SLOW[backend])
    assert stopped.value.status == 503 and stopped.value.code == "too-costly"
    assert "stopped this request after 0.3 s" in stopped.value.message and "Narrow the search" in stopped.value.message
    if backend == "postgresql":  # stopped in the database, not only abandoned by this process
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            left = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND query = %s", (SLOW[backend],)
            ).fetchone()
        assert left is not None and left[0] == 0, "the stopped query is still running in PostgreSQL"
    with repo.reading() as session:  # the same connection (thread) serves the next read
        assert session._one("SELECT 1")[0] == 1
    with repo.reading(snapshot=True) as session:
        assert session.resource_types() == []


def test_the_schemas_own_work_is_not_cut_short(limited: tuple[str, Repository]) -> None:
    _, repo = limited
    with repo.indexes_deferred() as dropped:  # drops and builds every secondary index again
        assert dropped > 0
    assert repo.restore_indexes() == 0


def test_the_api_answers_too_costly_as_an_operation_outcome(limited: tuple[str, Repository]) -> None:
    backend, repo = limited
    with pytest.raises(TooCostly) as stopped, repo.reading() as session:
        session._all(SLOW[backend])
    status, body, headers = error_answer(stopped.value)
    outcome = orjson.loads(body)
    assert status == 503 and (b"retry-after", b"5") in headers
    assert outcome["issue"][0]["code"] == "too-costly" and "LIFELINE_STATEMENT_TIMEOUT_MS" in body.decode()


def test_the_setting_is_checked() -> None:
    assert from_environment({"LIFELINE_STATEMENT_TIMEOUT_MS": "2500"}).statement_timeout_ms == 2500
    with pytest.raises(SettingError, match="LIFELINE_STATEMENT_TIMEOUT_MS must be at least 1"):
        from_environment({"LIFELINE_STATEMENT_TIMEOUT_MS": "0"})


def test_no_limit_for_an_operators_command(backend: str, tmp_path: Path) -> None:
    """`statement_timeout_ms=0` (the command line's repositories): a long statement runs to its end."""
    repo = open_repository(database_url(backend, tmp_path), statement_timeout_ms=0)
    try:
        quick = {"sqlite": SLOW["sqlite"].replace("200000000", "3000000"), "postgresql": "SELECT pg_sleep(0.5)"}
        with repo.reading() as session:
            session._all(quick[backend])  # longer than LIMIT_MS on either backend, and not stopped
    finally:
        dispose(repo)
