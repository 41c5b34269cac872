"""The hash rule that chains a node's audit records (issue 6: tamper-evident, one chain per node).

    hash = SHA-256 hex of  prev_hash "\\n" node_id "\\n" seq "\\n" recorded "\\n" content

`prev_hash` is the previous record's hash (64 zeros before the first record). Every field that
gives a record its meaning is inside the hash, each in its own place:

- Domain separation: the node and the sequence number are hashed, so a record cannot be moved to
  another node's chain or to another position without its hash changing; the fields are split
  by newlines, which none but the last (the content) may contain, and the first four have fixed
  meaning, so no two different records hash the same text.
- Canonical JSON: the content is the AuditEvent as orjson writes it with sorted keys, stored as
  that exact text (plain TEXT, never JSONB, which would rewrite it). Verification hashes the
  stored text as it is and never parses or re-serialises it, so the same event always has one
  hash on every node and on every backend.

On PostgreSQL the database applies this rule when it appends (`audit_append`, migration 11, in
storage/migrations.py); a change here must change it there, and tests/audit/test_recorder.py
checks that the two agree.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import orjson

from lifeline import jsontext

GENESIS = "0" * 64  # the prev_hash of a chain's first record


def canonical(event: dict[str, Any]) -> str:
    """The AuditEvent as the one text that is stored and hashed."""
    return jsontext.dumps(event, option=orjson.OPT_SORT_KEYS).decode()


def record_hash(prev_hash: str, node_id: str, seq: int, recorded: str, content: str) -> str:
    text = f"{prev_hash}\n{node_id}\n{seq}\n{recorded}\n{content}"
    return hashlib.sha256(text.encode()).hexdigest()


def check_field(name: str, value: str) -> None:
    """Refuse a node id or instant that would make the hashed text ambiguous."""
    if not value or "\n" in value:
        raise ValueError(f"an audit {name} must be non-empty text without newlines, not {value!r}")


@dataclass(frozen=True)
class AuditRecord:
    node_id: str
    seq: int
    recorded: str
    content: str  # canonical JSON text (see `canonical`)
    prev_hash: str
    hash: str

    def fits(self) -> bool:
        """Whether the stored hash is the hash of the record's own fields."""
        return record_hash(self.prev_hash, self.node_id, self.seq, self.recorded, self.content) == self.hash

    @classmethod
    def from_row(cls, row: Any) -> AuditRecord:
        return cls(str(row[0]), int(row[1]), str(row[2]), str(row[3]), str(row[4]), str(row[5]))
