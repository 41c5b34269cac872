"""What an intruder with database access does to the trail: raw SQL on the repository's own
connection, past every Lifeline check."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from lifeline.audit.chain import record_hash
from lifeline.storage.repository import Repository


def run(repo: Repository, sql: str, params: Sequence[Any] = ()) -> list[Any]:
    with repo._schema_transaction() as conn:  # the driver connection, in one committed transaction
        cursor = conn.execute(repo.dialect.sql(sql), params)
        return list(cursor.fetchall()) if cursor.description else []


def stored(repo: Repository, node: str, seq: int) -> tuple[str, str, str, str]:
    """(recorded, content, prev_hash, hash) of one record, as stored."""
    rows = run(
        repo, "SELECT recorded, content, prev_hash, hash FROM audit_event WHERE node_id = ? AND seq = ?", (node, seq)
    )
    return rows[0]


def insert_record(repo: Repository, node: str, seq: int, prev_hash: str, content: str, hash_: str | None = None) -> str:
    """Put a record in with a hash computed by the public rule (or `hash_`); returns the hash."""
    recorded = "2026-11-22T08:00:00.000000Z"
    digest = hash_ or record_hash(prev_hash, node, seq, recorded, content)
    run(
        repo,
        "INSERT INTO audit_event (node_id, seq, recorded, content, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?)",
        (node, seq, recorded, content, prev_hash, digest),
    )
    return digest


def rehash_from(repo: Repository, node: str, seq: int) -> None:
    """Recompute every hash from `seq` on and move the head: a thorough forger's cover-up."""
    prev = stored(repo, node, seq - 1)[3] if seq > 1 else "0" * 64
    rows = run(
        repo, "SELECT seq, recorded, content FROM audit_event WHERE node_id = ? AND seq >= ? ORDER BY seq", (node, seq)
    )
    for number, recorded, content in rows:
        digest = record_hash(prev, node, int(number), recorded, content)
        run(
            repo,
            "UPDATE audit_event SET prev_hash = ?, hash = ? WHERE node_id = ? AND seq = ?",
            (prev, digest, node, number),
        )
        prev = digest
    run(repo, "UPDATE audit_head SET hash = ? WHERE node_id = ?", (prev, node))
