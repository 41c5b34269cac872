"""Group commit of access records: no clinical data leaves before its audit record is durable,
and yet a busy node does not pay one transaction a request.

Requests hand their AuditEvent to the recorder and wait for it. One writer thread appends
whatever has gathered since its last commit in one transaction (audit/store.py) and then releases
all of those requests at once; while it commits, the next batch gathers. Under load a commit
carries many records; alone, a request waits for one small commit.
"""

from __future__ import annotations

import threading
from concurrent.futures import Future
from typing import Any

from lifeline.audit.store import append
from lifeline.storage.repository import Repository

MAX_BATCH = 1000


class AuditRecorder:
    def __init__(self, repo: Repository, node_id: str) -> None:
        self.repo = repo
        self.node_id = node_id
        self._pending: list[tuple[dict[str, Any], Future[int]]] = []
        self._ready = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="audit-writer", daemon=True)
        self._thread.start()

    def submit(self, event: dict[str, Any]) -> Future[int]:
        """Queue a record; the future holds its sequence number once it is committed."""
        future: Future[int] = Future()
        with self._ready:
            if self._closed or not self._thread.is_alive():
                future.set_exception(RuntimeError("the audit recorder is not running"))
                return future
            self._pending.append((event, future))
            self._ready.notify()
        return future

    def record(self, event: dict[str, Any]) -> int:
        """Queue a record and wait until it is durable (for callers off the event loop)."""
        return self.submit(event).result()

    def _run(self) -> None:
        while True:
            with self._ready:
                while not self._pending and not self._closed:
                    self._ready.wait()
                if not self._pending:
                    return  # closed, and everything submitted is written
                batch, self._pending = self._pending[:MAX_BATCH], self._pending[MAX_BATCH:]
            try:
                seqs = append(self.repo, self.node_id, [event for event, _ in batch])
            except Exception as error:  # noqa: BLE001 - every waiting request learns it failed
                for _, future in batch:
                    future.set_exception(error)
                continue
            for (_, future), seq in zip(batch, seqs, strict=True):
                future.set_result(seq)

    def close(self) -> None:
        """Write what was submitted, then stop."""
        with self._ready:
            self._closed = True
            self._ready.notify()
        self._thread.join(timeout=30)
