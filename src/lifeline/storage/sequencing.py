"""Numbering committed versions on PostgreSQL: the one global, gap-free change sequence.

Writers commit their versions unnumbered (change_seq NULL), in parallel, so PostgreSQL can
flush many commits to disk together. Numbers are given afterwards, by one numberer at a time
(an advisory lock): each round numbers, in write_id order, every version that has committed
and has no number yet, and commits. A version is numbered only once it is committed, and a round
starts only after the previous one committed, so a reader of "changes after N" sees numbers
1..M with no gap, and a write that commits late simply gets a later number: it is never skipped.
"""

from __future__ import annotations

from typing import Any

_NUMBERING_LOCK = 7_415_002  # pg_advisory_xact_lock key: one numberer at a time


def number_committed_versions(conn: Any) -> int:
    """One numbering round on an autocommit connection; returns the last change number."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_NUMBERING_LOCK,))
        # A statement begun after the lock sees every round before it (READ COMMITTED).
        numbered = conn.execute(
            """
            UPDATE resource_version v SET change_seq = c.last_seq + todo.n
            FROM (SELECT write_id, row_number() OVER (ORDER BY write_id) AS n
                  FROM resource_version WHERE change_seq IS NULL) AS todo,
                 change_counter c
            WHERE c.id = 1 AND v.write_id = todo.write_id
            """
        ).rowcount
        row = conn.execute(
            "UPDATE change_counter SET last_seq = last_seq + %s WHERE id = 1 RETURNING last_seq", (numbered,)
        ).fetchone()
        return int(row[0])
