"""Every site's audit chain, copied whole to the centre (issues 6 and 7).

A site keeps its own chain (node id = site id) and goes on appending to it while cut off. The
centre stores the site's records exactly as they are, after checking that each one fits its hash
and links to the record before it, so `lifeline audit verify` at the centre checks every node's
chain. A record is never copied twice: the centre takes only what follows its copy's head.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from lifeline import jsontext
from lifeline.audit import store
from lifeline.audit.chain import GENESIS, AuditRecord
from lifeline.errors import BadRequest
from lifeline.fhir.acting import Exchanged
from lifeline.storage.repository import Repository
from lifeline.storage.write_session import WriteSession

if TYPE_CHECKING:
    from lifeline.fhir.service import FhirService


def records_after(repo: Repository, node_id: str, seq: int, limit: int = 1000) -> list[dict[str, Any]]:
    return [asdict(record) for record in store.events_after(repo, node_id, seq, limit)]


def copied_head(repo: Repository, node_id: str) -> int:
    head = store.head(repo, node_id)
    return 0 if head is None else head[0]


def take_records(repo: Repository, node_id: str, items: list[dict[str, Any]]) -> int:
    """Store a site's records after the centre's copy of its chain; returns the new head seq."""
    try:
        records = [AuditRecord(**item) for item in items]
    except TypeError as error:
        raise BadRequest(f"An audit record is malformed: {error}") from None

    def work(session: WriteSession) -> int:
        head = session.lock_audit_head(node_id)
        if head is None:
            session.start_audit_head(node_id, GENESIS)
            head = (0, GENESIS)
        seq, prev = head
        rows: list[tuple[str, int, str, str, str, str]] = []
        for record in records:
            if record.seq <= seq:
                continue  # copied before
            if record.node_id != node_id or record.seq != seq + 1 or record.prev_hash != prev or not record.fits():
                raise BadRequest(
                    f"Audit record {record.seq} of node {record.node_id} does not continue the chain at {seq}"
                )
            rows.append((record.node_id, record.seq, record.recorded, record.content, record.prev_hash, record.hash))
            seq, prev = record.seq, record.hash
        if rows:
            session.add_audit_events(rows)
            session.put_audit_head(node_id, seq, prev)
        return seq

    new_head, _ = repo.write(work)
    return new_head


def exchange(service: FhirService, site_id: str, body: Any) -> Exchanged:
    """The replication API's audit exchange (fhir/acting.py): with no body, the centre's head of
    the site's copied chain; with `{"records": [...]}`, the site's next records stored."""
    if body is None:
        return Exchanged(jsontext.dumps({"seq": copied_head(service.repo, site_id)}), quiet=True)
    items = body.get("records") if isinstance(body, dict) else None
    if not isinstance(items, list):
        raise BadRequest('The body must be {"records": [...]}')
    head = take_records(service.repo, site_id, items)
    return Exchanged(jsontext.dumps({"seq": head}), query=f"site={site_id}&records={len(items)}&head={head}")
