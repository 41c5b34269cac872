"""The reads the access rule makes (access/): the patients and rows a principal may see, and a
staff member's care profile from the directory's references.

The rule writes its own SQL conditions (access/rule.py: other queries embed them, by design);
these seams run them, so SQL execution and the dialect stay in storage.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from lifeline.storage.param_numbers import number
from lifeline.storage.reading import Reader, marks


class AccessReads(Reader):
    def patients_allowed(self, patient_ids: Sequence[str], allowed: str, allowed_args: Sequence[Any]) -> set[str]:
        """Those of `patient_ids` whose Patient row exists and whose id the access rule's
        `allowed` subquery (SELECT of patient ids, with its args) returns: one statement."""
        rows = self._all(
            f"SELECT res_id FROM resource WHERE res_type = 'Patient' AND res_id IN ({marks(patient_ids)})"
            f" AND res_id IN ({allowed})",
            [*patient_ids, *allowed_args],
        )
        return {str(row[0]) for row in rows}

    def row_matches(self, res_type: str, res_id: str, where: str, args: Sequence[Any]) -> bool:
        """Whether the current row of res_type/res_id matches `where` (SQL over `resource r`):
        the access rule's judgement of one resource, by the search's own condition."""
        row = self._one(
            f"SELECT 1 FROM resource r WHERE r.res_type = ? AND r.res_id = ? AND ({where})", [res_type, res_id, *args]
        )
        return row is not None

    # A staff member's care profile (access/care.py): sorted, distinct ids.
    def practitioner_roles(self, practitioner: str) -> list[str]:
        """The PractitionerRoles of a Practitioner that are current and not inactive."""
        return self._sorted_ids(
            f"SELECT p.res_id FROM search_reference p WHERE p.pid = {number('PractitionerRole', 'practitioner')}"
            " AND p.target_type = 'Practitioner' AND p.target_id = ?"
            " AND p.res_id NOT IN (SELECT a.res_id FROM search_token a"
            f" WHERE a.pid = {number('PractitionerRole', 'active')} AND a.code = 'false')"
            " AND p.res_id IN (SELECT r.res_id FROM resource r WHERE r.res_type = 'PractitionerRole'"
            " AND NOT r.deleted)",
            [practitioner],
        )

    def referenced_ids(self, res_type: str, ids: Sequence[str], param: str, target_type: str) -> list[str]:
        """The ids of the `target_type` resources these `res_type` resources refer to through
        `param` (a role's department: PractitionerRole.organization)."""
        if not ids:
            return []
        return self._sorted_ids(
            f"SELECT target_id FROM search_reference WHERE res_type = ? AND res_id IN ({marks(ids)})"
            " AND pid + 0 = ? AND target_type = ?",  # by the owner's index (Session.patients_referenced)
            [res_type, *ids, number(res_type, param), target_type],
        )

    def references_by(self, res_type: str, ids: Sequence[str], param: str) -> list[tuple[str, str, str]]:
        """(res_id, target type, target id) of the local references these `res_type` resources make
        through `param` (the resource a Binary's securityContext names, for its audit record)."""
        if not ids:
            return []
        rows = self._all(
            "SELECT res_id, target_type, target_id FROM search_reference WHERE res_type = ?"
            f" AND res_id IN ({marks(ids)}) AND pid + 0 = ? AND target_type IS NOT NULL AND target_id IS NOT NULL",
            [res_type, *ids, number(res_type, param)],
        )
        return [(str(row[0]), str(row[1]), str(row[2])) for row in rows]

    def referring_ids(self, res_type: str, param: str, target_type: str, ids: Sequence[str]) -> list[str]:
        """The ids of the `res_type` resources that refer to any of these `target_type` resources
        through `param` (the rooms of a ward: Location.partof)."""
        if not ids:
            return []
        return self._sorted_ids(
            f"SELECT res_id FROM search_reference WHERE pid = ? AND target_type = ? AND target_id IN ({marks(ids)})",
            [number(res_type, param), target_type, *ids],
        )

    def _sorted_ids(self, sql: str, args: Sequence[Any]) -> list[str]:
        return sorted({str(row[0]) for row in self._all(sql, args) if row[0] is not None})
