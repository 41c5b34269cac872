"""The global change sequence: gap-free in commit order, never missing a late commit, with node ids."""

from __future__ import annotations

import threading
import time

import pytest

from lifeline.storage.records import PendingVersion
from tests.conftest import BACKENDS, dispose, fresh_repository


@pytest.fixture(params=BACKENDS)
def repo(request, tmp_path):
    repository = fresh_repository(request.param, tmp_path)
    yield repository
    dispose(repository)


def _write(repo, res_id: str, *, fail: bool = False) -> None:
    def work(session):
        current = session.read_for_update("Basic", res_id)
        version = current.version_id + 1 if current else 1
        content = f'{{"resourceType":"Basic","id":"{res_id}"}}'
        session.put(
            PendingVersion("Basic", res_id, version, "2026-11-22T08:00:00.000Z", False, content, "PUT"),
            None,
            replaces=current is not None,
        )
        if fail:
            raise RuntimeError("the work failed after writing")

    repo.write(work)


def test_numbers_are_gap_free_and_a_failed_write_leaves_nothing(repo):
    _write(repo, "a")
    with pytest.raises(RuntimeError):
        _write(repo, "b", fail=True)
    _write(repo, "c")
    changes = repo.changes_after(0)
    assert [c.change_seq for c in changes] == [1, 2]
    assert [c.res_id for c in changes] == ["a", "c"]
    assert all(c.node_id == "central" for c in changes)
    assert repo.read("Basic", "b") is None


def test_concurrent_writers_and_a_tailing_reader_never_miss_a_change(repo):
    writers, per_writer = 6, 25
    done = threading.Event()
    seen: list[int] = []

    def tail() -> None:
        position = 0
        # Bounded by time, not by rounds: an empty feed is read again after a millisecond, so a
        # fast reader cannot use up its rounds while slow writers still commit.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            finished = done.is_set()  # read before the page, so a last commit is never missed
            page = repo.changes_after(position, 50)
            for change in page:
                assert change.change_seq == position + 1, "a change was skipped"
                position = change.change_seq
                seen.append(position)
            if finished and not page:
                return
            if not page:
                time.sleep(0.001)

    def write(n: int) -> None:
        for i in range(per_writer):
            _write(repo, f"w{n}-{i % 5}")

    reader = threading.Thread(target=tail)
    reader.start()
    threads = [threading.Thread(target=write, args=(n,)) for n in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    done.set()
    reader.join(timeout=60)
    total = writers * per_writer
    assert seen == list(range(1, total + 1))
    with repo.reading() as session:
        assert session.last_change_seq() == total


def test_history_rows_keep_every_version(repo):
    for _ in range(3):
        _write(repo, "x")
    with repo.reading() as session:
        versions = session.history("Basic", "x", since=None, at=None, before=None, limit=10)
    assert [v.version_id for v in versions] == [3, 2, 1]
