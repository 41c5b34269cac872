"""Requests without valid credentials, summarised (audit/unauthenticated.py, issue 28), on both
backends: a flood of 401s writes no record each, but one record per address and minute with the
count; the records add up to every request; the count is on /metrics; a request with a token that
holds is recorded as before; the tally's memory is bounded."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from starlette.testclient import TestClient

from lifeline.audit.events import security_event
from lifeline.audit.store import events_after
from lifeline.audit.unauthenticated import MOST_ADDRESSES, OTHERS, UnauthenticatedTally
from lifeline.fhir.acting import METRICS
from lifeline.fhir.service import FhirService

FLOOD = 60


def _events(service: FhirService) -> list[dict[str, Any]]:
    rows = events_after(service.repo, service.settings.node_id, 0, limit=1_000_000)
    return [orjson.loads(r.content) for r in rows]


def _summaries(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in events if any(s.get("code") == "unauthenticated" for s in e.get("subtype", []))]


def _counted(summary: dict[str, Any]) -> int:
    return int(str(summary["outcomeDesc"]).split(" ", 1)[0])


def _metric() -> float:
    """The node's count of them, as /metrics shows it (its answer is cached for a few seconds)."""
    return METRICS.get_sample_value("lifeline_unauthenticated_requests_total") or 0.0


def _written(service: FhirService) -> None:
    """Wait until every record submitted so far is in the trail (the recorder writes in order)."""
    assert service.auditor is not None
    service.auditor.record(security_event("administration", node_id=service.settings.node_id, text="test: drained"))


def test_a_flood_of_401s_is_one_record_per_address_and_minute(client: TestClient, service: FhirService) -> None:
    pid = f"flood-{uuid.uuid4().hex[:10]}"
    service.unauthenticated.flush()  # what earlier tests left
    _written(service)
    before_events, before_metric = _events(service), _metric()
    for n in range(FLOOD):
        headers = {"Authorization": ""} if n % 2 else {"Authorization": "Bearer not-a-token"}
        assert client.get(f"/fhir/Patient/{pid}", headers=headers).status_code == 401
    service.unauthenticated.flush()
    _written(service)
    new = _events(service)[len(before_events) :]
    assert not [e for e in new if pid in orjson.dumps(e).decode()], "no record names what was asked"
    summaries = _summaries(new)
    assert summaries and sum(_counted(s) for s in summaries) == FLOOD
    minutes = {s["period"]["start"] for s in summaries}
    assert len(summaries) == len(minutes) <= FLOOD  # one per address (the test client's) and minute
    first = summaries[0]
    assert first["outcome"] == "4" and first["agent"][0]["network"]["address"] == "testclient"
    assert "without valid credentials from testclient" in first["outcomeDesc"]
    assert _metric() - before_metric == FLOOD
    assert len(new) < FLOOD / 2  # the summaries, and whatever else ran: not one record each


def test_a_request_with_a_token_that_holds_is_recorded_as_before(client: TestClient, service: FhirService) -> None:
    pid = f"held-{uuid.uuid4().hex[:10]}"
    assert client.get(f"/fhir/Patient/{pid}").status_code == 404  # the client's own token
    _written(service)
    named = [e for e in _events(service) if f"Patient/{pid}" in orjson.dumps(e.get("entity", [])).decode()]
    assert [e["outcome"] for e in named] == ["4"]


def test_minutes_are_written_when_over_and_memory_is_bounded() -> None:
    now = [datetime(2026, 12, 6, 10, 0, 5, tzinfo=UTC)]
    written: list[dict[str, Any]] = []
    tally = UnauthenticatedTally("central", lambda: now[0], written.append)
    for _ in range(3):
        tally.note("10.0.0.1")
    tally.note("10.0.0.2")
    assert written == []  # the minute is not over
    now[0] += timedelta(minutes=1)
    tally.note("10.0.0.1")
    assert sorted((e["agent"][0]["network"]["address"], _counted(e)) for e in written) == [
        ("10.0.0.1", 3),
        ("10.0.0.2", 1),
    ]
    assert written[0]["period"] == {"start": "2026-12-06T10:00:00Z", "end": "2026-12-06T10:01:00Z"}
    written.clear()
    for n in range(MOST_ADDRESSES + 5):
        tally.note(f"10.1.{n // 256}.{n % 256}")
    tally.flush()
    # The table holds MOST_ADDRESSES (10.0.0.1's new minute among them), the rest is "(others)".
    assert len(written) == MOST_ADDRESSES + 1
    others = [e for e in written if "network" not in e["agent"][0]]
    assert len(others) == 1 and _counted(others[0]) == 6 and OTHERS in others[0]["outcomeDesc"]
