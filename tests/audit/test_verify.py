"""`verify` (audit/verify.py) names the first record that an intruder altered, removed or put in
between directly in the database, and a signed checkpoint catches a cut-off tail."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from lifeline.audit import store
from lifeline.audit.chain import canonical
from lifeline.audit.checkpoint import audit_key_ring, checkpoint
from lifeline.audit.verify import Problem, verify
from lifeline.config import Settings
from lifeline.identity.keys import new_kek
from lifeline.identity.node import NodeIdentity
from lifeline.storage.repository import Repository
from tests.audit.tampering import insert_record, rehash_from, run, stored
from tests.conftest import BACKENDS, dispose, fresh_repository

FORGED = canonical({"resourceType": "AuditEvent", "action": "R", "outcome": "0"})


def event(n: int) -> dict[str, object]:
    return {"resourceType": "AuditEvent", "action": "R", "entity": [{"what": {"reference": f"Patient/p{n}"}}]}


@pytest.fixture(params=BACKENDS)
def repo(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Repository]:
    """Central: 12 records in three batches, signed at 12; site-a: 10 records, never signed."""
    repository = fresh_repository(request.param, tmp_path)
    for batch in range(3):
        store.append(repository, "central", [event(batch * 4 + i) for i in range(4)])
    for batch in range(2):
        store.append(repository, "site-a", [event(100 + batch * 5 + i) for i in range(5)])
    identity = NodeIdentity(repository, Settings(issuer="http://testserver", kek=new_kek()))
    signed = checkpoint(repository, identity)
    assert signed is not None and (signed.node_id, signed.seq) == ("central", 12)
    yield repository
    dispose(repository)


def first_problem(repo: Repository, page: int = 5) -> Problem:
    report = verify(repo, audit_key_ring(repo), page=page)
    assert not report.ok
    problem = report.first_problem
    assert problem is not None
    return problem


def test_an_untouched_trail_verifies(repo: Repository) -> None:
    pages: list[int] = []
    report = verify(repo, audit_key_ring(repo), page=5, on_progress=pages.append)
    assert report.ok, report.first_problem
    assert [(n.node_id, n.records) for n in report.nodes] == [("central", 12), ("site-a", 10)]
    assert sum(pages) == 22


def test_an_edited_record_is_named_altered(repo: Repository) -> None:
    run(repo, "UPDATE audit_event SET content = ? WHERE node_id = 'central' AND seq = 5", (FORGED,))
    problem = first_problem(repo)
    assert (problem.kind, problem.node_id, problem.seq) == ("altered", "central", 5)


def test_an_edited_and_rehashed_record_is_named_altered(repo: Repository) -> None:
    prev = stored(repo, "site-a", 3)[2]
    run(repo, "DELETE FROM audit_event WHERE node_id = 'site-a' AND seq = 3")
    insert_record(repo, "site-a", 3, prev, FORGED)
    problem = first_problem(repo)
    assert (problem.kind, problem.node_id, problem.seq) == ("altered", "site-a", 3)
    assert "re-hashed" in problem.explanation


def test_a_deleted_middle_record_is_named_removed(repo: Repository) -> None:
    run(repo, "DELETE FROM audit_event WHERE node_id = 'central' AND seq = 6")
    problem = first_problem(repo)
    assert (problem.kind, problem.node_id, problem.seq) == ("removed", "central", 6)
    assert "6 are missing" in problem.explanation


def test_a_record_put_in_between_with_renumbering_is_named_inserted(repo: Repository) -> None:
    # Make room after record 4 of site-a, so the seqs stay consecutive, and put a forged record
    # there, linked to record 4 and hashed by the rule.
    run(repo, "UPDATE audit_event SET seq = seq + 1000 WHERE node_id = 'site-a' AND seq > 4")
    run(repo, "UPDATE audit_event SET seq = seq - 999 WHERE node_id = 'site-a' AND seq > 1000")
    insert_record(repo, "site-a", 5, stored(repo, "site-a", 4)[3], FORGED)
    run(repo, "UPDATE audit_head SET seq = 11, hash = ? WHERE node_id = 'site-a'", (stored(repo, "site-a", 11)[3],))
    problem = first_problem(repo)
    assert (problem.kind, problem.node_id, problem.seq) == ("inserted", "site-a", 5)


def test_a_forged_record_after_the_head_is_named_inserted(repo: Repository) -> None:
    insert_record(repo, "central", 13, stored(repo, "central", 12)[3], FORGED)
    problem = first_problem(repo)
    assert (problem.kind, problem.node_id, problem.seq) == ("inserted", "central", 13)


def test_a_record_that_fits_neither_hash_nor_chain_is_named_inserted(repo: Repository) -> None:
    run(repo, "DELETE FROM audit_event WHERE node_id = 'site-a' AND seq = 7")
    insert_record(repo, "site-a", 7, "ab" * 32, FORGED, hash_="cd" * 32)
    problem = first_problem(repo)
    assert (problem.kind, problem.node_id, problem.seq) == ("inserted", "site-a", 7)


def test_a_cut_tail_with_a_consistent_head_is_caught_by_the_signed_checkpoint(repo: Repository) -> None:
    run(repo, "DELETE FROM audit_event WHERE node_id = 'central' AND seq > 9")
    run(repo, "UPDATE audit_head SET seq = 9, hash = ? WHERE node_id = 'central'", (stored(repo, "central", 9)[3],))
    problem = first_problem(repo)
    assert (problem.kind, problem.node_id, problem.seq) == ("truncated", "central", 10)
    assert "checkpoint" in problem.explanation


def test_a_cut_tail_is_caught_by_the_head(repo: Repository) -> None:
    run(repo, "DELETE FROM audit_event WHERE node_id = 'site-a' AND seq > 8")
    problem = first_problem(repo)
    assert (problem.kind, problem.node_id, problem.seq) == ("truncated", "site-a", 9)


def test_without_a_checkpoint_a_consistent_cut_goes_unseen(repo: Repository) -> None:
    # Why checkpoints exist (and must be copied off the node): the chain that is left is whole.
    run(repo, "DELETE FROM audit_event WHERE node_id = 'site-a' AND seq > 8")
    run(repo, "UPDATE audit_head SET seq = 8, hash = ? WHERE node_id = 'site-a'", (stored(repo, "site-a", 8)[3],))
    assert verify(repo, audit_key_ring(repo)).ok


def test_a_rewritten_chain_is_caught_by_the_checkpoint_hash(repo: Repository) -> None:
    run(repo, "UPDATE audit_event SET content = ? WHERE node_id = 'central' AND seq = 3", (FORGED,))
    rehash_from(repo, "central", 3)
    problem = first_problem(repo)
    assert (problem.kind, problem.node_id, problem.seq) == ("tampered", "central", 12)


def test_a_tampered_checkpoint_signature_is_caught(repo: Repository) -> None:
    signature = run(repo, "SELECT signature FROM audit_checkpoint WHERE node_id = 'central'")[0][0]
    header, payload, sig = signature.split(".")
    middle = len(sig) // 2
    forged = f"{header}.{payload}.{sig[:middle]}{'A' if sig[middle] != 'A' else 'B'}{sig[middle + 1 :]}"
    run(repo, "UPDATE audit_checkpoint SET signature = ? WHERE node_id = 'central'", (forged,))
    problem = first_problem(repo)
    assert (problem.kind, problem.node_id, problem.seq) == ("tampered", "central", 12)
    assert "signature does not match" in problem.explanation


def test_a_checkpoint_whose_stored_hash_was_changed_is_caught(repo: Repository) -> None:
    run(repo, "UPDATE audit_checkpoint SET hash = ? WHERE node_id = 'central'", ("ef" * 32,))
    problem = first_problem(repo)
    assert (problem.kind, problem.seq) == ("tampered", 12)
    assert "other values" in problem.explanation


def test_the_first_problem_is_the_earliest_record(repo: Repository) -> None:
    run(repo, "DELETE FROM audit_event WHERE node_id = 'central' AND seq = 8")
    run(repo, "UPDATE audit_event SET content = ? WHERE node_id = 'central' AND seq = 2", (FORGED,))
    problem = first_problem(repo)
    assert (problem.kind, problem.seq) == ("altered", 2)
