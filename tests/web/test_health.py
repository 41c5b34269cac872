"""/healthz and /readyz (web/health.py, status/readiness.py), on both backends: alive whatever the
database does; ready only when the database answers in time and its migrations are current; never
a session, a cookie or a cached answer."""

from __future__ import annotations

import dataclasses
import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

import psycopg
import pytest
from starlette.testclient import TestClient

from lifeline.fhir.service import FhirService
from lifeline.storage.migrations import MIGRATIONS
from lifeline.storage.postgres import PostgresRepository
from lifeline.storage.repository import Repository
from lifeline.web.app import create_app
from tests.conftest import BACKENDS, TEST_SETTINGS, TickingClock, dispose, fresh_repository

PROBE_HOST = "http://10.1.2.3:8080"  # a load balancer names the node by its address, not its public name


@pytest.fixture(params=BACKENDS)
def node(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[TestClient, FhirService]]:
    repo = fresh_repository(request.param, tmp_path)
    settings = dataclasses.replace(TEST_SETTINGS, ready_timeout_ms=300, base_url="https://lifeline.example/fhir")
    service = FhirService(repo, settings, clock=TickingClock())
    app = create_app(service, close_on_shutdown=False)
    try:
        yield TestClient(app, base_url=PROBE_HOST), service
    finally:
        dispose(repo, service)


@contextmanager
def database_held(repo: Repository) -> Iterator[None]:
    """No read of the database gets through until the block ends."""
    if isinstance(repo, PostgresRepository):
        with psycopg.connect(repo._conninfo) as conn:
            conn.execute(f'SET search_path TO "{repo.schema}"')
            conn.execute("LOCK TABLE schema_migration IN ACCESS EXCLUSIVE MODE")
            try:
                yield
            finally:
                conn.rollback()
        return
    # SQLite readers never wait in WAL mode: here the file stops being a database (its header), as a
    # failed disk would make it, for the readiness check's own new connection.
    path = Path(repo.path)  # type: ignore[attr-defined]
    with closing(sqlite3.connect(path)) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # every page in the file itself, none in the log
    with path.open("r+b") as file:
        header = file.read(16)
        file.seek(0)
        file.write(b"not a database!!")
    try:
        yield
    finally:
        with path.open("r+b") as file:
            file.write(header)


def _plain(response: object) -> None:
    headers = response.headers  # type: ignore[attr-defined]
    assert headers["cache-control"] == "no-store"
    assert headers["content-type"] == "application/json"
    assert "set-cookie" not in headers


def test_a_ready_node_says_so(node: tuple[TestClient, FhirService]) -> None:
    client, _ = node
    alive = client.get("/healthz")
    assert alive.status_code == 200 and alive.json() == {"status": "alive"}
    _plain(alive)
    ready = client.get("/readyz")
    assert ready.status_code == 200, ready.text
    _plain(ready)
    assert ready.json()["status"] == "ready" and ready.json()["failed"] == []
    assert {name: check["ok"] for name, check in ready.json()["checks"].items()} == {
        "database": True,
        "migrations": True,
        "shedding": True,
    }
    head = client.head("/readyz")
    assert head.status_code == 200 and head.content == b""
    refused = client.post("/readyz")
    assert refused.status_code == 405 and refused.headers["allow"] == "GET, HEAD"


def test_a_node_whose_database_does_not_answer_is_alive_and_not_ready(node: tuple[TestClient, FhirService]) -> None:
    client, service = node
    with database_held(service.repo):
        alive = client.get("/healthz")
        assert alive.status_code == 200 and alive.json() == {"status": "alive"}
        ready = client.get("/readyz")
        assert ready.status_code == 503, ready.text
        _plain(ready)
        assert ready.json()["status"] == "not ready"
        assert ready.json()["failed"] == ["database", "migrations"]
        held = "no answer within 300 ms" if isinstance(service.repo, PostgresRepository) else "the read failed"
        assert ready.json()["checks"]["database"]["detail"] == held
    # The database answers again: so does the node (the hung read finishes first; bounded).
    for _ in range(100):
        if client.get("/readyz").status_code == 200:
            break
    else:
        raise AssertionError("the node did not become ready again")


def test_a_node_behind_on_migrations_is_not_ready(node: tuple[TestClient, FhirService]) -> None:
    client, service = node
    newest = MIGRATIONS[-1].version
    with service.repo._schema_transaction() as conn:  # as if this code were newer than the schema
        conn.execute(service.repo.dialect.sql("DELETE FROM schema_migration WHERE version = ?"), (newest,))
    ready = client.get("/readyz")
    assert ready.status_code == 503, ready.text
    assert ready.json()["failed"] == ["migrations"]
    assert str(newest) in ready.json()["checks"]["migrations"]["detail"]
    assert client.get("/healthz").status_code == 200
