"""lifeline.storage.write_session `put_version`: the one place a local write's version is numbered
(1 for a new resource, one past the stored version otherwise, a delete included), on every backend."""

from __future__ import annotations

import uuid

import pytest

from lifeline.storage.index_rows import IndexEntries, ReferenceEntry
from lifeline.storage.records import PendingVersion
from tests.conftest import BACKENDS, dispose, fresh_repository

INSTANT = "2026-11-22T08:00:00.000Z"


@pytest.fixture(params=BACKENDS)
def repo(request, tmp_path):
    repository = fresh_repository(request.param, tmp_path)
    yield repository
    dispose(repository)


def _put(repo, res_id: str, *, deleted: bool = False, index: IndexEntries | None = None) -> PendingVersion:
    content = None if deleted else f'{{"resourceType":"Basic","id":"{res_id}"}}'

    def work(session):
        previous = session.read_for_update("Basic", res_id)
        return session.put_version("Basic", res_id, previous, INSTANT, content, deleted=deleted, index=index)

    pending, _ = repo.write(work)
    return pending


def _about(patient: str) -> IndexEntries:
    return IndexEntries(references=[ReferenceEntry("subject", "Patient", patient, None)])


def test_versions_are_numbered_from_one_and_a_delete_counts(repo) -> None:
    res_id = uuid.uuid4().hex
    written = [_put(repo, res_id), _put(repo, res_id), _put(repo, res_id, deleted=True), _put(repo, res_id)]
    assert [p.version_id for p in written] == [1, 2, 3, 4]
    stored = repo.read("Basic", res_id)
    assert stored is not None and (stored.version_id, stored.deleted) == (4, False)
    history = [(c.version_id, c.deleted, c.method) for c in repo.changes_after(0) if c.res_id == res_id]
    assert history == [(1, False, "PUT"), (2, False, "PUT"), (3, True, "PUT"), (4, False, "PUT")]


def test_one_resource_twice_in_one_transaction_gets_two_numbers(repo) -> None:
    res_id = uuid.uuid4().hex

    def work(session):
        first = session.put_version("Basic", res_id, None, INSTANT, "{}", method="POST", node_id="site-a")
        second = session.put_version("Basic", res_id, session.read_for_update("Basic", res_id), INSTANT, "{}")
        return first.version_id, second.version_id

    numbers, _ = repo.write(work)
    assert numbers == (1, 2)
    history = [(c.version_id, c.method, c.node_id) for c in repo.changes_after(0) if c.res_id == res_id]
    assert history == [(1, "POST", "site-a"), (2, "PUT", "central")]


def test_the_index_rows_follow_the_numbered_version(repo) -> None:
    res_id = uuid.uuid4().hex

    def pointed_at() -> list[tuple[str, str]]:
        with repo.reading() as session:
            return session.references_from([("Basic", res_id)], None, None)

    _put(repo, res_id, index=_about("p1"))
    assert pointed_at() == [("Patient", "p1")]
    _put(repo, res_id, index=_about("p2"))
    assert pointed_at() == [("Patient", "p2")]
    _put(repo, res_id, deleted=True)
    assert pointed_at() == []
