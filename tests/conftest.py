"""Shared fixtures: every API test runs against SQLite and PostgreSQL.

PostgreSQL is at LIFELINE_TEST_PG (default postgresql://postgres@127.0.0.1:5432/test); each test
session gets a fresh schema, dropped at the end. Under CI=true the PostgreSQL tests never skip."""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from starlette.testclient import TestClient

from lifeline.config import Settings
from lifeline.errors import StorageUnavailable
from lifeline.fhir.service import FhirService
from lifeline.identity.keys import new_kek
from lifeline.storage import open_repository
from lifeline.storage.repository import Repository
from lifeline.web.app import create_app

PG_URL = os.environ.get("LIFELINE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
BACKENDS = ["sqlite", "postgresql"]
# The API tests' node: its own key-encryption key (never a file under var/) and the issuer its
# test client's tokens name.
# Its health probes never run by themselves (tests/status drive them): an incident they opened
# would put a banner on other tests' pages.
# No rate limits for the suite's shared apps (its one client and address would use up a minute's
# limit in a busy second); tests/web/test_rate_limits.py sets its own, and the real-server tests run
# with the defaults.
TEST_SETTINGS = Settings(
    max_body_bytes=1024 * 1024,
    issuer="http://testserver",
    kek=new_kek(),
    probe_seconds=0,
    rate_limit_anonymous="none",
    rate_limit_login="none",
    rate_limit_account="none",
    rate_limit_app="none",
)
# Nor do those of the nodes the tests start as processes (the region scenarios), unless a test says so.
os.environ.setdefault("LIFELINE_PROBE_SECONDS", "0")
# And their JSON logs go to a folder of the test run, never the checkout's var/log.
os.environ.setdefault("LIFELINE_LOG_DIR", tempfile.mkdtemp(prefix="lifeline-test-logs-"))
# What the shared test client may do: everything, as a backend service would.
ALL_ACCESS = "system/*.cruds"


def postgres_available() -> bool:
    try:
        with psycopg.connect(PG_URL, connect_timeout=3):
            return True
    except psycopg.Error:
        return False


def require_postgres() -> None:
    if not postgres_available():
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL is required in CI but not reachable at {PG_URL}")
        pytest.skip(f"PostgreSQL not reachable at {PG_URL}")


def database_url(backend: str, folder: Path) -> str:
    if backend == "sqlite":
        return f"sqlite:///{folder / 'lifeline.db'}"
    require_postgres()
    separator = "&" if "?" in PG_URL else "?"
    return f"{PG_URL}{separator}schema=t_{uuid.uuid4().hex[:12]}"


def fresh_repository(backend: str, folder: Path) -> Repository:
    repo = open_repository(database_url(backend, folder))
    repo.migrate()
    return repo


def dispose(repo: Repository, service: FhirService | None = None) -> None:
    """Remove a test's database: `service`'s audit writer stopped first, for its thread writes to
    the store (a move of the outbox into the chain racing DROP SCHEMA deadlocks on PostgreSQL)."""
    recorder = service.__dict__.get("auditor") if service is not None else None
    if recorder is not None:
        recorder.close()
    drop = getattr(repo, "drop_schema", None)
    for attempt in range(5):  # a writer not handed here may still be moving its outbox: a lost race is run again
        try:
            if drop is not None:
                drop()
            break
        except StorageUnavailable as exc:
            if "deadlock" not in str(exc) or attempt == 4:
                raise
    repo.close()


class TickingClock:
    """A fixed clock that moves one second per reading: deterministic, yet every write is later."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2026, 11, 22, 8, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


@contextmanager
def own_node(
    backend: str, folder: Path, settings: Settings = TEST_SETTINGS, *, ticking: bool = True
) -> Iterator[FhirService]:
    """A node of its own on a fresh database (on a TickingClock, or the system's): its audit writer
    stopped and its database removed after."""
    repo = fresh_repository(backend, folder)
    service = FhirService(repo, settings, clock=TickingClock()) if ticking else FhirService(repo, settings)
    try:
        yield service
    finally:
        dispose(repo, service)


def without_lifespan(app: Any) -> Any:
    """`app` for a TestClient whose lifespan must not close what a fixture shares (the repository)."""

    async def answered(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            for answer in ("lifespan.startup.complete", "lifespan.shutdown.complete"):
                await receive()
                await send({"type": answer})
            return
        await app(scope, receive, send)

    return answered


@pytest.fixture(scope="session", params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="session")
def service(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[FhirService]:
    repo = fresh_repository(backend, tmp_path_factory.mktemp(backend))
    service = FhirService(repo, TEST_SETTINGS, clock=TickingClock())
    yield service
    dispose(repo, service)


@pytest.fixture(scope="session")
def client(service: FhirService) -> Iterator[TestClient]:
    token = service.identity.issue(subject="tests", client_id="tests", scopes=ALL_ACCESS, lifetime=24 * 3600)
    app = create_app(service, close_on_shutdown=False)
    with TestClient(app, base_url="http://testserver", headers={"Authorization": f"Bearer {token}"}) as test_client:
        # A read by id opens the repository's async pool (PostgreSQL) on this client's loop, which
        # lives as long as the session; else a page test's browser, whose loop ends with its
        # request, may open it first, and the pool cannot be closed at the end.
        test_client.get("/fhir/Patient/opens-the-async-pool")
        yield test_client


def assert_outcome(response: Any, status: int, code: str | None = None, text: str | None = None) -> dict[str, Any]:
    """The canonical error shape: the status, and an OperationOutcome with at least one issue."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/fhir+json")
    body = response.json()
    assert body["resourceType"] == "OperationOutcome"
    assert body["issue"], body
    for issue in body["issue"]:
        assert issue["severity"] in ("fatal", "error", "warning", "information")
        assert issue["code"]
    if code is not None:
        assert any(i["code"] == code for i in body["issue"]), body
    if text is not None:
        assert any(text.lower() in i.get("diagnostics", "").lower() for i in body["issue"]), body
    return body  # type: ignore[no-any-return]


def new_patient(**extra: Any) -> dict[str, Any]:
    unique = uuid.uuid4().hex[:10]
    patient: dict[str, Any] = {
        "resourceType": "Patient",
        "identifier": [{"system": "urn:lifeline:test", "value": unique}],
        "name": [{"family": f"Test{unique}", "given": ["Anna"]}],
        "gender": "female",
        "birthDate": "1980-05-17",
    }
    patient.update(extra)
    return patient


def put_resource(client: Any, resource: dict[str, Any]) -> None:
    """Create or update a resource at its own id through the API (update-as-create)."""
    response = client.put(
        f"/fhir/{resource['resourceType']}/{resource['id']}",
        json=resource,
        headers={"Content-Type": "application/fhir+json"},
    )
    assert response.status_code in (200, 201), response.text


def bundle_link(bundle: dict[str, Any], relation: str) -> str | None:
    """A Bundle link's URL relative to the test client's host, or None."""
    url = next((lnk["url"] for lnk in bundle["link"] if lnk["relation"] == relation), None)
    return url.replace("http://testserver", "") if url else None
