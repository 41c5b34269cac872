"""The reads of the audit trail (audit/): the chains in (node_id, seq) order over the primary
keys, the search index over them, and the privacy officers' review list (access/review.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from lifeline.storage.param_numbers import number
from lifeline.storage.reading import Reader, marks


class AuditReads(Reader):
    # The chains, in (node_id, seq) order over the primary keys.
    def audit_nodes_after(self, node_id: str) -> str | None:
        """The next node after `node_id` with audit records, a head or a checkpoint: one index
        probe per node, where a DISTINCT would read every record."""
        row = self._one(
            "SELECT MIN(node_id) FROM (SELECT MIN(node_id) AS node_id FROM audit_event WHERE node_id > ?"
            " UNION ALL SELECT MIN(node_id) FROM audit_head WHERE node_id > ?"
            " UNION ALL SELECT MIN(node_id) FROM audit_checkpoint WHERE node_id > ?) AS found",
            (node_id, node_id, node_id),
        )
        return None if row is None or row[0] is None else str(row[0])

    def audit_events_after(self, node_id: str, seq: int, limit: int) -> list[Any]:
        """Rows (node_id, seq, recorded, content, prev_hash, hash) of one node after `seq`."""
        return self._all(
            "SELECT node_id, seq, recorded, content, prev_hash, hash FROM audit_event"
            " WHERE node_id = ? AND seq > ? ORDER BY seq LIMIT ?",
            (node_id, seq, limit),
        )

    def audit_search(self, where: str, params: Sequence[Any], limit: int) -> list[Any]:
        """Rows (node_id, seq, recorded, content) of audit records matching `where` (over
        `audit_event e`), newest first (fhir/interactions/audit_events.py)."""
        return self._all(
            f"SELECT e.node_id, e.seq, e.recorded, e.content FROM audit_event e WHERE {where}"
            " ORDER BY e.recorded DESC, e.node_id DESC, e.seq DESC LIMIT ?",
            [*params, limit],
        )

    def audit_head(self, node_id: str) -> tuple[int, str] | None:
        row = self._one("SELECT seq, hash FROM audit_head WHERE node_id = ?", (node_id,))
        return None if row is None else (int(row[0]), str(row[1]))

    def audit_pruned(self, node_id: str) -> Any:
        """(seq, hash, before, signature) of where a pruned chain now begins, or None."""
        return self._one("SELECT seq, hash, before, signature FROM audit_pruned WHERE node_id = ?", (node_id,))

    def audit_last_before(self, node_id: str, before: str) -> Any:
        """(seq, hash) of a node's last record recorded before `before`, or None."""
        return self._one(
            "SELECT seq, hash FROM audit_event WHERE node_id = ? AND seq = (SELECT MAX(seq) FROM audit_event"
            " WHERE node_id = ? AND recorded < ?)",
            (node_id, node_id, before),
        )

    def audit_checkpoints(self, node_id: str) -> list[Any]:
        """Rows (seq, hash, signed_at, signature) of one node's checkpoints, in seq order."""
        return self._all(
            "SELECT seq, hash, signed_at, signature FROM audit_checkpoint WHERE node_id = ? ORDER BY seq", (node_id,)
        )

    # The review list (access/review.py): who opened which record, from the audit index.
    def audit_openings(self, since: str, subtypes: Sequence[str]) -> list[tuple[str, str, str]]:
        """(agent, patient, first recorded) of each staff member (Practitioner/…) opening a
        patient's record through one of `subtypes` since `since`, once per hour of opening."""
        rows = self._all(
            "SELECT a.value, p.value, MIN(p.recorded) FROM audit_index p"
            " JOIN audit_index s ON s.node_id = p.node_id AND s.seq = p.seq AND s.param = 'subtype'"
            " JOIN audit_index a ON a.node_id = p.node_id AND a.seq = p.seq AND a.param = 'agent'"
            f" WHERE p.param = 'patient' AND p.recorded >= ? AND s.value IN ({marks(subtypes)}) AND a.value LIKE ?"
            " GROUP BY a.value, p.value, SUBSTR(p.recorded, 1, 13)",
            [since, *subtypes, "Practitioner/%"],
        )
        return [(str(agent), str(patient), str(first)) for agent, patient, first in rows]

    def audit_access_changes(self, since: str) -> list[Any]:
        """Rows (node_id, seq, recorded, content) of the records of changes to what decides
        access (subtype access-change) since `since`."""
        return self._all(
            "SELECT e.node_id, e.seq, e.recorded, e.content FROM audit_index s JOIN audit_event e"
            " ON e.node_id = s.node_id AND e.seq = s.seq"
            " WHERE s.param = 'subtype' AND s.value = 'access-change' AND s.recorded >= ?",
            [since],
        )

    def audit_care_relationships(self, since: str) -> list[tuple[str, str, str]]:
        """(agent, patient, first recorded) of each staff member (Practitioner/…) who wrote a
        care relationship (subtype care-relationship) for a patient since `since`."""
        rows = self._all(
            "SELECT a.value, p.value, MIN(s.recorded) FROM audit_index s"
            " JOIN audit_index a ON a.node_id = s.node_id AND a.seq = s.seq AND a.param = 'agent'"
            " JOIN audit_index p ON p.node_id = s.node_id AND p.seq = s.seq AND p.param = 'patient'"
            " WHERE s.param = 'subtype' AND s.value = 'care-relationship' AND s.recorded >= ? AND a.value LIKE ?"
            " GROUP BY a.value, p.value",
            [since, "Practitioner/%"],
        )
        return [(str(agent), str(patient), str(first)) for agent, patient, first in rows]

    # Whether a patient is on the staff (access/review.py's colleagues), from the search index.
    def practitioner_by_identifier(self, system: str, value: str) -> str | None:
        """The id of a Practitioner with this identifier (the first found), if any."""
        rows = self._all(
            f"SELECT res_id FROM search_token WHERE pid = {number('Practitioner', 'identifier')}"
            " AND system = ? AND code = ? LIMIT 1",
            (system, value),
        )
        return str(rows[0][0]) if rows else None

    def practitioners_by_family(self, normalized: str) -> list[str]:
        """The ids of the Practitioners whose family name is `normalized` (search/normalize.py)."""
        rows = self._all(
            f"SELECT res_id FROM search_string WHERE pid = {number('Practitioner', 'family')} AND normalized = ?",
            (normalized,),
        )
        return [str(row[0]) for row in rows]
