"""Incidents and their timeline, stored in the node's own tables (migration 14), and the status of
each component derived from the open incidents and the node's mode (status/components.py)."""

from __future__ import annotations

import pytest

from lifeline.errors import BadRequest, Conflict, NotFound
from lifeline.fhir.service import FhirService
from lifeline.identity.sites import add_site
from lifeline.status import incidents
from lifeline.status.board import IncidentBoard, public_json
from lifeline.status.components import (
    DEGRADED,
    MAJOR,
    OPERATIONAL,
    PARTIAL,
    check_components,
    components,
    overall,
)
from lifeline.status.incidents import Incident, Update

CENTRE = {"node": "central", "role": "central", "mode": "connected"}


def _open(node: FhirService, title: str = "Logins fail", impact: str = "major", **kw: object) -> Incident:
    return incidents.open_incident(
        node.repo, title=title, impact=impact, components=["staff-login"], text="", author="operator:ann",
        clock=node.clock, **kw,  # type: ignore[arg-type]
    )  # fmt: skip


def test_an_incident_is_opened_updated_and_resolved_with_its_timeline(node: FhirService) -> None:
    opened = _open(node, expected_back="2026-11-22T10:00:00Z")
    assert opened.status == "investigating" and opened.is_open and opened.expected_back == "2026-11-22T10:00:00Z"
    assert [u.text for u in opened.updates] == ["Logins fail"]
    updated = incidents.update_incident(
        node.repo, opened.id, status="identified", text="A <b>certificate</b> expired", author="operator:bo",
        clock=node.clock,
    )  # fmt: skip
    assert updated.expected_back == "2026-11-22T10:00:00Z"  # kept unless the update sets it
    cleared = incidents.update_incident(
        node.repo, opened.id, status="monitoring", text="Renewed", author="operator:bo", expected_back=None,
        clock=node.clock,
    )  # fmt: skip
    assert cleared.expected_back is None
    resolved = incidents.update_incident(
        node.repo, opened.id, status="resolved", text="Over", author="operator:bo", clock=node.clock
    )
    assert not resolved.is_open and resolved.resolved_at is not None
    assert [u.status for u in resolved.updates] == ["investigating", "identified", "monitoring", "resolved"]
    assert resolved.updates[1] == Update(
        resolved.updates[1].at, "identified", "A <b>certificate</b> expired", "operator:bo"
    )
    with node.repo.reading() as session:
        assert incidents.open_incidents(session) == []
        assert [i.id for i in incidents.resolved_incidents(session, "", 20)] == [opened.id]
    with pytest.raises(Conflict, match="resolved"):
        incidents.update_incident(node.repo, opened.id, status="monitoring", text="x", author="a", clock=node.clock)


def test_bad_input_writes_nothing(node: FhirService) -> None:
    with pytest.raises(BadRequest, match="impact"):
        _open(node, impact="huge")
    with pytest.raises(BadRequest, match="title"):
        _open(node, title="  ")
    with pytest.raises(NotFound):
        incidents.update_incident(node.repo, "nope", status="identified", text="x", author="a")
    opened = _open(node)
    with pytest.raises(BadRequest, match="status"):
        incidents.update_incident(node.repo, opened.id, status="fixed", text="x", author="a")
    with pytest.raises(BadRequest, match="text"):
        incidents.update_incident(node.repo, opened.id, status="identified", text=" ", author="a")
    assert len(incidents.require_incident(node.repo, opened.id).updates) == 1
    with node.repo.reading() as session:
        assert [i.id for i in incidents.open_incidents(session)] == [opened.id]


@pytest.mark.parametrize(
    ("text", "stored"),
    [
        ("2026-12-06T14:30", "2026-12-06T14:30:00Z"),
        ("2026-12-06T14:30+01:00", "2026-12-06T13:30:00Z"),
        ("2026-12-06T14:30:00Z", "2026-12-06T14:30:00Z"),
        ("none", None),
        (None, None),
    ],
)
def test_an_expected_restoration_time_is_a_date_time_or_none(text: str | None, stored: str | None) -> None:
    assert incidents.parse_eta(text) == stored


