"""A large transaction sends its rows while it prepares the next ones (storage/ahead.py, issue 26).
On PostgreSQL the statements go ahead of COMMIT; on both backends the transaction means what it
did: everything is stored at COMMIT or nothing is, a failure of a statement sent ahead fails the
whole transaction, a failure in Python while statements are on the way leaves nothing behind and
the connection usable, and a resource written twice keeps both versions."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from lifeline.storage import ahead
from lifeline.storage.param_numbers import number
from lifeline.storage.postgres import SEND_AHEAD_RESOURCES
from lifeline.storage.repository import Repository, RetryableConflict
from lifeline.storage.write_session import WriteSession
from tests.conftest import dispose, fresh_repository
from tests.storage.writes import put

MANY = SEND_AHEAD_RESOURCES * 2 + 17  # two parts sent ahead, the rest at COMMIT


def observation(n: int, **extra: Any) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": f"o{n}",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "2339-0"}]},
        "subject": {"reference": "Patient/p1"},
        "valueQuantity": {"value": n, "unit": "mg/dL", "system": "http://unitsofmeasure.org", "code": "mg/dL"},
        **extra,
    }


def counts(repo: Repository) -> tuple[int, int, int]:
    """Rows of resource, resource_version and search_token for the test's Observations."""
    with repo.reading() as session:
        return tuple(  # type: ignore[return-value]
            int(session._all(f"SELECT COUNT(*) FROM {table} WHERE res_type = 'Observation'", ())[0][0])
            for table in ("resource", "resource_version", "search_token")
        )


def write_many(session: WriteSession) -> None:
    for n in range(MANY):
        put(session, observation(n))


def test_a_large_transaction_stores_every_resource_version_and_index_row(repo: Repository) -> None:
    repo.write(write_many)
    resources, versions, tokens = counts(repo)
    assert (resources, versions) == (MANY, MANY)
    assert tokens >= MANY * 2  # code and status, at least
    glucose = "SELECT COUNT(*) FROM search_token WHERE pid = ? AND code = ?"
    with repo.reading() as session:
        found = session._all(glucose, (number("Observation", "code"), "2339-0"))
    assert int(found[0][0]) == MANY


@pytest.fixture
def postgresql(tmp_path: Path) -> Iterator[Repository]:
    """SQLite has one writer in this process and sends each statement as it comes: nothing to
    send ahead there."""
    repository = fresh_repository("postgresql", tmp_path)
    yield repository
    dispose(repository)


def test_on_postgresql_the_rows_go_ahead_of_commit(postgresql: Repository, monkeypatch: pytest.MonkeyPatch) -> None:
    repo = postgresql
    sent: list[bytes] = []
    add = ahead.SentAhead.add

    def recorded(self: ahead.SentAhead, statement: bytes, rows: bytes | None = None) -> None:
        sent.append(statement)
        add(self, statement, rows)

    monkeypatch.setattr(ahead.SentAhead, "add", recorded)

    def work(session: WriteSession) -> int:
        write_many(session)
        return len(sent)  # before COMMIT

    before_commit, _ = repo.write(work)
    assert sum(s.startswith(b"COPY resource ") for s in sent[:before_commit]) == 2
    assert counts(repo)[0] == MANY


def test_a_statement_that_fails_ahead_fails_the_whole_transaction(repo: Repository) -> None:
    repo.write(lambda session: put(session, observation(5)))  # o5 exists: its insert will fail

    with pytest.raises(RetryableConflict):  # o5 again, in the first part sent ahead on PostgreSQL
        repo.write(write_many, attempts=1)
    assert counts(repo)[:2] == (1, 1), "nothing of the failed transaction stayed"
    repo.write(lambda session: put(session, observation(MANY + 1)))  # the connections still serve
    assert counts(repo)[:2] == (2, 2)


def test_a_failure_in_python_while_rows_are_on_their_way_leaves_nothing(repo: Repository) -> None:
    class Refused(Exception):
        pass

    def work(session: WriteSession) -> None:
        write_many(session)  # parts of it are on their way
        raise Refused

    with pytest.raises(Refused):
        repo.write(work)
    assert counts(repo)[:2] == (0, 0)
    for _ in range(3):  # every pooled connection is fit for the next transaction
        repo.write(write_many if _ == 0 else lambda session: None)
    assert counts(repo)[:2] == (MANY, MANY)


def test_a_resource_written_before_and_after_a_part_went_ahead_keeps_both_versions(repo: Repository) -> None:
    def work(session: WriteSession) -> None:
        put(session, observation(0, status="preliminary"))
        write_many_but_first(session)
        put(session, observation(0, status="final"), version=2)

    def write_many_but_first(session: WriteSession) -> None:
        for n in range(1, MANY):
            put(session, observation(n))

    repo.write(work)
    with repo.reading() as session:
        history = session.history("Observation", "o0", since=None, at=None, before=None, limit=10)
        status = {v.version_id: orjson.loads(v.content)["status"] for v in history if v.content}
        current = repo.read("Observation", "o0")
    assert status == {1: "preliminary", 2: "final"}
    assert current is not None and current.version_id == 2
    assert counts(repo)[:2] == (MANY, MANY + 1)


def test_a_read_inside_the_transaction_sees_the_rows_sent_ahead(repo: Repository) -> None:
    def work(session: WriteSession) -> int:
        write_many(session)
        return int(session._all("SELECT COUNT(*) FROM resource WHERE res_type = 'Observation'", ())[0][0])

    seen, _ = repo.write(work)
    assert seen == MANY
