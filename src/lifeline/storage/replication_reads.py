"""The reads of replication (replication/): a site's outbox, the site changes the centre has
taken, and what a hospital-scoped site holds (replication/scope.py), from the search index.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from lifeline.storage import param_numbers
from lifeline.storage.param_numbers import number
from lifeline.storage.reading import Reader, keys_condition, marks


class ReplicationReads(Reader):
    # A site's outbox, and the site changes the centre has taken.
    def outbox_rows(self, limit: int) -> list[Any]:
        """The oldest unsent local changes: rows (local_seq, request_tag, res_type, res_id,
        version_id, deleted, method, last_updated, content)."""
        return self._all(
            "SELECT local_seq, request_tag, res_type, res_id, version_id, deleted, method, last_updated, content"
            " FROM replication_outbox ORDER BY local_seq LIMIT ?",
            (limit,),
        )

    def outbox_size(self) -> int:
        return int(self._one("SELECT COUNT(*) FROM replication_outbox")[0])

    def applied_outcomes(self, node_id: str, local_seqs: Sequence[int]) -> dict[int, str]:
        """What the centre did with each of a site's changes it has taken already."""
        found: dict[int, str] = {}
        for start in range(0, len(local_seqs), 500):
            chunk = list(local_seqs[start : start + 500])
            marks = ", ".join("?" for _ in chunk)
            rows = self._all(
                f"SELECT local_seq, outcome FROM replication_applied WHERE node_id = ? AND local_seq IN ({marks})",
                [node_id, *chunk],
            )
            found.update((int(r[0]), str(r[1])) for r in rows)
        return found

    def applied_outcome(self, node_id: str, local_seq: int) -> str | None:
        """What the centre did with a site's change, if it has taken it already."""
        row = self._one(
            "SELECT outcome FROM replication_applied WHERE node_id = ? AND local_seq = ?", (node_id, local_seq)
        )
        return None if row is None else str(row[0])

    # A hospital's scope (replication/scope.py).
    def organisations_part_of(self, ids: Sequence[str]) -> set[str]:
        """The Organizations directly below any of `ids` (Organization.partOf)."""
        rows = self._all(
            f"SELECT res_id FROM search_reference WHERE pid = {number('Organization', 'partof')}"
            f" AND target_type = 'Organization' AND target_id IN ({marks(ids)})",
            ids,
        )
        return {str(r[0]) for r in rows}

    def patients_with_care(
        self,
        res_type: str,
        subjects: Sequence[str],
        patients: Sequence[str],
        provider: str,
        organisations: Sequence[str],
    ) -> set[str]:
        """Which of `patients` are the subject (through the `subjects` parameters) of a
        `res_type` (Encounter, EpisodeOfCare) provided (through `provider`) by one of `organisations`."""
        found: set[str] = set()
        for start in range(0, len(patients), 500):
            chunk = patients[start : start + 500]
            rows = self._all(
                "SELECT DISTINCT s.target_id FROM search_reference s JOIN search_reference o"
                " ON o.res_type = s.res_type AND o.res_id = s.res_id"
                f" WHERE s.pid IN ({marks(subjects)}) AND s.target_type = 'Patient'"
                f" AND s.target_id IN ({marks(chunk)}) AND o.pid = ? AND o.target_type = 'Organization'"
                f" AND o.target_id IN ({marks(organisations)})",
                [
                    *param_numbers.of((res_type, s) for s in subjects),
                    *chunk,
                    number(res_type, provider),
                    *organisations,
                ],
            )
            found.update(str(r[0]) for r in rows)
        return found

    def practitioners_with_role_at(self, practitioners: Sequence[str], organisations: Sequence[str]) -> set[str]:
        """Which of `practitioners` hold a PractitionerRole at one of `organisations`."""
        return self._role_practitioners("s.target_id", practitioners, organisations)

    def practitioners_of_roles_at(self, roles: Sequence[str], organisations: Sequence[str]) -> set[str]:
        """The practitioners of those of the PractitionerRoles `roles` at one of `organisations`."""
        return self._role_practitioners("s.res_id", roles, organisations)

    def _role_practitioners(self, column: str, values: Sequence[str], organisations: Sequence[str]) -> set[str]:
        if not values or not organisations:
            return set()
        rows = self._all(
            "SELECT DISTINCT s.target_id FROM search_reference s JOIN search_reference o"
            " ON o.res_type = s.res_type AND o.res_id = s.res_id"
            f" WHERE s.pid = {number('PractitionerRole', 'practitioner')} AND {column} IN ({marks(values)})"
            f" AND o.pid = {number('PractitionerRole', 'organization')} AND o.target_id IN ({marks(organisations)})",
            [*values, *organisations],
        )
        return {str(r[0]) for r in rows}

    def referring_to_patient(self, patient: str) -> list[tuple[str, str]]:
        """(res_type, res_id) of every resource whose index refers to Patient/`patient`."""
        rows = self._all(
            "SELECT DISTINCT res_type, res_id FROM search_reference WHERE target_type = 'Patient' AND target_id = ?",
            (patient,),
        )
        return [(str(r[0]), str(r[1])) for r in rows]

    def references_to_patients(self, keys: Sequence[tuple[str, str]]) -> list[tuple[str, str, str, str]]:
        """(res_type, res_id, param, patient id) of every reference to a Patient from `keys`."""
        found: list[tuple[str, str, str, str]] = []
        for start in range(0, len(keys), 200):
            condition, args = keys_condition(keys[start : start + 200], "res_type", "res_id")
            rows = self._all(
                f"SELECT res_type, res_id, pid, target_id FROM search_reference WHERE {condition}"
                " AND target_type = 'Patient'",
                args,
            )
            found += [(str(r[0]), str(r[1]), param_numbers.parameter(int(r[2]))[1], str(r[3])) for r in rows]
        return found
