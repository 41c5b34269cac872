"""The reads that tell who an outage affects (status/affected.py, issue 23): the audit trail's
failed records within an incident's window, found through the audit index (its `outcome` rows,
one range of its primary key per failure code) and read by their own primary key, from every
node's chain this database holds — at the centre, every site's too."""

from __future__ import annotations

from typing import Any

from lifeline.storage.reading import Reader

FAILED = ("4", "8")  # AuditEvent.outcome: minor failure (refused), serious failure


class AffectedReads(Reader):
    def audit_failures(self, since: str, until: str, limit: int) -> list[Any]:
        """Rows (node_id, content) of at most `limit` failed records recorded in [since, until).
        (Telling logins from requests is left to the caller: a second join on the index, by
        kind, made PostgreSQL probe every record of that kind once per failure.)"""
        return self._all(
            "SELECT e.node_id, e.content FROM audit_index o"
            " JOIN audit_event e ON e.node_id = o.node_id AND e.seq = o.seq"
            " WHERE o.param = 'outcome' AND o.value IN (?, ?) AND o.recorded >= ? AND o.recorded < ?"
            " LIMIT ?",
            (*FAILED, since, until, int(limit)),
        )
