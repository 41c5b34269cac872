"""Each version's JSON is stored once (migration 19, issue 27): the current version's in
`resource`, every other in its resource_version row. Reads of a version (vread, history, the
change feed) give every version's content as it was written, on both backends, whatever wrote
it: updates, a delete, two versions in one transaction, another node's versions, restamps."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from lifeline.search.extract import extract_index
from lifeline.storage import open_repository
from lifeline.storage.records import PendingVersion
from lifeline.storage.repository import Repository
from lifeline.storage.write_session import WriteSession, index_rows
from tests.conftest import BACKENDS, database_url, dispose
from tests.storage.writes import INSTANT, as_of_migration, put


def patient(version: int) -> dict[str, Any]:
    return {"resourceType": "Patient", "id": "p", "name": [{"family": f"Version{version}"}]}


def stored_content(repo: Repository) -> dict[int, Any]:
    """What resource_version itself holds for Patient/p, by version (None: no JSON of its own)."""
    with repo.reading() as session:
        rows = session._all(f"SELECT version_id, {repo.dialect.json_out} FROM resource_version WHERE res_id = 'p'", ())
    return {int(v): content for v, content in rows}


def families(repo: Repository) -> dict[str, dict[int, str | None]]:
    """Each version's family name as vread, history and the change feed read it."""

    def family(content: str | None) -> str | None:
        return None if content is None else orjson.loads(content)["name"][0]["family"]

    with repo.reading() as session:
        history = session.history("Patient", "p", since=None, at=None, before=None, limit=50)
        versions = sorted(v.version_id for v in history)
        vread = {n: session.vread("Patient", "p", n) for n in versions}
    return {
        "vread": {n: family(v.content) for n, v in vread.items() if v is not None},
        "history": {v.version_id: family(v.content) for v in history},
        "feed": {v.version_id: family(v.content) for v in repo.changes_after(0) if v.res_id == "p"},
    }


def read_everywhere(repo: Repository, expected: dict[int, str | None]) -> None:
    assert families(repo) == {"vread": expected, "history": expected, "feed": expected}


def test_the_current_version_is_stored_once_and_every_version_reads_whole(repo: Repository) -> None:
    for n in (1, 2, 3):
        repo.write(lambda session, n=n: put(session, patient(n), n))
    assert stored_content(repo)[3] is None  # the current row holds it
    assert all(stored_content(repo)[n] is not None for n in (1, 2))
    read_everywhere(repo, {1: "Version1", 2: "Version2", 3: "Version3"})
    repo.write(lambda session: put(session, patient(4), 4, deleted=True))
    assert stored_content(repo)[3] is not None and stored_content(repo)[4] is None
    read_everywhere(repo, {1: "Version1", 2: "Version2", 3: "Version3", 4: None})
    repo.write(lambda session: put(session, patient(5), 5))  # back after the delete
    read_everywhere(repo, {1: "Version1", 2: "Version2", 3: "Version3", 4: None, 5: "Version5"})


def test_two_versions_in_one_transaction(repo: Repository) -> None:
    def work(session: WriteSession) -> None:
        put(session, patient(1), 1)
        put(session, patient(2), 2)

    repo.write(work)
    assert stored_content(repo)[1] is not None and stored_content(repo)[2] is None
    read_everywhere(repo, {1: "Version1", 2: "Version2"})


def replicated(n: int, content: dict[str, Any]) -> PendingVersion:
    return PendingVersion("Patient", "p", n, INSTANT, False, orjson.dumps(content).decode(), "PUT", "centre")


def test_another_nodes_versions_and_restamps(repo: Repository) -> None:
    for n in (1, 2):
        repo.write(lambda session, n=n: put(session, patient(n), n))
    rows = index_rows(("Patient", "p"), extract_index(patient(9)))
    # The centre's version 2 replaces this node's own version 2, and becomes current.
    repo.write(lambda session: session.put_replicated(replicated(2, patient(22)), rows, current=True))
    read_everywhere(repo, {1: "Version1", 2: "Version22"})
    # An old version arriving late is history only: it keeps its own JSON.
    repo.write(lambda session: session.put_replicated(replicated(1, patient(11)), rows, current=False))
    read_everywhere(repo, {1: "Version11", 2: "Version22"})
    # Restamped versions keep their content where it is: the current one in `resource`.
    later = "2026-11-23T08:00:00.000Z"
    restamps = [("Patient", "p", n, later, orjson.dumps({**patient(n), "meta": {"lastUpdated": later}}).decode())
                for n in (1, 2)]  # fmt: skip
    repo.write(lambda session: session.restamp(restamps))
    assert stored_content(repo)[2] is None
    read_everywhere(repo, {1: "Version1", 2: "Version2"})


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_database_in_use_drops_its_second_copies(
    backend: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = open_repository(database_url(backend, tmp_path))
    try:
        with as_of_migration(monkeypatch, repo, 18):
            for n in (1, 2):
                repo.write(lambda session, n=n: put(session, patient(n), n))
            with repo.reading() as session:  # as the code before wrote it: every version whole
                session.conn.execute(
                    "UPDATE resource_version SET content = (SELECT r.content FROM resource r"
                    " WHERE r.res_id = resource_version.res_id) WHERE version_id = 2"
                )
                if backend == "sqlite":
                    session.conn.commit()
            assert stored_content(repo)[2] is not None
        assert repo.migrate()[0] == 19  # and those after it
        assert stored_content(repo)[2] is None and stored_content(repo)[1] is not None
        read_everywhere(repo, {1: "Version1", 2: "Version2"})
    finally:
        dispose(repo)
