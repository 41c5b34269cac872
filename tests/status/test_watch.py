"""The watch opens an incident when a probe fails and resolves it when the probe passes again
(status/watch.py), on both backends; what it holds while the database cannot take it."""

from __future__ import annotations

from lifeline.fhir.service import FhirService
from lifeline.status.board import IncidentBoard, public_incident
from lifeline.status.incidents import open_incidents, resolved_incidents
from lifeline.status.probes import Finding
from lifeline.status.watch import RESOLVE_AFTER, Watch, probe_key


class Switch:
    """A probe whose result the test sets."""

    def __init__(self) -> None:
        self.ok = True
        self.detail = "all well"

    def __call__(self) -> list[Finding]:
        return [Finding("switch", self.ok, "The switch is off", ("record", "search"), "major", self.detail)]


def _open(node: FhirService) -> list:
    with node.repo.reading() as session:
        return open_incidents(session)


def test_a_failing_probe_opens_one_incident_and_a_passing_one_resolves_it(node: FhirService) -> None:
    switch = Switch()
    changes: list[int] = []
    watch = Watch(node.repo, [switch], every_seconds=60, clock=node.clock, on_change=lambda: changes.append(1))
    watch.run_once()
    assert _open(node) == [] and changes == []

    switch.ok, switch.detail = False, "3 of 3 reads failed"
    watch.run_once()
    watch.run_once()  # still failing: no second incident
    found = _open(node)
    assert len(found) == 1 and changes == [1]
    incident = found[0]
    assert (incident.title, incident.impact, incident.status) == ("The switch is off", "major", "investigating")
    assert incident.components == ("record", "search")
    assert probe_key(incident) == "switch" and incident.updates[0].text == "3 of 3 reads failed"
    assert public_incident(incident)["updates"][0]["author"] == "automatic"

    switch.ok, switch.detail = True, "reads answer again"
    for _ in range(RESOLVE_AFTER - 1):
        watch.run_once()
        assert len(_open(node)) == 1  # one passing run is not enough: no flapping
    watch.run_once()
    assert _open(node) == []
    with node.repo.reading() as session:
        (resolved,) = resolved_incidents(session, "", 10)
    assert resolved.id == incident.id and resolved.status == "resolved"
    assert (
        resolved.updates[-1].text.startswith("Resolved by itself") and "reads answer again" in resolved.updates[-1].text
    )
    assert watch.results["switch"].finding.ok


def test_an_operators_incident_is_left_to_the_operator(node: FhirService) -> None:
    from lifeline.status.incidents import open_incident

    open_incident(node.repo, title="Planned work", impact="minor", components=["record"], text="x", author="ops")
    watch = Watch(node.repo, [Switch()], every_seconds=60, clock=node.clock)
    for _ in range(RESOLVE_AFTER + 1):
        watch.run_once()
    assert [i.title for i in _open(node)] == ["Planned work"]


def test_a_probe_that_breaks_is_a_finding_not_a_crash(node: FhirService) -> None:
    def broken() -> list[Finding]:
        raise RuntimeError("no route to host")

    watch = Watch(node.repo, [broken], every_seconds=60, clock=node.clock)
    (finding,) = watch.run_once()
    assert not finding.ok and "no route to host" in finding.detail
    assert [i.title for i in _open(node)] == ["A health probe could not run"]


class Unreachable:
    """A repository whose database stopped answering (or answers again)."""

    def __init__(self, repo) -> None:
        self.repo, self.down = repo, True

    def reading(self):
        if self.down:
            raise ConnectionError("connection refused")
        return self.repo.reading()

    def write(self, work):
        if self.down:
            raise ConnectionError("connection refused")
        return self.repo.write(work)


def test_an_incident_is_held_in_memory_while_the_database_is_down_and_written_after(node: FhirService) -> None:
    switch = Switch()
    switch.ok = False
    store = Unreachable(node.repo)
    watch = Watch(store, [switch], every_seconds=60, clock=node.clock)  # type: ignore[arg-type]
    watch.run_once()
    (held,) = watch.unrecorded_incidents()
    assert held.title == "The switch is off"

    board = IncidentBoard(node, lambda: {"node": "central", "role": "central"}, held=watch.unrecorded_incidents)
    snapshot = board.snapshot()
    assert [i.title for i in snapshot.open] == ["The switch is off"]
    assert {c.key: c.status for c in snapshot.components}["record"] == "partial_outage"

    store.down = False
    watch.run_once()
    assert watch.unrecorded_incidents() == []
    (written,) = _open(node)
    assert written.began == held.began  # the time it began, not the time it could be written


def test_the_board_tells_of_the_database_when_it_cannot_read_it(node: FhirService) -> None:
    def node_status() -> dict:
        raise ConnectionError("connection refused")

    board = IncidentBoard(node, node_status)
    snapshot = board.snapshot()
    assert snapshot.overall == "major_outage"
    assert [i.title for i in snapshot.open] == ["The record's database cannot be reached"]
    assert snapshot.node["database"] == "unreachable"