def test_an_eta_that_is_no_date_time_is_refused() -> None:
    with pytest.raises(BadRequest, match="not a date-time"):
        incidents.parse_eta("after lunch")


def _incident(impact: str, *keys: str) -> Incident:
    return Incident("i", "t", impact, "investigating", keys, "2026-11-22T08:00:00Z")


def test_the_worst_open_incident_sets_a_component() -> None:
    found = {
        c.key: c.status
        for c in components(
            CENTRE,
            [_incident("minor", "search", "record"), _incident("critical", "record"), _incident("none", "imaging")],
            ["herlev"],
        )  # fmt: skip
    }
    assert found["record"] == MAJOR and found["search"] == DEGRADED and found["imaging"] == OPERATIONAL
    assert found["replication:herlev"] == OPERATIONAL and found["staff-login"] == OPERATIONAL
    assert "node" not in found  # the centre has replication to each site instead
    assert overall(components(CENTRE, [_incident("major", "portal")], [])) == PARTIAL
    assert overall(components(CENTRE, [], [])) == OPERATIONAL


def test_a_site_in_continuity_has_replication_down_and_the_record_working() -> None:
    site = {"node": "herlev", "role": "site", "mode": "continuity"}
    found = {c.key: c for c in components(site, [], [])}
    assert found["replication"].status == MAJOR and found["record"].status == OPERATIONAL
    assert found["node"].status == DEGRADED and found["node"].mode == "continuity"
    healing = {c.key: c.status for c in components({**site, "mode": "healing"}, [], [])}
    assert healing["replication"] == DEGRADED
    connected = {c.key: c.status for c in components({**site, "mode": "connected"}, [_incident("minor", "node")], [])}
    assert connected["node"] == DEGRADED and connected["replication"] == OPERATIONAL


def test_components_an_operator_names_must_be_known_here() -> None:
    assert check_components(["record", "replication:herlev", "record"], "central", ["herlev"]) == [
        "record",
        "replication:herlev",
    ]
    with pytest.raises(BadRequest, match="unknown component 'replication:holbaek'"):
        check_components(["replication:holbaek"], "central", ["herlev"])
    with pytest.raises(BadRequest, match="unknown component 'node'"):
        check_components(["node"], "central", [])
    assert check_components(["node", "replication"], "site", []) == ["node", "replication"]


def test_the_board_computes_once_per_max_age_and_tells_no_names(node: FhirService) -> None:
    add_site(node.repo, "herlev", "https://herlev.example")
    now = [0.0]
    asked = []

    def status() -> dict[str, object]:
        asked.append(1)
        return dict(CENTRE)

    board = IncidentBoard(node, status, clock=lambda: now[0])
    first = board.snapshot()
    assert [c.key for c in first.components][-1] == "replication:herlev" and first.open == []
    opened = incidents.open_incident(
        node.repo, title="Herlev unreachable", impact="critical", components=["replication:herlev"], text="",
        author="operator:ann", clock=node.clock,
    )  # fmt: skip
    assert board.snapshot() is first  # within max_age: the same snapshot, no database
    now[0] = 5.0
    second = board.snapshot()
    assert len(asked) == 2 and [i.id for i in second.open] == [opened.id] and second.overall == MAJOR
    shown = public_json(second)
    assert shown["overall"] == MAJOR
    assert shown["incidents"][0]["updates"][0]["author"] == "operator" and "ann" not in str(shown)
    assert {"key": "replication:herlev", "status": MAJOR, "site": "herlev"} in shown["components"]
    incidents.update_incident(node.repo, opened.id, status="resolved", text="Back", author="a", clock=node.clock)
    now[0] = 10.0
    third = board.snapshot()
    assert third.open == [] and [i.id for i in third.history] == [opened.id] and third.overall == OPERATIONAL
