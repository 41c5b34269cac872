"""`lifeline incidents affected ID`: who an incident affects, as a table by hospital, department,
role and node — counts only, on both backends; an unknown incident is one line and exit status 1."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from lifeline.fhir.service import FhirService
from lifeline.storage import open_repository
from tests.cli.test_incidents_cli import lifeline
from tests.conftest import BACKENDS, TEST_SETTINGS, database_url, dispose
from tests.status.test_affected import directory, failed_login, refused


@pytest.fixture(params=BACKENDS)
def node(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, FhirService]]:
    url = database_url(request.param, tmp_path)
    repo = open_repository(url)
    repo.migrate()
    yield url, FhirService(repo, TEST_SETTINGS)
    dispose(repo)


def test_the_affected_are_counted_by_place_and_never_named(node: tuple[str, FhirService]) -> None:
    db, service = node
    names = directory(service)
    out = lifeline("incidents", "open", "--title", "Logins fail", "--impact", "major", "--component", "staff-login",
                   "--db", db)  # fmt: skip
    incident_id = out.strip().splitlines()[-1]
    now = datetime.now(UTC)
    for key in ("ann", "ann", "bo", "di"):
        failed_login(service, names[key], now)
    failed_login(service, "nobody-of-ours", now)
    refused(service, names["cy"], now)
    shown = lifeline("incidents", "affected", incident_id, "--db", db)
    assert "3 staff could not log in (4 attempts)" in shown
    assert "and 1 attempt under a name no staff login has" in shown
    assert "1 staff were refused or failed by the record (1 attempt)" in shown
    assert "Herlev Hospital" in shown and "Kardiologisk Afdeling" in shown and "Sygeplejerske" in shown
    assert "staff-login partial_outage" in shown
    assert not any(name in shown for name in names.values()) and "nobody-of-ours" not in shown
    bounded = lifeline("incidents", "affected", incident_id, "--limit", "2", "--db", db)
    assert "at least" in bounded


def test_an_unknown_incident_is_one_line(node: tuple[str, FhirService]) -> None:
    db, _ = node
    out = lifeline("incidents", "affected", "nope", "--db", db, ok=False)
    assert out.strip().splitlines()[-1] == "lifeline: error: no incident 'nope'" and "Traceback" not in out
