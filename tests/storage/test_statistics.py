"""The planner's statistics kept by the node itself (storage/statistics.py; issue 27), on both
backends: after writes through the core into a fresh database the record tables that grew are
analyzed, the statistics then say how many rows they hold, a second look finds nothing to do,
and the background thread does the same on its own."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from lifeline.config import Settings
from lifeline.fhir.request import FhirRequest
from lifeline.fhir.service import FhirService
from lifeline.identity.keys import new_kek
from lifeline.identity.principal import OPERATOR
from lifeline.storage import open_repository
from tests.conftest import BACKENDS, PG_URL, database_url, dispose

PATIENTS = 300


@pytest.fixture(params=BACKENDS)
def written(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, FhirService]]:
    repo = open_repository(database_url(request.param, tmp_path))
    repo.migrate()
    service = FhirService(repo, Settings(kek=new_kek()))
    for n in range(PATIENTS):
        patient = {"resourceType": "Patient", "id": f"p{n}", "name": [{"family": f"Hansen{n}"}]}
        asked = FhirRequest("update", "Patient", f"p{n}", body=patient)
        asked.principal = OPERATOR
        service.handle(asked)
    yield request.param, service
    dispose(repo)


def rows_in_statistics(backend: str, service: FhirService, table: str) -> float:
    """How many rows the planner believes `table` holds (-1 or 0: never analyzed)."""
    with service.repo.reading() as session:
        if backend == "postgresql":
            sql = "SELECT reltuples FROM pg_class WHERE oid = to_regclass(%s)"
            return float(session._one(sql.replace("%s", "?"), (table,))[0])
        if session._one("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_stat1'") is None:
            return 0
        row = session._one("SELECT stat FROM sqlite_stat1 WHERE tbl = ? LIMIT 1", (table,))
        return float(str(row[0]).split()[0]) if row else 0


def test_the_tables_that_grew_are_analyzed_once(written: tuple[str, FhirService]) -> None:
    backend, service = written
    assert rows_in_statistics(backend, service, "resource") <= 0  # nothing has analyzed it yet
    wanted = {"resource", "resource_version", "search_string"}
    analyzed: set[str] = set()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # PostgreSQL's counts of changes arrive within a second or so
        done = service.repo.refresh_statistics()
        analyzed |= set(done)
        if wanted <= analyzed and not done:
            break  # everything that grew was analyzed, and a look after it found nothing to do
        time.sleep(0.2)
    assert wanted <= analyzed, analyzed
    assert rows_in_statistics(backend, service, "resource") >= PATIENTS * 0.9  # PostgreSQL samples
    assert service.repo.refresh_statistics() == []  # nothing changed enough since


def test_the_keeper_refreshes_them_by_itself(written: tuple[str, FhirService]) -> None:
    backend, service = written
    keeper = service.statistics_keeper()
    keeper.every_seconds = 0.05
    keeper.start()
    try:
        deadline = time.monotonic() + 20
        while "resource" not in keeper.refreshed and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        keeper.stop()
    assert "resource" in keeper.refreshed
    assert rows_in_statistics(backend, service, "resource") >= PATIENTS * 0.9


@pytest.mark.parametrize("written", ["postgresql"], indirect=True)  # SQLite's one writer's lock does this
def test_one_process_of_a_node_analyzes_at_a_time(written: tuple[str, FhirService]) -> None:
    """Each `serve` worker runs a keeper; while one analyzes (holds the node's statistics lock),
    another's round does nothing, and does its work once the lock is free."""
    _, service = written
    schema = service.repo.schema  # type: ignore[attr-defined]
    key = f"{schema}:statistics"
    with psycopg.connect(PG_URL.split("?")[0], autocommit=True) as other:
        stale = (
            "SELECT n_mod_since_analyze > 50 FROM pg_stat_user_tables WHERE schemaname = %s AND relname = 'resource'"
        )
        deadline = time.monotonic() + 10
        while not other.execute(stale, (schema,)).fetchone()[0] and time.monotonic() < deadline:
            time.sleep(0.1)  # the writes' counts reach the statistics views within a second or so
        other.execute("SELECT pg_advisory_lock(hashtext(%s))", (key,))
        assert service.repo.refresh_statistics() == []  # stale, but another process is at it
        other.execute("SELECT pg_advisory_unlock(hashtext(%s))", (key,))
    assert "resource" in service.repo.refresh_statistics()
