"""The durability ceiling of the audit trail, for `python -m bench` (not a way to run Lifeline).

Issue 6 wants reads with the audit trail at least 85% as fast as reads without it, and also that
no answer leaves before its record is durable. A server with this recorder
(`python -m bench.server --mode file-trail`) answers exactly as `lifeline serve` does, with the
same group-commit recorder (audit/recorder.py: the same writer, on the event loop for PostgreSQL
and in a thread for SQLite, the same hand-over and wait), except that a group of records is made
durable in the cheapest way there is: appended to a local file and flushed with one `fdatasync`,
with no database, no hash chain and no index. No design that keeps the durability rule can do
better on the same machine, so its read rate, against reads without the trail in the same run,
is the ceiling of that ratio."""

from __future__ import annotations

import asyncio
import os
import tempfile
from itertools import count
from typing import Any

from lifeline.audit.chain import canonical
from lifeline.audit.recorder import AuditRecorder

JOURNALS = os.path.join(tempfile.gettempdir(), "lifeline-bench-ceiling")


class FileRecorder(AuditRecorder):
    """The group-commit recorder with a flushed local file as its only durable step."""

    def _write(self, events: list[dict[str, Any]]) -> list[int]:
        if not hasattr(self, "_file"):
            os.makedirs(JOURNALS, exist_ok=True)
            path = os.path.join(JOURNALS, f"{os.getpid()}.ndjson")
            self._file = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_TRUNC, 0o600)
            self._seqs = count(1)
        os.write(self._file, "".join(canonical(event) + "\n" for event in events).encode())
        os.fdatasync(self._file)
        return [next(self._seqs) for _ in events]

    async def _write_async(self, events: list[dict[str, Any]]) -> list[int]:
        # The event loop's group (PostgreSQL's path): the same file, flushed off the loop.
        return await asyncio.to_thread(self._write, events)
