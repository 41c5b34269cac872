"""`lifeline audit verify`: check every node's chain and name the first record that was altered,
removed or put in between, or the cut-off tail that a signed checkpoint still remembers.

Each chain is read in seq order, a page at a time, inside one read snapshot (constant memory,
and appends running meanwhile are not mistaken for tampering). For every record the hash is
computed again from its stored fields and the chain's links are followed:

- a gap in seq: records were **removed**;
- a record that links to its predecessor but whose hash does not match its fields: **altered**;
- a record that links to the one before its predecessor: the predecessor was **inserted**;
- a record whose hash fits its fields but that links to something else: its predecessor was
  **altered** and re-hashed;
- a record that fits neither its hash nor the chain: **inserted** (forged);
- records beyond the head row: **inserted**; a head, or a validly signed checkpoint, beyond
  the last record: the tail was **truncated**;
- a checkpoint whose signature fails, or whose hash is not that of the record at its seq:
  **tampered**.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from lifeline.audit import store
from lifeline.audit.chain import GENESIS, AuditRecord
from lifeline.audit.checkpoint import Checkpoint, problem_with
from lifeline.identity.keys import KeyRing
from lifeline.storage.repository import Repository
from lifeline.storage.session import Session

PAGE = 10_000


@dataclass(frozen=True)
class Problem:
    kind: str  # altered, removed, inserted, truncated, tampered
    node_id: str
    seq: int
    explanation: str

    def line(self) -> str:
        return f"{self.kind} record {self.seq} of node {self.node_id}: {self.explanation}"


@dataclass
class NodeReport:
    node_id: str
    records: int = 0
    problem: Problem | None = None


@dataclass
class VerifyReport:
    nodes: list[NodeReport] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(node.problem is None for node in self.nodes)

    @property
    def records(self) -> int:
        return sum(node.records for node in self.nodes)

    @property
    def first_problem(self) -> Problem | None:
        return next((node.problem for node in self.nodes if node.problem is not None), None)


def verify(
    repo: Repository, key_ring: KeyRing, *, page: int = PAGE, on_progress: Callable[[int], None] = lambda n: None
) -> VerifyReport:
    """Check every node's chain, head and checkpoints; `on_progress` hears of each page read. The
    writes' records still waiting in the outbox (a crash left them there) are moved into their
    chains first, so that they are verified too."""
    store.drain_outbox(repo)
    report = VerifyReport()
    with repo.reading(snapshot=True) as session:
        for node in _nodes(session):
            report.nodes.append(_verify_node(session, node, key_ring, page, on_progress))
    return report


def expected_records(repo: Repository) -> int:
    """How many records the heads announce (a progress bar's total)."""
    total = 0
    with repo.reading() as session:
        for node in _nodes(session):
            head, pruned = session.audit_head(node), session.audit_pruned(node)
            total += (head[0] if head else 0) - (int(pruned[0]) if pruned else 0)
    return total


def _nodes(session: Session) -> Iterator[str]:
    node = session.audit_nodes_after("")
    while node is not None:
        yield node
        node = session.audit_nodes_after(node)


def _verify_node(
    session: Session, node: str, ring: KeyRing, page: int, on_progress: Callable[[int], None]
) -> NodeReport:
    report = NodeReport(node)
    problems: list[Problem] = []
    signed: dict[int, Checkpoint] = {}
    for seq, digest, signed_at, signature in session.audit_checkpoints(node):
        stored = Checkpoint(node, int(seq), str(digest), str(signed_at), str(signature))
        reason = problem_with(stored, ring)
        if reason is None:
            signed[stored.seq] = stored
        else:
            problems.append(Problem("tampered", node, stored.seq, f"the checkpoint of this record {reason}"))

    expected, prev, before_prev = 1, GENESIS, ""
    chain_problem: Problem | None = None
    pruned = session.audit_pruned(node)
    if pruned is not None:
        # Records before a signed retention anchor were pruned on purpose (audit/prune.py).
        from lifeline.audit.prune import Anchor, anchor_problem

        anchor = Anchor(node, int(pruned[0]), str(pruned[1]), str(pruned[2]), str(pruned[3]))
        reason = anchor_problem(anchor, ring)
        if reason is not None:
            chain_problem = Problem("tampered", node, anchor.seq, f"the retention anchor of this record {reason}")
        expected, prev = anchor.seq + 1, anchor.hash
        signed = {seq: stored for seq, stored in signed.items() if seq > anchor.seq}
    while chain_problem is None:
        rows = session.audit_events_after(node, expected - 1, page)
        if not rows:
            break
        for row in rows:
            record = AuditRecord.from_row(row)
            chain_problem = _check_link(record, expected, prev, before_prev)
            vouched = signed.pop(record.seq, None)
            if chain_problem is None and vouched is not None and vouched.hash != record.hash:
                chain_problem = Problem(
                    "tampered", node, record.seq, "its signed checkpoint holds another hash: the chain was rewritten"
                )
            if chain_problem is not None:
                break
            report.records += 1
            before_prev, prev, expected = prev, record.hash, record.seq + 1
        on_progress(len(rows))

    if chain_problem is not None:
        problems.insert(0, chain_problem)
    else:
        problems += _check_tail(session, node, expected - 1, prev, signed)
    report.problem = min(problems, key=lambda p: p.seq, default=None)
    return report


def _check_link(record: AuditRecord, expected: int, prev: str, before_prev: str) -> Problem | None:
    node, seq = record.node_id, record.seq
    if seq > expected:
        missing = str(expected) if seq == expected + 1 else f"{expected} to {seq - 1}"
        return Problem("removed", node, expected, f"record(s) {missing} are missing: the chain jumps to {seq}")
    if record.prev_hash == prev:
        if record.fits():
            return None
        return Problem("altered", node, seq, "its hash does not match its content, time or links")
    if seq == 1:
        return Problem("inserted", node, seq, "the first record does not start the chain (its prev_hash is not zeros)")
    if record.prev_hash == before_prev:
        return Problem("inserted", node, seq - 1, f"record {seq} links past it to record {seq - 2}: put in between")
    if record.fits():
        return Problem("altered", node, seq - 1, f"record {seq} holds another hash for it: changed and re-hashed")
    return Problem("inserted", node, seq, f"neither its hash nor its link to record {seq - 1} fits: it was forged")


def _check_tail(session: Session, node: str, last: int, last_hash: str, signed: dict[int, Checkpoint]) -> list[Problem]:
    problems = [
        Problem(
            "truncated",
            node,
            last + 1,
            f"a checkpoint signed at {stored.signed_at} vouches for {stored.seq} records; the chain ends at {last}",
        )
        for stored in signed.values()  # every one at or below `last` was matched and removed
    ]
    head = session.audit_head(node)
    if head is None:
        if last:
            problems.append(Problem("tampered", node, last, "the chain has no head row"))
    elif head[0] > last:
        told = f"the head says {head[0]} records; the chain ends at {last}"
        problems.append(Problem("truncated", node, last + 1, told))
    elif head[0] < last:
        problems.append(Problem("inserted", node, head[0] + 1, f"it lies beyond the chain's head (record {head[0]})"))
    elif head[1] != last_hash:
        problems.append(Problem("tampered", node, last, "the head's hash is not this record's hash"))
    return problems
