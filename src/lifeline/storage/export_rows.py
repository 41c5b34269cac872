"""The rows of the Bulk Data exports (bulk/export_jobs.py, issue 26): the tables of migration 16,
`bulk_export_job` (one row per job: its state) and `bulk_export_part` (its NDJSON files, each in
parts of a few thousand lines), asked by name."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from lifeline.storage.reading import Reader, marks

JOB_COLUMNS = (
    "id, client_id, request, parameters, status, transaction_time, created, expires, heartbeat, progress, error,"
    " manifest"
)
PART_COLUMNS = "job_id, file_no, part_no, res_type, lines, content"


class ExportRows(Reader):
    def export_job(self, job_id: str) -> Any:
        """One job's row (the values of JOB_COLUMNS), or None."""
        return self._one(f"SELECT {JOB_COLUMNS} FROM bulk_export_job WHERE id = ?", (job_id,))

    def insert_export_job(self, values: Sequence[Any]) -> None:
        """A new job's row: the values of JOB_COLUMNS, in order."""
        self._one(f"INSERT INTO bulk_export_job ({JOB_COLUMNS}) VALUES ({marks(values)}) RETURNING id", tuple(values))

    def claim_export_job(self, job_id: str, seen_heartbeat: str | None, heartbeat: str, transaction_time: str) -> bool:
        """Take a job to run (a new one, or one whose runner stopped beating): only if its
        heartbeat is still the one seen, so two processes never both take it."""
        row = self._one(
            "UPDATE bulk_export_job SET status = 'running', heartbeat = ?, transaction_time = ?, progress = NULL"
            " WHERE id = ? AND status IN ('accepted', 'running') AND COALESCE(heartbeat, '') = ? RETURNING id",
            (heartbeat, transaction_time, job_id, seen_heartbeat or ""),
        )
        return row is not None

    def beat_export_job(self, job_id: str, last: str, heartbeat: str, progress: str) -> bool:
        """The runner's sign of life and progress, if the job is still its own (its `last` beat
        stands): False once the job was cancelled, expired or taken by another runner."""
        row = self._one(
            "UPDATE bulk_export_job SET heartbeat = ?, progress = ?"
            " WHERE id = ? AND status = 'running' AND heartbeat = ? RETURNING id",
            (heartbeat, progress, job_id, last),
        )
        return row is not None

    def finish_export_job(self, job_id: str, last: str, status: str, error: str | None) -> bool:
        row = self._one(
            "UPDATE bulk_export_job SET status = ?, error = ? WHERE id = ? AND status = 'running' AND heartbeat = ?"
            " RETURNING id",
            (status, error, job_id, last),
        )
        return row is not None

    def insert_export_part(self, values: Sequence[Any]) -> None:
        """One part of a file: the values of PART_COLUMNS, in order."""
        self._one(
            f"INSERT INTO bulk_export_part ({PART_COLUMNS}) VALUES ({marks(values)}) RETURNING job_id", tuple(values)
        )

    def clear_export_parts(self, job_id: str) -> None:
        """What a runner that stopped half-way had written (its job is run again from the start)."""
        self.conn.execute(self.dialect.sql("DELETE FROM bulk_export_part WHERE job_id = ?"), (job_id,))

    def export_files(self, job_id: str) -> list[Any]:
        """(file_no, res_type, lines) of each file of a job, in order."""
        return self._all(
            "SELECT file_no, MIN(res_type), SUM(lines) FROM bulk_export_part WHERE job_id = ?"
            " GROUP BY file_no ORDER BY file_no",
            (job_id,),
        )

    def export_parts(self, job_id: str, file_no: int, after_part: int, limit: int) -> list[Any]:
        """(part_no, content) of a file's parts after `after_part`, in order."""
        return self._all(
            "SELECT part_no, content FROM bulk_export_part WHERE job_id = ? AND file_no = ? AND part_no > ?"
            f" ORDER BY part_no LIMIT {int(limit)}",
            (job_id, file_no, after_part),
        )

    def expired_export_jobs(self, now: str, most: int = 100) -> list[str]:
        rows = self._all(
            f"SELECT id FROM bulk_export_job WHERE expires <= ? ORDER BY expires LIMIT {int(most)}", (now,)
        )
        return [str(row[0]) for row in rows]

    def delete_export_job(self, job_id: str) -> None:
        """A job and its files, gone (cancelled or expired)."""
        self.conn.execute(self.dialect.sql("DELETE FROM bulk_export_part WHERE job_id = ?"), (job_id,))
        self.conn.execute(self.dialect.sql("DELETE FROM bulk_export_job WHERE id = ?"), (job_id,))
