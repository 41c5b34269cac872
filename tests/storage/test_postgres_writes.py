"""Plain creates from the event loop on PostgreSQL (storage/postgres.py `write_async`): those that
wait at the same time share one transaction, and one bad write among them fails alone."""

from __future__ import annotations

import asyncio
import json

import pytest

from lifeline.errors import BadRequest
from lifeline.storage.packing import PACK_JSON_STATE, PACKED
from lifeline.storage.records import PendingVersion
from tests.conftest import dispose, fresh_repository


@pytest.fixture
def repo(tmp_path):
    repository = fresh_repository("postgresql", tmp_path)
    yield repository
    dispose(repository)


def _create(repo, res_id: str, content: str | None = None):
    text = content or json.dumps({"resourceType": "Basic", "id": res_id, "meta": {"versionId": "1"}})

    def work(session):
        version = PendingVersion("Basic", res_id, 1, "2026-11-23T08:00:00.000Z", False, text, "POST")
        session.put(version, None, replaces=False)
        return res_id

    return repo.write_async(work)


def _counting_transactions(repo) -> list[int]:
    transactions: list[int] = []
    send = repo._send_async

    async def counted(batches):
        transactions.append(len(batches))
        return await send(batches)

    repo._send_async = counted  # the real transaction, counted
    return transactions


def test_creates_waiting_together_go_in_fewer_transactions_and_are_all_stored(repo) -> None:
    transactions = _counting_transactions(repo)

    async def scenario():
        try:
            return await asyncio.gather(*(_create(repo, f"b{n}") for n in range(30)))
        finally:
            await repo.aclose()

    results = asyncio.run(scenario())
    assert [result for result, _ in results] == [f"b{n}" for n in range(30)]
    assert len(transactions) < 30, "creates that waited together shared a transaction"
    for n in range(30):
        stored = repo.read("Basic", f"b{n}")
        assert stored is not None and json.loads(stored.content)["id"] == f"b{n}"
    assert len(repo.changes_after(0, 100)) == 30, "every create is one version in the change feed"


def test_one_bad_write_among_them_fails_alone_and_leaves_nothing(repo) -> None:
    transactions = _counting_transactions(repo)
    unstorable = '{"resourceType": "Basic", "id": "bad", "note": "\x00"}'  # PostgreSQL text holds no NUL

    async def scenario():
        try:
            first = asyncio.ensure_future(_create(repo, "first"))  # takes a slot alone
            await asyncio.sleep(0)
            group = [_create(repo, "g1"), _create(repo, "bad", unstorable), _create(repo, "g2")]
            return [await first, *await asyncio.gather(*group, return_exceptions=True)]
        finally:
            await repo.aclose()

    outcomes = asyncio.run(scenario())
    assert isinstance(outcomes[2], BadRequest), outcomes
    assert "cannot be stored" in str(outcomes[2])
    assert [o[0] for i, o in enumerate(outcomes) if i != 2] == ["first", "g1", "g2"]
    assert repo.read("Basic", "bad") is None
    assert all(repo.read("Basic", name) is not None for name in ("first", "g1", "g2"))
    assert [c.res_id for c in repo.changes_after(0, 100)].count("bad") == 0
    # "first" alone, the three together (refused), then each of the three alone.
    assert len(transactions) == 5, transactions


def test_long_values_are_compressed_with_lz4_where_the_server_has_it(repo) -> None:
    """An audit record of a search page (12 KB for 50 patients) and a long resource are stored
    compressed; lz4 takes half the CPU of PostgreSQL's default pglz to do it."""
    with repo._connection() as conn:
        has_lz4 = conn.execute(
            "SELECT 'lz4' = ANY(enumvals) FROM pg_settings WHERE name = 'default_toast_compression'"
        ).fetchone()[0]
    long_text = " ".join(f"word{n}" for n in range(3000))  # about 26 KB, compressible
    content = json.dumps({"resourceType": "Basic", "id": "long", "meta": {"versionId": "1"}, "note": long_text})

    def work(session):
        session.put(PendingVersion("Basic", "long", 1, "2026-11-23T08:00:00.000Z", False, content, "POST"), None,
                    replaces=False)  # fmt: skip

    repo.write(work)
    with repo._connection() as conn:
        method = conn.execute("SELECT pg_column_compression(content) FROM resource WHERE res_id = 'long'").fetchone()[0]
    assert method == ("lz4" if has_lz4 else "pglz")
    assert has_lz4, "Debian's PostgreSQL, as on the machines Lifeline is measured on, is built with lz4"


def test_creates_from_the_event_loop_follow_the_packing_switch(repo) -> None:
    # storage/packing.py: a new database packs; once the switch is off (a database upgraded in
    # place, before `lifeline db repack`), an event-loop write reads it again and stores the JSON as it is.
    def basic(res_id: str) -> str:  # long enough for packing to shorten it (a short one stays as it is)
        coding = {"system": "http://terminology.hl7.org/CodeSystem/basic-resource-type", "code": "referral"}
        return json.dumps(
            {
                "resourceType": "Basic",
                "id": res_id,
                "meta": {"versionId": "1", "lastUpdated": "2026-11-23T08:00:00.000Z"},
                "code": {"coding": [coding], "text": "Henvisning til kardiologisk ambulatorium"},
                "subject": {"reference": "Patient/0f8c2a57-5b1e-4c0e-9d0a-2f4e6b8c1d3a"},
                "created": "2026-11-23",
            }
        )

    async def scenario() -> None:
        # One event loop for both, its pool closed at the end: a pool opened on one loop and used
        # from another hung `asyncio.run` now and then, waiting for the first loop's tasks.
        try:
            await _create(repo, "packed", basic("packed"))
            repo.write(lambda session: session.take_state(PACK_JSON_STATE, 0))
            repo._packs_json = None  # read the switch again now, not within PACK_JSON_CHECK_SECONDS
            await _create(repo, "plain", basic("plain"))
        finally:
            await repo.aclose()

    asyncio.run(scenario())
    with repo.reading() as session:
        rows = dict(session._all("SELECT res_id, content FROM resource WHERE res_type = 'Basic'", ()))
    assert rows["packed"].startswith(PACKED)
    assert rows["plain"].startswith("{")
    assert {key: repo.read("Basic", key).content for key in rows} == {key: basic(key) for key in rows}
