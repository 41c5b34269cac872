"""The rows of a node's incidents and their timelines (status/incidents.py, issue 23): the
tables of migration 14, `status_incident` and `status_incident_update`, asked by name."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from lifeline.storage.reading import Reader, marks

INCIDENT_COLUMNS = "id, title, impact, status, components, began, resolved_at, expected_back"
UPDATE_COLUMNS = "incident_id, seq, at, status, text, author"


class IncidentRows(Reader):
    def incident_rows(
        self, limit: int, *, incident_id: str | None = None, resolved_since: str | None = None
    ) -> list[Any]:
        """One incident by id; or those resolved at or after `resolved_since`, the latest first;
        or else the open ones, newest first (an indexed read: `status_incident_open`)."""
        args: tuple[str, ...]
        if incident_id is not None:
            where, args, order = "id = ?", (incident_id,), "began"
        elif resolved_since is not None:
            where, args, order = "resolved_at IS NOT NULL AND resolved_at >= ?", (resolved_since,), "resolved_at"
        else:
            where, args, order = "resolved_at IS NULL", (), "began"
        return self._all(
            f"SELECT {INCIDENT_COLUMNS} FROM status_incident WHERE {where}"
            f" ORDER BY {order} DESC, id LIMIT {int(limit)}",
            args,
        )

    def incident_update_rows(self, incident_ids: Sequence[str]) -> list[Any]:
        """The timelines of `incident_ids`, each in order."""
        if not incident_ids:
            return []
        return self._all(
            f"SELECT {UPDATE_COLUMNS} FROM status_incident_update WHERE incident_id IN ({marks(incident_ids)})"
            " ORDER BY incident_id, seq",
            list(incident_ids),
        )

    def insert_incident(self, values: Sequence[Any]) -> None:
        """A new incident's row: the values of INCIDENT_COLUMNS, in order."""
        self._one(
            f"INSERT INTO status_incident ({INCIDENT_COLUMNS}) VALUES ({marks(values)}) RETURNING id", tuple(values)
        )

    def set_incident_state(self, incident_id: str, status: str, resolved_at: str | None, eta: str | None) -> None:
        self._one(
            "UPDATE status_incident SET status = ?, resolved_at = ?, expected_back = ? WHERE id = ? RETURNING id",
            (status, resolved_at, eta, incident_id),
        )

    def last_incident_update(self, incident_id: str) -> int:
        """The sequence number of the incident's latest update (0: none)."""
        row = self._one("SELECT MAX(seq) FROM status_incident_update WHERE incident_id = ?", (incident_id,))
        return int(row[0] or 0) if row is not None else 0

    def insert_incident_update(self, values: Sequence[Any]) -> None:
        """An update's row: the values of UPDATE_COLUMNS, in order."""
        self._one(
            f"INSERT INTO status_incident_update ({UPDATE_COLUMNS}) VALUES ({marks(values)}) RETURNING seq",
            tuple(values),
        )

    def failed_logins_since(self, node_id: str, since: str, most: int) -> int:
        """How many failed logins this node's audit chain holds recorded at or after `since` (an
        instant as audit/store.py stores it), counting at most `most`: the health probe's alarm
        (status/probes.py). Read by the `audit_event_recorded` index; the records are canonical
        JSON (audit/chain.py), so a failed login's subtype and outcome read as these two texts."""
        row = self._one(
            "SELECT COUNT(*) FROM (SELECT 1 FROM audit_event WHERE recorded >= ? AND node_id = ?"
            " AND content LIKE ? AND content LIKE ?"
            f" LIMIT {int(most)}) AS failed",
            (since, node_id, '%"code":"110122"%', '%"outcome":"4"%'),
        )
        return int(row[0]) if row is not None else 0
