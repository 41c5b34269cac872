"""The audit trail's search index (issue 6): what AuditEvent search filters on, as (param, value)
rows per record — the patients a record names, its agents (the user's Practitioner and login
name, the app), its action, outcome, type and subtype.

The index is written after the records commit, by `catch_up`, never on an answer's path: the
durable record is what must precede the answer, and indexing it there would slow every read of
the record. A search first catches the index up, so it always sees every committed record. Each
node's chain (the centre holds every site's too) is indexed up to `audit_indexed`; that row is
locked while indexing, so processes that index at once take turns, and the index rows' primary
key makes indexing a record twice harmless.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import orjson

from lifeline.audit import store
from lifeline.audit.chain import AuditRecord
from lifeline.rounds import Rounds
from lifeline.storage.repository import Repository
from lifeline.storage.write_session import WriteSession

log = logging.getLogger("lifeline.audit")
# Records indexed a transaction. Small, because on SQLite the indexer holds the one write lock
# while it writes, and every audited answer waits behind it: 5,000 a transaction stalled reads
# for about a quarter of a second (read p99 256 ms), 500 for less (149 ms).
BATCH = 500
PARAMS = ("patient", "agent", "action", "outcome", "type", "subtype")


def index_values(event: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """The (param, value) pairs of one AuditEvent."""
    for entity in event.get("entity") or []:
        reference = (entity.get("what") or {}).get("reference", "")
        patient = reference[len("Patient/") :]
        if reference.startswith("Patient/") and "/" not in patient:  # not a version written
            yield "patient", patient
    for agent in event.get("agent") or []:
        who = agent.get("who") or {}
        if who.get("reference"):
            yield "agent", str(who["reference"])
        if agent.get("altId"):
            yield "agent", str(agent["altId"])
        if not agent.get("requestor") and who.get("display"):
            yield "agent", str(who["display"])  # the app
    if event.get("action"):
        yield "action", str(event["action"])
    if event.get("outcome"):
        yield "outcome", str(event["outcome"])
    kind = event.get("type") or {}
    if kind.get("code"):
        yield "type", str(kind["code"])
    for coding in event.get("subtype") or []:
        if coding.get("code"):
            yield "subtype", str(coding["code"])


def catch_up(repo: Repository) -> int:
    """Index every record not yet indexed, of every node (the writes' records waiting in the
    outbox moved into their chains first); returns how many were indexed."""
    store.drain_outbox(repo)
    total = 0
    node = ""
    while True:
        with repo.reading() as session:
            found = session.audit_nodes_after(node)
        if found is None:
            return total
        node = found
        while True:

            def work(session: WriteSession, node_id: str = node) -> int:
                return _index_some(session, node_id)

            done, _ = repo.write(work)
            total += done
            if done < BATCH:
                break


def _index_some(session: WriteSession, node_id: str) -> int:
    after = session.lock_audit_indexed(node_id)
    records = [AuditRecord.from_row(row) for row in session.audit_events_after(node_id, after, BATCH)]
    if not records:
        return 0
    # A value with a NUL (a request for `Patient/a%00b` names that patient) is left out: no search
    # can ask for it, and PostgreSQL text cannot hold it, so it would stop the index there for good.
    rows = [
        (param, value, record.recorded, record.node_id, record.seq)
        for record in records
        for param, value in sorted(set(index_values(orjson.loads(record.content))))
        if "\x00" not in value
    ]
    session.add_audit_index(rows, node_id, records[-1].seq)
    return len(records)


class Indexer(Rounds):
    """Keeps the index close behind the trail, so a search rarely has much to catch up (a failed
    round is no loss: a search catches up itself)."""

    def __init__(self, repo: Repository, every_seconds: float = 2.0) -> None:
        self.repo = repo
        super().__init__("audit-indexer", lambda: catch_up(repo), every_seconds, log, "indexing the audit trail failed")
