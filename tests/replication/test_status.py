"""`GET /status.json` is public and will be hammered (issue 20): it writes nothing, counts the open
conflicts from an index instead of reading every conflict ever, and is computed at most once a
second per process, saying so in `Cache-Control`."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from types import SimpleNamespace
from typing import Any

import pytest
from starlette.testclient import TestClient

from lifeline.fhir import conflicts
from lifeline.fhir.service import FhirService
from lifeline.replication import status
from lifeline.storage.records import PendingVersion
from lifeline.storage.session import Session
from lifeline.storage.write_session import WriteSession
from lifeline.web.app import create_app


class Reads:
    """The statements this thread ran through a storage session, and the rows they returned."""

    def __init__(self) -> None:
        self.statements = 0
        self.rows = 0


@contextmanager
def reads_of_this_thread(monkeypatch: pytest.MonkeyPatch) -> Iterator[Reads]:
    seen = Reads()
    me = threading.get_ident()
    one, every = Session._one, Session._all

    def counted_one(session: Session, sql: str, params: Any = ()) -> Any:
        row = one(session, sql, params)
        if threading.get_ident() == me:
            seen.statements += 1
            seen.rows += row is not None
        return row

    def counted_all(session: Session, sql: str, params: Any = ()) -> list[Any]:
        rows = every(session, sql, params)
        if threading.get_ident() == me:
            seen.statements += 1
            seen.rows += len(rows)
        return rows

    with monkeypatch.context() as patch:
        patch.setattr(Session, "_one", counted_one)
        patch.setattr(Session, "_all", counted_all)
        yield seen


def _conflict(state: str) -> conflicts.ConflictRecord:
    return conflicts.ConflictRecord(
        id=str(uuid.uuid4()),
        res_type="Patient",
        res_id=str(uuid.uuid4()),
        site=f"s{uuid.uuid4().hex[:8]}",
        local_seq=1,
        detected_at="2026-11-23T08:00:00Z",
        central_version=2,
        site_base_version=1,
        site_content={"resourceType": "Patient", "gender": "female"},
        status=state,
    )


def _record(service: FhirService, records: list[conflicts.ConflictRecord]) -> None:
    def work(session: WriteSession) -> None:
        for record in records:
            previous = session.read_for_update(conflicts.CONFLICT, record.id)
            conflicts.put_conflict(session, record, "2026-11-23T08:00:00.000Z", previous=previous)

    service.repo.write(work)


def test_the_open_conflicts_are_counted_without_reading_any_conflict(
    service: FhirService, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = status.node_status(service, None)["openConflicts"]
    waiting = [_conflict("open") for _ in range(3)]
    _record(service, [*waiting, *(_conflict("resolved") for _ in range(600))])
    with reads_of_this_thread(monkeypatch) as reads:
        answer = status.node_status(service, None)
    assert answer["openConflicts"] == before + 3
    # One row per question asked (conflicts, the position, the audit outbox), however many
    # conflicts were ever recorded.
    assert reads.statements <= 3 and reads.rows == reads.statements
    waiting[0].status = "resolved"
    _record(service, [waiting[0]])
    assert status.node_status(service, None)["openConflicts"] == before + 2


def test_a_status_writes_nothing_yet_counts_what_has_committed(
    service: FhirService, monkeypatch: pytest.MonkeyPatch
) -> None:
    basic = str(uuid.uuid4())
    text = f'{{"resourceType":"Basic","id":"{basic}"}}'
    service.repo.write(
        lambda session: session.put(
            PendingVersion("Basic", basic, 1, "2026-11-23T08:00:00.000Z", False, text, "PUT"), None, replaces=False
        )
    )
    with service.repo.reading() as session:
        numbered = session.last_change_seq()
    # Every way the repository writes, the numbering of committed versions included (PostgreSQL
    # numbers after commit): none may run for a status. Other threads (the audit recorder) may.
    me, writes = threading.get_ident(), []
    for name in ("write", "write_async", "sequence"):

        def refused(*args: Any, _name: str = name, _real: Any = getattr(service.repo, name), **kw: Any) -> Any:
            if threading.get_ident() == me:
                writes.append(_name)
            return _real(*args, **kw)

        monkeypatch.setattr(service.repo, name, refused)
    answer = status.node_status(service, None)
    assert writes == []
    with service.repo.reading() as session:
        assert session.last_change_seq() == numbered  # nothing was numbered for the status
    # Yet the centre's position counts the new version, numbered or not: the number the next
    # numbering round (a site reading the feed) gives the last committed version.
    assert answer["position"] == service.repo.sequence() >= numbered


def test_a_flood_of_status_requests_computes_once_a_second(
    service: FhirService, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = create_app(service, close_on_shutdown=False)
    anonymous = TestClient(app, base_url="http://testserver")
    computed: list[dict[str, Any]] = []
    real = status.node_status

    def counted(service: FhirService, site: Any) -> dict[str, Any]:
        computed.append(real(service, site))
        return computed[-1]

    monkeypatch.setattr(status, "node_status", counted)
    answers = [anonymous.get("/status.json") for _ in range(50)] + [anonymous.get("/metrics") for _ in range(10)]
    # 60 requests take far less than a second: one computation, two if a second ended meanwhile.
    assert 1 <= len(computed) <= 2
    for answer in answers:
        assert answer.status_code == 200
        assert answer.headers["cache-control"] == "public, max-age=1"
    shown = answers[0].json()
    assert shown["mode"] == "connected" and shown["openConflicts"] == computed[0]["openConflicts"]
    assert f'lifeline_audit_outbox{{node="central",role="central"}} {float(shown["auditOutbox"])}' in (answers[-1].text)
    assert f'lifeline_open_conflicts{{node="central",role="central"}} {float(shown["openConflicts"])}' in (
        answers[-1].text
    )


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _counting_board(
    monkeypatch: pytest.MonkeyPatch, site: Any = None, slow: tuple[threading.Event, threading.Event] | None = None
) -> tuple[status.StatusBoard, FakeClock, list[int]]:
    """A board over a stand-in computation that numbers its answers; with `slow` (started,
    finish), every computation after the first says it started and waits to be let finish."""
    computed: list[int] = []

    def compute(service: Any, site: Any) -> dict[str, Any]:
        if slow is not None and computed:
            slow[0].set()
            slow[1].wait(10)
        computed.append(len(computed) + 1)
        mode = "connected" if site is None else site.mode
        return {"node": "n", "role": "central", "mode": mode, "pendingLocalChanges": 0, "openConflicts": computed[-1]}

    monkeypatch.setattr(status, "node_status", compute)
    clock = FakeClock()
    return status.StatusBoard(SimpleNamespace(), site, clock=clock), clock, computed


def test_the_status_is_computed_again_after_a_second_or_when_the_mode_changes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    site = SimpleNamespace(mode="connected", mode_since=1.0)
    board, clock, computed = _counting_board(monkeypatch, site)
    assert board.fresh() is None
    assert all(board.answer().status["openConflicts"] == 1 for _ in range(100))
    clock.now += 0.99
    assert board.fresh() is not None and board.answer().status["openConflicts"] == 1
    clock.now += 0.01
    assert board.fresh() is None and board.answer().status["openConflicts"] == 2
    site.mode, site.mode_since = "continuity", 2.0  # shown at once, not a second later
    assert board.fresh() is None
    assert board.answer().status["mode"] == "continuity" and computed == [1, 2, 3]


def test_while_one_request_computes_the_others_get_the_previous_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    started, finish = threading.Event(), threading.Event()
    board, clock, computed = _counting_board(monkeypatch, slow=(started, finish))
    board.answer()
    clock.now += 1
    slow = threading.Thread(target=board.answer)
    slow.start()
    try:
        assert started.wait(10)
        # The database is slow (or gone): no queue of threads waits behind it, the last answer stands.
        assert board.answer().status["openConflicts"] == 1
    finally:
        finish.set()
        slow.join(10)
    assert computed == [1, 2] and board.answer().status["openConflicts"] == 2
