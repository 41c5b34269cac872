"""Reads by id that wait together go together: storage/read_batch.py, alone and on PostgreSQL."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence

import pytest

from lifeline.errors import BadRequest, StorageUnavailable
from lifeline.storage.read_batch import Key, ReadBatcher
from lifeline.storage.records import PendingVersion
from tests.conftest import dispose, fresh_repository


class Store:
    """What the batcher reads from: a dict, with a gate that holds queries until it opens and a
    record of every query's keys."""

    def __init__(self, rows: dict[Key, str], *, held: bool = False) -> None:
        self.rows = rows
        self.queries: list[list[Key]] = []
        self.gate = asyncio.Event()
        if not held:
            self.gate.set()

    async def fetch(self, keys: Sequence[Key]) -> dict[Key, str]:
        self.queries.append(list(keys))
        await self.gate.wait()
        if ("Basic", "broken") in keys:
            raise StorageUnavailable("PostgreSQL is unavailable: the test broke it")
        if ("Basic", "refused") in keys:
            raise BadRequest("A value in the request cannot be searched: the test refused it")
        return {key: self.rows[key] for key in keys if key in self.rows}


ROWS = {("Patient", str(n)): f"patient {n}" for n in range(10)}


async def _settle() -> None:
    for _ in range(5):  # a few turns of the loop: every task started has run to its first wait
        await asyncio.sleep(0)


async def _behind_a_read_alone(batcher: ReadBatcher, keys: list[Key]) -> list[asyncio.Task]:
    """A read of Patient/1 that takes the one free slot alone, then reads of `keys` that arrive
    while it runs and so gather behind it."""
    reads = [asyncio.create_task(batcher.read(("Patient", "1")))]
    await _settle()
    reads += [asyncio.create_task(batcher.read(key)) for key in keys]
    await _settle()
    return reads


def test_a_read_alone_is_sent_at_once_and_a_missing_one_is_none() -> None:
    async def scenario() -> None:
        store = Store(ROWS)
        batcher = ReadBatcher(store.fetch)
        assert await batcher.read(("Patient", "1")) == "patient 1"
        assert await batcher.read(("Patient", "missing")) is None
        assert store.queries == [[("Patient", "1")], [("Patient", "missing")]]

    asyncio.run(scenario())


def test_reads_waiting_while_every_query_is_busy_go_in_one_query() -> None:
    async def scenario() -> None:
        store = Store(ROWS, held=True)
        batcher = ReadBatcher(store.fetch, in_flight=2)
        first = []
        for n in ("0", "1"):
            first.append(asyncio.create_task(batcher.read(("Patient", n))))
            await _settle()
        assert store.queries == [[("Patient", "0")], [("Patient", "1")]]  # both slots busy
        waiting = [asyncio.create_task(batcher.read(("Patient", n))) for n in ("2", "3", "3", "nobody")]
        await _settle()
        assert len(store.queries) == 2, "nothing more is sent while both queries run"
        store.gate.set()
        assert await asyncio.gather(*first) == ["patient 0", "patient 1"]
        assert await asyncio.gather(*waiting) == ["patient 2", "patient 3", "patient 3", None]
        # The four waiting reads went as one query, the repeated id asked once.
        assert sorted(store.queries[2:]) == [[("Patient", "2"), ("Patient", "3"), ("Patient", "nobody")]]

    asyncio.run(scenario())


def test_a_batch_holds_at_most_its_limit_of_ids() -> None:
    async def scenario() -> None:
        store = Store(ROWS, held=True)
        batcher = ReadBatcher(store.fetch, in_flight=1, most=3)
        reads = [asyncio.create_task(batcher.read(("Patient", str(n)))) for n in range(8)]
        await _settle()
        store.gate.set()
        assert await asyncio.gather(*reads) == [f"patient {n}" for n in range(8)]
        assert [len(keys) for keys in store.queries] == [3, 3, 2]

    asyncio.run(scenario())


def test_a_value_the_database_refuses_fails_only_its_own_read() -> None:
    async def scenario() -> None:
        store = Store(ROWS, held=True)
        batcher = ReadBatcher(store.fetch, in_flight=1)
        asked = [("Basic", "refused"), ("Patient", "2"), ("Patient", "3")]
        reads = await _behind_a_read_alone(batcher, asked)
        store.gate.set()
        outcomes = await asyncio.gather(*reads, return_exceptions=True)
        assert outcomes[0] == "patient 1"  # sent alone, before the others asked
        assert isinstance(outcomes[1], BadRequest), outcomes
        assert outcomes[2:] == ["patient 2", "patient 3"]
        assert store.queries[1] == asked, "the three went together first"
        assert sorted(store.queries[2:]) == [[key] for key in sorted(asked)], "then each alone"

    asyncio.run(scenario())


