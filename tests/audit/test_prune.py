"""Retention: records older than the retention period may be pruned by an operator, never younger
ones and never from a broken trail; the pruned chain still verifies from its signed anchor, and
tampering with the anchor or around it is caught (issue 6)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from lifeline.audit import store
from lifeline.audit.checkpoint import audit_key_ring, checkpoint
from lifeline.audit.prune import prune
from lifeline.audit.verify import verify
from lifeline.cli.main import app
from lifeline.config import Settings
from lifeline.errors import BadRequest, Conflict
from lifeline.fhir.service import FhirService
from lifeline.identity.keys import new_kek
from lifeline.storage import open_repository
from tests.audit.tampering import run
from tests.conftest import BACKENDS, database_url, dispose

KEK = new_kek()
OLD = datetime(2012, 3, 1, tzinfo=UTC)


@pytest.fixture(params=BACKENDS)
def service(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[FhirService]:
    url = database_url(str(request.param), tmp_path)
    node = FhirService(open_repository(url), Settings(db=url, kek=KEK))
    node.repo.migrate()
    store.append(node.repo, "central", [{"n": i} for i in range(6)], clock=lambda: OLD)
    store.append(node.repo, "herlev", [{"n": i} for i in range(3)], clock=lambda: OLD)
    store.append(node.repo, "central", [{"n": i} for i in range(4)])
    checkpoint(node.repo, node.identity)
    yield node
    dispose(node.repo)


def _problem(service: FhirService) -> str | None:
    problem = verify(service.repo, audit_key_ring(service.repo)).first_problem
    return None if problem is None else problem.line()


def test_old_records_are_pruned_and_the_rest_still_verifies(service: FhirService) -> None:
    removed = prune(service.repo, service.identity, datetime(2013, 1, 1, tzinfo=UTC), retention_years=10)
    assert removed == {"central": 6, "herlev": 3}
    assert _problem(service) is None
    report = verify(service.repo, audit_key_ring(service.repo))
    assert {n.node_id: n.records for n in report.nodes} == {"central": 4, "herlev": 0}
    # New records go on from the head as before.
    store.append(service.repo, "central", [{"n": "later"}])
    assert _problem(service) is None


def test_nothing_within_the_retention_period_is_pruned(service: FhirService) -> None:
    with pytest.raises(BadRequest, match="kept 10 years"):
        prune(service.repo, service.identity, datetime(2020, 1, 1, tzinfo=UTC), retention_years=10)
    assert verify(service.repo, audit_key_ring(service.repo)).records == 13


def test_a_broken_trail_is_not_pruned(service: FhirService) -> None:
    run(service.repo, "DELETE FROM audit_event WHERE node_id = 'central' AND seq = 8")
    with pytest.raises(Conflict, match="does not verify"):
        prune(service.repo, service.identity, datetime(2013, 1, 1, tzinfo=UTC), retention_years=10)


def test_tampering_around_the_anchor_is_caught(service: FhirService) -> None:
    prune(service.repo, service.identity, datetime(2013, 1, 1, tzinfo=UTC), retention_years=10)
    run(service.repo, "DELETE FROM audit_event WHERE node_id = 'central' AND seq = 7")
    assert "removed record 7 of node central" in (_problem(service) or "")


def test_a_moved_or_missing_anchor_is_caught(service: FhirService) -> None:
    prune(service.repo, service.identity, datetime(2013, 1, 1, tzinfo=UTC), retention_years=10)
    run(service.repo, "UPDATE audit_pruned SET seq = 7 WHERE node_id = 'central'")
    assert "tampered record 7 of node central" in (_problem(service) or "")
    run(service.repo, "DELETE FROM audit_pruned WHERE node_id = 'central'")
    assert "removed record 1 of node central" in (_problem(service) or "")


def test_the_command(service: FhirService) -> None:
    def lifeline(*args: str) -> tuple[int, str]:
        result = CliRunner().invoke(app, [*args, "--db", service.settings.db], env={"LIFELINE_KEK": KEK})
        return result.exit_code, result.output

    code, out = lifeline("audit", "prune", "--before", "2013-01-01")
    assert code == 0 and "node central: 6 records before 2013-01-01 removed" in out
    code, out = lifeline("audit", "prune", "--before", "last year")
    assert code == 1 and out.startswith("lifeline: error: --before must be a date")
    code, out = lifeline("audit", "prune", "--before", "2025-01-01")
    assert code == 1 and "kept 10 years" in out
    code, out = lifeline("audit", "verify")
    assert code == 0 and "audit trail intact" in out
