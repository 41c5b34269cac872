"""A request whose client has gone stops its database work (lifeline/cancel.py; issue 27, "the
query cancelled when the client goes away"), on both backends: the statement running when the
cancellation fires ends at once (SQLite's interrupt, a PostgreSQL cancel request: no query is
left in pg_stat_activity), no later statement of the request starts, the failure is ClientGone
(not the time limit's TooCostly), and the connection goes on serving the next request."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import psycopg
import pytest

from lifeline import cancel
from lifeline.errors import ClientGone, TooCostly
from lifeline.storage import open_repository
from lifeline.storage.repository import Repository
from tests.conftest import BACKENDS, PG_URL, database_url, dispose
from tests.replication.nodes import wait_until

# Statements that run far longer than any test waits, and far shorter than the limit set below.
SLOW = {
    "sqlite": "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 2000000000)"
    " SELECT count(*) FROM n",
    "postgresql": "SELECT pg_sleep(60) AS lifeline_cancel_test",
}


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, Repository]]:
    repo = open_repository(database_url(request.param, tmp_path), statement_timeout_ms=120_000)
    repo.migrate()
    yield request.param, repo
    dispose(repo)


@pytest.fixture
def threads() -> Iterator[ThreadPoolExecutor]:
    with ThreadPoolExecutor(max_workers=1) as pool:
        yield pool


def _as_request(cancellation: cancel.Cancellation, work: object) -> object:
    cancel.CURRENT.set(cancellation)  # what the HTTP adapter does for the request's threads
    try:
        return work() if callable(work) else None
    finally:
        cancel.CURRENT.set(None)


def _running_elsewhere() -> list[int]:
    """PostgreSQL backends still running the slow statement."""
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE state = 'active' AND query LIKE '%lifeline_cancel_test%'"
            " AND pid <> pg_backend_pid()"
        ).fetchall()
    return [row[0] for row in rows]


def _slow_read(repo: Repository, backend: str) -> None:
    with repo.reading() as session:
        session._all(SLOW[backend])


def test_the_running_statement_is_stopped_when_the_client_goes(
    store: tuple[str, Repository], threads: ThreadPoolExecutor
) -> None:
    backend, repo = store
    cancellation = cancel.Cancellation()
    running: Future[object] = threads.submit(_as_request, cancellation, lambda: _slow_read(repo, backend))
    if backend == "postgresql":
        wait_until(_running_elsewhere, 20, what="the slow statement to start")
    else:
        time.sleep(0.3)  # under way, or about to be: either way it must end as ClientGone
    assert not running.done()
    cancellation.fire()
    with pytest.raises(ClientGone) as gone:
        running.result(timeout=30)
    assert gone.value.status == 499 and "went away" in gone.value.message
    if backend == "postgresql":
        assert _running_elsewhere() == [], "the query is still running in PostgreSQL"
    # The same thread's connection serves the next request as if nothing happened.
    assert threads.submit(lambda: _one(repo)).result(timeout=10) == 1


def _one(repo: Repository) -> int:
    with repo.reading() as session:
        return int(session._one("SELECT 1")[0])


def test_no_statement_starts_once_the_client_has_gone(
    store: tuple[str, Repository], threads: ThreadPoolExecutor
) -> None:
    backend, repo = store
    cancellation = cancel.Cancellation()
    cancellation.fire()
    with pytest.raises(ClientGone):  # a new session is refused
        threads.submit(_as_request, cancellation, lambda: _slow_read(repo, backend)).result(timeout=30)

    late = cancel.Cancellation()

    def fired_between_statements() -> None:
        with repo.reading() as session:
            assert session._one("SELECT 1")[0] == 1
            late.fire()  # the cancel finds no statement running; the next one must not start
            session._all(SLOW[backend])

    with pytest.raises(ClientGone):
        threads.submit(_as_request, late, fired_between_statements).result(timeout=30)


def test_the_time_limit_is_still_told_apart(tmp_path: Path, backend: str, threads: ThreadPoolExecutor) -> None:
    """A statement stopped by the time limit of a request whose client is still there is
    TooCostly, as before: the cancellation changes nothing for it."""
    repo = open_repository(database_url(backend, tmp_path), statement_timeout_ms=300)
    try:
        with pytest.raises(TooCostly):
            threads.submit(_as_request, cancel.Cancellation(), lambda: _slow_read(repo, backend)).result(timeout=30)
    finally:
        dispose(repo)
