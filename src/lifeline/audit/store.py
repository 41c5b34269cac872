"""Appending to a node's audit chain, and reading it back in order.

Callers hand over many events at once (group commit): one transaction locks the chain's head,
numbers the events consecutively after it, writes them and moves the head. The head row is the
lock: on PostgreSQL `SELECT ... FOR UPDATE` makes appends to one node take turns, so the chain
stays gap-free under concurrent writers; SQLite has one writer at a time.

On PostgreSQL the database does those steps itself, in one statement (`audit_append`, migration
11, with the same hash rule): a group commit is one round trip, from a worker thread or from the
API's event loop (`append_async`), and the head is never locked across a round trip.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from lifeline.audit.chain import GENESIS, AuditRecord, canonical, check_field, record_hash
from lifeline.clock import Clock, system_clock
from lifeline.storage.repository import Repository
from lifeline.storage.write_session import WriteSession


def instant(moment: datetime) -> str:
    """An instant as stored: UTC, microseconds, so that records sort and compare as text."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def append(
    repo: Repository, node_id: str, events: Sequence[dict[str, Any]], *, clock: Clock = system_clock
) -> list[int]:
    """Append `events` (AuditEvent dicts) to `node_id`'s chain in one transaction; their seqs."""
    check_field("node id", node_id)
    if not events:
        return []
    seqs, _ = repo.write(lambda session: append_in(session, node_id, events, clock=clock))
    return seqs


def append_in(
    session: WriteSession, node_id: str, events: Sequence[dict[str, Any]], *, clock: Clock = system_clock
) -> list[int]:
    """`append` inside a caller's write transaction: the records commit with what they record
    (a break-the-glass grant and its security alert), or neither does."""
    check_field("node id", node_id)
    contents = [canonical(event) for event in events]
    recorded = instant(clock())
    if session.appends_audit_in_database:
        return session.append_audit(node_id, recorded, contents)
    return _append_texts(session, node_id, recorded, contents)


def append_texts_in(
    session: WriteSession, node_id: str, contents: Sequence[str], *, clock: Clock = system_clock
) -> None:
    """Append records already in canonical form (the outbox's, audit/outbox.py) inside a caller's
    transaction; on PostgreSQL the append travels with the COMMIT."""
    check_field("node id", node_id)
    recorded = instant(clock())
    if session.appends_audit_in_database:
        session.append_audit_at_commit(node_id, recorded, contents)
    else:
        _append_texts(session, node_id, recorded, contents)


def _append_texts(session: WriteSession, node_id: str, recorded: str, contents: Sequence[str]) -> list[int]:
    head = session.lock_audit_head(node_id)
    if head is None:  # the node's first record: make the head, then lock it like any other
        session.start_audit_head(node_id, GENESIS)
        head = session.lock_audit_head(node_id)
        assert head is not None
    seq, prev = head
    rows: list[tuple[str, int, str, str, str, str]] = []
    for content in contents:
        seq += 1
        digest = record_hash(prev, node_id, seq, recorded, content)
        rows.append((node_id, seq, recorded, content, prev, digest))
        prev = digest
    session.add_audit_events(rows)
    session.put_audit_head(node_id, seq, prev)
    return [row[1] for row in rows]


async def append_async(
    repo: Repository, node_id: str, events: Sequence[dict[str, Any]], *, clock: Clock = system_clock
) -> list[int]:
    """`append` from an event loop, where the backend can (`Repository.appends_audit_async`)."""
    check_field("node id", node_id)
    if not events:
        return []
    return await repo.append_audit_async(node_id, instant(clock()), [canonical(event) for event in events])


# Outbox records moved into the chains a transaction.
OUTBOX_BATCH = 500


def drain_outbox(repo: Repository) -> int:
    """Move the writes' records waiting in the outbox (audit/outbox.py) into their nodes' chains,
    in the order they were written; returns how many. One read when there are none."""
    with repo.reading() as session:
        if not session.audit_outbox_waiting():
            return 0
    total = 0
    while True:
        moved, _ = repo.write(lambda session: drain_outbox_in(session, OUTBOX_BATCH))
        total += moved
        if moved < OUTBOX_BATCH:
            return total


def drain_outbox_in(session: WriteSession, limit: int) -> int:
    """`drain_outbox`'s step: the outbox rows taken and appended in one transaction, so each record
    is in the outbox or in the chain, never both and never neither."""
    taken = session.take_audit_outbox(limit)
    by_node: dict[str, list[str]] = {}
    for node_id, content in taken:
        by_node.setdefault(node_id, []).append(content)
    for node_id, contents in by_node.items():
        append_texts_in(session, node_id, contents)
    return len(taken)


def events_after(repo: Repository, node_id: str, seq: int, limit: int = 1000) -> list[AuditRecord]:
    """A node's records after `seq`, in order (what replication will send on), the writes' records
    waiting in the outbox moved into the chain first."""
    drain_outbox(repo)
    with repo.reading() as session:
        return [AuditRecord.from_row(row) for row in session.audit_events_after(node_id, seq, limit)]


def head(repo: Repository, node_id: str) -> tuple[int, str] | None:
    """The (seq, hash) of a node's last record, as its head row says."""
    with repo.reading() as session:
        return session.audit_head(node_id)
