"""The rows of the downtime identifiers (downtime/reentry.py, issue 23): the tables of migration
15, `downtime_label` (each identifier a label sheet issued, and the patient it was linked to) and
`downtime_entry` (what was entered against one from paper), asked by name."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from lifeline.storage.reading import Reader, marks

LABEL_COLUMNS = "identifier, site, sheet, patient_id, linked_by, linked_at"
ENTRY_COLUMNS = "identifier, form_key, kind, resources, care_time, entered_by, entered_at"


class DowntimeRows(Reader):
    def insert_downtime_label(self, identifier: str, site: str, sheet: str) -> bool:
        """An identifier a sheet made at `sheet` issued; False if it was known already (a sheet
        made again in the same minute issues the same identifiers)."""
        row = self._one(
            "INSERT INTO downtime_label (identifier, site, sheet) VALUES (?, ?, ?)"
            " ON CONFLICT (identifier) DO NOTHING RETURNING identifier",
            (identifier, site, sheet),
        )
        return row is not None

    def downtime_label_rows(self, *, identifier: str | None = None, since: str = "", sheets: int = 100) -> list[Any]:
        """One identifier's row; or those of the newest `sheets` sheets made at or after `since`,
        the newest sheet first (each sheet's identifiers in order)."""
        if identifier is not None:
            return self._all(f"SELECT {LABEL_COLUMNS} FROM downtime_label WHERE identifier = ?", (identifier,))
        return self._all(
            f"SELECT {LABEL_COLUMNS} FROM downtime_label WHERE sheet IN (SELECT DISTINCT sheet FROM downtime_label"
            f" WHERE sheet >= ? ORDER BY sheet DESC LIMIT {int(sheets)}) ORDER BY sheet DESC, identifier",
            (since,),
        )

    def link_downtime_label(self, identifier: str, patient_id: str, linked_by: str, linked_at: str) -> bool:
        """Link an identifier not yet linked to `patient_id`; False if it was linked already."""
        row = self._one(
            "UPDATE downtime_label SET patient_id = ?, linked_by = ?, linked_at = ?"
            " WHERE identifier = ? AND patient_id IS NULL RETURNING identifier",
            (patient_id, linked_by, linked_at, identifier),
        )
        return row is not None

    def insert_downtime_entry(self, values: Sequence[Any]) -> bool:
        """What one form entered: the values of ENTRY_COLUMNS, in order; False if the form's key
        was recorded already (the form sent twice)."""
        row = self._one(
            f"INSERT INTO downtime_entry ({ENTRY_COLUMNS}) VALUES ({marks(values)})"
            " ON CONFLICT (identifier, form_key) DO NOTHING RETURNING identifier",
            tuple(values),
        )
        return row is not None

    def downtime_entry_rows(self, identifiers: Sequence[str]) -> list[Any]:
        """What was entered against `identifiers`, each in the order of its original time."""
        if not identifiers:
            return []
        return self._all(
            f"SELECT {ENTRY_COLUMNS} FROM downtime_entry WHERE identifier IN ({marks(identifiers)})"
            " ORDER BY identifier, care_time, entered_at",
            list(identifiers),
        )
