"""Appending to per-node chains (audit/store.py) on both backends, one batch per transaction."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from lifeline.audit import store
from lifeline.audit.chain import GENESIS
from lifeline.audit.checkpoint import audit_key_ring
from lifeline.audit.verify import verify
from tests.conftest import BACKENDS, dispose, fresh_repository


def event(n: int) -> dict[str, object]:
    return {"resourceType": "AuditEvent", "action": "R", "entity": [{"what": {"reference": f"Patient/p{n}"}}]}


@pytest.mark.parametrize("backend", BACKENDS)
def test_batches_on_two_nodes_make_two_gap_free_chains(backend: str, tmp_path: Path) -> None:
    repo = fresh_repository(backend, tmp_path)
    try:
        assert store.append(repo, "central", [event(i) for i in range(3)]) == [1, 2, 3]
        assert store.append(repo, "site-a", [event(i) for i in range(2)]) == [1, 2]
        assert store.append(repo, "central", [event(i) for i in range(2)]) == [4, 5]
        assert store.append(repo, "central", []) == []
        records = store.events_after(repo, "central", 0, limit=100)
        assert [r.seq for r in records] == [1, 2, 3, 4, 5]
        assert records[0].prev_hash == GENESIS
        assert all(later.prev_hash == earlier.hash for earlier, later in zip(records, records[1:], strict=False))
        assert all(r.fits() for r in records)
        assert '"reference":"Patient/p1"' in records[1].content
        assert [r.seq for r in store.events_after(repo, "central", 3, limit=1)] == [4]
        assert store.head(repo, "central") == (5, records[-1].hash)
        assert store.head(repo, "site-a") is not None and store.head(repo, "nowhere") is None
    finally:
        dispose(repo)


@pytest.mark.parametrize("backend", BACKENDS)
def test_concurrent_appends_make_one_gap_free_chain(backend: str, tmp_path: Path) -> None:
    repo = fresh_repository(backend, tmp_path)
    errors: list[BaseException] = []
    got: list[int] = []
    lock = threading.Lock()

    def writer(worker: int) -> None:
        try:
            for batch in range(10):
                seqs = store.append(repo, "central", [event(worker * 100 + batch * 10 + i) for i in range(5)])
                assert seqs == list(range(seqs[0], seqs[0] + 5))  # a batch is consecutive
                with lock:
                    got.extend(seqs)
        except BaseException as error:  # reported below, not lost in the thread
            errors.append(error)

    try:
        threads = [threading.Thread(target=writer, args=(n,)) for n in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert not errors, errors
        assert sorted(got) == list(range(1, 301))
        assert [r.seq for r in store.events_after(repo, "central", 0, limit=1000)] == list(range(1, 301))
        report = verify(repo, audit_key_ring(repo))
        assert report.ok, report.first_problem
        assert report.records == 300
    finally:
        dispose(repo)
