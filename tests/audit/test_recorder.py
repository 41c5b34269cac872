"""Group commit of access records (audit/recorder.py), from threads and from an event loop, on
both backends; on PostgreSQL the event loop's records are appended by the database itself
(`audit_append`, migration 11), which must hash exactly as audit/chain.py does."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import psycopg
import pytest

from lifeline.audit import store
from lifeline.audit.checkpoint import audit_key_ring
from lifeline.audit.recorder import AuditRecorder
from lifeline.audit.verify import verify
from tests.conftest import BACKENDS, PG_URL, dispose, fresh_repository


def event(n: int, name: str = "Jensen") -> dict[str, object]:
    return {
        "resourceType": "AuditEvent",
        "action": "R",
        "entity": [{"what": {"reference": f"Patient/p{n}"}, "name": name}],
    }


@pytest.fixture(params=BACKENDS)
def repo(request, tmp_path: Path):
    repository = fresh_repository(request.param, tmp_path)
    yield repository
    dispose(repository)


async def _submit_all(recorder: AuditRecorder, events: list[dict[str, object]]) -> list[int]:
    try:
        return list(await asyncio.gather(*(recorder.submit_async(e) for e in events)))
    finally:
        await recorder.repo.aclose()


def test_records_from_an_event_loop_and_from_threads_make_one_chain(repo) -> None:
    recorder = AuditRecorder(repo, "central")
    try:
        from_threads: list[int] = []

        def thread_writer(worker: int) -> None:
            for n in range(10):
                from_threads.append(recorder.record(event(1000 * worker + n)))

        threads = [threading.Thread(target=thread_writer, args=(w,)) for w in range(3)]
        for thread in threads:
            thread.start()
        from_loop = asyncio.run(_submit_all(recorder, [event(n) for n in range(60)]))
        for thread in threads:
            thread.join()
    finally:
        recorder.close()
    assert sorted(from_loop + from_threads) == list(range(1, 91)), "every record has its own place"
    records = store.events_after(repo, "central", 0, limit=1000)
    assert [r.seq for r in records] == list(range(1, 91))
    assert all(r.fits() for r in records)
    report = verify(repo, audit_key_ring(repo))
    assert report.ok, report.first_problem


def test_text_beyond_ascii_hashes_the_same_in_the_database_and_in_python(repo) -> None:
    names = ["Søren Ærøskøbing", "Zoë 'quoted' \"twice\"", "back\\slash\nand a line", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 ✓"]
    recorder = AuditRecorder(repo, "sjælland-site")
    try:
        seqs = asyncio.run(_submit_all(recorder, [event(n, name) for n, name in enumerate(names)]))
        seqs.append(store.append(repo, "sjælland-site", [event(9, names[0])])[0])
    finally:
        recorder.close()
    assert sorted(seqs) == [1, 2, 3, 4, 5]
    records = store.events_after(repo, "sjælland-site", 0, limit=10)
    assert all(r.fits() for r in records), "the stored hash is the hash of the stored fields"
    assert any("Søren Ærøskøbing" in r.content for r in records)
    assert verify(repo, audit_key_ring(repo)).ok


def test_a_failed_append_fails_its_requests_and_the_next_ones_are_recorded(tmp_path: Path) -> None:
    # The database refusing a write is staged with a PostgreSQL constraint.
    repo = fresh_repository("postgresql", tmp_path)
    recorder = AuditRecorder(repo, "central")

    def refuse(refusing: bool) -> None:
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute(f'SET search_path TO "{repo.schema}"')
            if refusing:
                conn.execute("ALTER TABLE audit_event ADD CONSTRAINT refused CHECK (false) NOT VALID")
            else:
                conn.execute("ALTER TABLE audit_event DROP CONSTRAINT refused")

    async def scenario() -> tuple[list[object], list[int]]:
        try:
            refuse(True)
            failed = await asyncio.gather(*(recorder.submit_async(event(n)) for n in range(5)), return_exceptions=True)
            refuse(False)
            recorded = await asyncio.gather(*(recorder.submit_async(event(n)) for n in range(5)))
            return failed, list(recorded)
        finally:
            await repo.aclose()

    try:
        failed, recorded = asyncio.run(scenario())
        assert all(isinstance(f, psycopg.errors.CheckViolation) for f in failed), failed
        assert recorded == [1, 2, 3, 4, 5], "the refused records left no gap and no half-written chain"
        assert verify(repo, audit_key_ring(repo)).ok
    finally:
        recorder.close()
        dispose(repo)


def test_a_closed_recorder_refuses_at_once(repo) -> None:
    recorder = AuditRecorder(repo, "central")
    recorder.close()

    async def scenario() -> None:
        try:
            with pytest.raises(RuntimeError, match="not running"):
                await recorder.submit_async(event(1))
        finally:
            await repo.aclose()

    asyncio.run(scenario())


def test_writes_records_move_into_the_chain_together_and_none_is_left_behind(repo, monkeypatch) -> None:
    """A write's record waits in the outbox (durable) and moves into the chain at most every
    DRAIN_EVERY_SECONDS, with the others that came meanwhile: one move a write cost a read and a
    transaction each under a stream of writes."""
    from lifeline.audit import recorder as recorder_module
    from lifeline.audit.chain import canonical

    moves: list[int] = []
    drain = recorder_module.drain_outbox

    def counted(repository):
        moved = drain(repository)
        if moved:
            moves.append(moved)
        return moved

    monkeypatch.setattr(recorder_module, "drain_outbox", counted)
    recorder = AuditRecorder(repo, "central")
    started = time.monotonic()
    try:
        for n in range(20):  # a write every 5 ms, each asking for its record to be moved
            repo.write(lambda session, n=n: session.add_audit_outbox("central", canonical(event(n))))
            recorder.drain_soon()
            time.sleep(0.005)
        spent = time.monotonic() - started
    finally:
        recorder.close()  # moves what is left
    assert sum(moves) == 20
    assert len(moves) <= 2 + spent / recorder_module.DRAIN_EVERY_SECONDS, moves
    records = store.events_after(repo, "central", 0)
    assert [r.content for r in records] == [canonical(event(n)) for n in range(20)], "in the order written"