def test_a_database_that_is_down_fails_the_whole_group_at_once() -> None:
    async def scenario() -> None:
        store = Store(ROWS, held=True)
        batcher = ReadBatcher(store.fetch, in_flight=1)
        reads = await _behind_a_read_alone(batcher, [("Basic", "broken"), ("Patient", "2")])
        store.gate.set()
        outcomes = await asyncio.gather(*reads, return_exceptions=True)
        assert outcomes[0] == "patient 1"
        assert all(isinstance(o, StorageUnavailable) for o in outcomes[1:]), outcomes
        assert len(store.queries) == 2, "no query per reader against a database that is down"
        assert await batcher.read(("Patient", "3")) == "patient 3"

    asyncio.run(scenario())


def test_a_reader_that_goes_away_leaves_the_others_their_answers() -> None:
    async def scenario() -> None:
        store = Store(ROWS, held=True)
        batcher = ReadBatcher(store.fetch, in_flight=1)
        reads = await _behind_a_read_alone(batcher, [("Patient", "2"), ("Patient", "2")])
        reads[1].cancel()  # its client hung up
        store.gate.set()
        assert await reads[0] == "patient 1"
        assert await reads[2] == "patient 2"
        with pytest.raises(asyncio.CancelledError):
            await reads[1]
        assert await batcher.read(("Patient", "4")) == "patient 4"

    asyncio.run(scenario())


@pytest.fixture
def postgres(tmp_path):
    repository = fresh_repository("postgresql", tmp_path)
    yield repository
    dispose(repository)


def _put(repo, res_type: str, res_id: str, *, deleted: bool = False) -> int:
    def work(session):
        current = session.read_for_update(res_type, res_id)
        version = current.version_id + 1 if current else 1
        body = {"resourceType": res_type, "id": res_id, "meta": {"versionId": str(version)}}
        content = None if deleted else json.dumps(body)
        session.put(
            PendingVersion(res_type, res_id, version, "2026-11-23T08:00:00.000Z", deleted, content, "PUT"),
            None,
            replaces=current is not None,
        )
        return version

    return repo.write(work)[0]


def test_postgres_answers_many_reads_in_one_query_each_with_its_own_row(postgres) -> None:
    _put(postgres, "Basic", "b1")
    _put(postgres, "Patient", "p1")
    _put(postgres, "Patient", "gone")
    _put(postgres, "Patient", "gone", deleted=True)
    asked = [("Basic", "b1"), ("Patient", "p1"), ("Patient", "gone"), ("Basic", "p1"), ("Patient", "b1")]
    asked += [("Observation", "never")] * 3

    queries = []
    fetch = postgres._fetch_async

    async def recorded(keys):
        queries.append(len(keys))
        return await fetch(keys)

    postgres._fetch_async = recorded  # the real query, counted

    async def scenario():
        try:
            return await asyncio.gather(*(postgres.read_async(t, i) for t, i in asked))
        finally:
            await postgres.aclose()

    found = asyncio.run(scenario())
    assert [(f.res_type, f.res_id, f.version_id, f.deleted) if f else None for f in found] == [
        ("Basic", "b1", 1, False),
        ("Patient", "p1", 1, False),
        ("Patient", "gone", 2, True),
        None,  # the type of one and the id of another: not a resource
        None,
        None,
        None,
        None,
    ]
    assert json.loads(found[1].content)["id"] == "p1"
    assert queries == [6], "the reads asked together went as one query of their six keys"


def test_postgres_a_read_under_load_sees_the_write_committed_before_it(postgres) -> None:
    for n in range(20):
        _put(postgres, "Patient", f"busy{n}")
    _put(postgres, "Basic", "counter")

    async def scenario() -> list[tuple[int, int]]:
        stop = asyncio.Event()

        async def keep_busy(n: int) -> None:
            for _ in range(10_000):  # bounded; stops when the writes are done
                if stop.is_set():
                    return
                assert await postgres.read_async("Patient", f"busy{n}") is not None

        readers = [asyncio.create_task(keep_busy(n)) for n in range(20)]
        seen = []
        try:
            for _ in range(15):
                await asyncio.sleep(0.002)
                written = _put(postgres, "Basic", "counter")
                stored = await postgres.read_async("Basic", "counter")
                seen.append((written, stored.version_id))
        finally:
            stop.set()
            await asyncio.gather(*readers)
            await postgres.aclose()
        return seen

    seen = asyncio.run(scenario())
    assert all(written == read for written, read in seen), seen


def test_postgres_a_refused_id_among_others_fails_alone(postgres) -> None:
    _put(postgres, "Patient", "p1")

    async def scenario():
        try:
            first = asyncio.ensure_future(postgres.read_async("Patient", "busy"))  # takes a slot alone
            second = asyncio.ensure_future(postgres.read_async("Patient", "busy-too"))
            await asyncio.sleep(0)
            group = [postgres.read_async("Patient", "p1"), postgres.read_async("Patient", "a\x00b")]
            return [await first, await second, *await asyncio.gather(*group, return_exceptions=True)]
        finally:
            await postgres.aclose()

    outcomes = asyncio.run(scenario())
    assert outcomes[:2] == [None, None]
    assert outcomes[2] is not None and outcomes[2].res_id == "p1"
    assert isinstance(outcomes[3], BadRequest), outcomes
