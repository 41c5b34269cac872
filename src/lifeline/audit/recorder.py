"""Group commit of access records: no clinical data leaves before its audit record is durable,
and yet a busy node does not pay one transaction a request.

Requests hand their AuditEvent to the recorder and wait for it. One writer thread makes whatever
has gathered since its last flush durable at once and then releases all of those requests; while
it flushes, the next batch gathers. Durable means written to this process's audit journal and
flushed to disk (audit/journal.py); a folder thread then appends the journal's records to the
node's hash chain in the database, hundreds a transaction, behind the answers. Without a journal
(`LIFELINE_AUDIT_JOURNAL=off`, an in-memory database) each batch is one transaction on the chain
(audit/store.py) before its answers leave.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from concurrent.futures import Future
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from lifeline.audit import journal
from lifeline.audit.chain import canonical
from lifeline.audit.store import append, instant
from lifeline.storage.repository import Repository

MAX_BATCH = 1000
log = logging.getLogger("lifeline.audit")


class AuditRecorder:
    def __init__(self, repo: Repository, node_id: str, journal_folder: Path | None = None) -> None:
        self.repo = repo
        self.node_id = node_id
        self._pending: list[tuple[dict[str, Any], Future[int] | _LoopWaiter]] = []
        self._ready = threading.Condition()
        self._closed = False
        self._journal: journal.Journal | None = None
        self._writing = threading.Lock()  # held while a batch is made durable
        if journal_folder is not None:
            # What processes that are gone left unfolded goes into the chain before this one
            # records anything.
            journal.fold_orphans(repo, journal_folder)
            self._journal = journal.Journal(journal_folder, node_id)
            self._folded = self._journal.start
            self._fold_lock = threading.Lock()  # one fold at a time: the folder's or a flush's
            self._foldable = threading.Condition()
            self._folder = threading.Thread(target=self._fold_loop, name="audit-folder", daemon=True)
            self._folder.start()
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

    def submit_async(self, event: dict[str, Any]) -> asyncio.Future[int]:
        """`submit` for a caller on an event loop: the records of one commit are released with
        one wake-up of the loop, not one per record."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[int] = loop.create_future()
        with self._ready:
            if self._closed or not self._thread.is_alive():
                future.set_exception(RuntimeError("the audit recorder is not running"))
                return future
            self._pending.append((event, _LoopWaiter(loop, future)))
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
                with self._writing:
                    seqs = self._write([event for event, _ in batch])
            except Exception as error:  # noqa: BLE001 - every waiting request learns it failed
                _release(batch, [error] * len(batch))
                continue
            _release(batch, seqs)

    def _write(self, events: list[dict[str, Any]]) -> list[int]:
        """Make one group of records durable: a journal flush, or one transaction on the chain.
        The numbers are the records' places in the chain where that is known already (no journal),
        else 0."""
        if self._journal is None:
            return append(self.repo, self.node_id, events)
        recorded = instant(datetime.now(UTC))
        self._journal.append([journal.line(recorded, canonical(event)) for event in events])
        with self._foldable:
            self._foldable.notify()
        return [0] * len(events)

    def _fold_loop(self) -> None:
        assert self._journal is not None
        while True:
            with self._foldable:
                while self._folded == self._journal.written and not self._closed:
                    self._foldable.wait()
                if self._closed and self._folded == self._journal.written:
                    return
            try:
                done = self.flush()
            except Exception:  # noqa: BLE001 - the records are durable in the journal; the next round folds them
                log.exception("folding the audit journal into the chain failed")
                done = False
            if not done:
                with self._foldable:
                    if self._closed:
                        return  # close() tries once more, and else the next start folds the journal
                    self._foldable.wait(1.0)

    def flush(self) -> bool:
        """Fold every record made durable so far into the chain (AuditEvent search calls this, so a
        process sees its own accesses at once; other processes' follow within moments); whether
        all of them are folded now."""
        if self._journal is None:
            return True
        with self._fold_lock:  # a rotation (under this lock) may have replaced the journal
            journal_ = self._journal
            while self._folded < journal_.written:
                lines = journal_.read(self._folded, journal_.written)[: journal.FOLD_RECORDS]
                if not lines:
                    return False  # the journal cannot be read back: it stays for the next start
                records = [(recorded, content) for recorded, content, _ in lines]
                journal.fold(self.repo, self.node_id, journal_.name, records, lines[-1][2])
                self._folded = lines[-1][2]
            if self._folded >= journal.ROTATE_BYTES:
                self._rotate()
        return True

    def _rotate(self) -> None:
        """Start a new journal once this one is folded and large (the writer waits meanwhile)."""
        assert self._journal is not None
        with self._writing:  # no batch is being written meanwhile
            old = self._journal
            if self._folded != old.written:
                return
            fresh = journal.Journal(old.path.parent, self.node_id)
            self._journal, self._folded = fresh, fresh.start
        old.remove()
        self.repo.write(lambda session: session.forget_journal(old.name))

    def close(self) -> None:
        """Write and fold what was submitted, then stop (the journal, fully folded, is removed)."""
        with self._ready:
            self._closed = True
            self._ready.notify()
        self._thread.join(timeout=30)
        if self._journal is not None:
            with self._foldable:
                self._foldable.notify()
            self._folder.join(timeout=30)
            try:
                folded = self.flush()
            except Exception:  # noqa: BLE001 - the journal stays; the next recorder to start folds it
                folded = False
                log.exception("folding the audit journal at shutdown failed")
            if not folded:
                log.error("the audit journal %s is folded into the chain at the next start", self._journal.path)
                return
            name = self._journal.name
            self._journal.remove()
            self.repo.write(lambda session: session.forget_journal(name))


class _LoopWaiter:
    """A request waiting on an event loop (the API's), for one record."""

    __slots__ = ("loop", "future")

    def __init__(self, loop: asyncio.AbstractEventLoop, future: asyncio.Future[int]) -> None:
        self.loop, self.future = loop, future


def _release(batch: list[tuple[dict[str, Any], Future[int] | _LoopWaiter]], results: list[Any]) -> None:
    """Hand each waiter its seq (or the error): thread futures at once, loop futures with one
    call into each loop."""
    by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[int], Any]]] = {}
    for (_, waiter), result in zip(batch, results, strict=True):
        if isinstance(waiter, _LoopWaiter):
            by_loop.setdefault(waiter.loop, []).append((waiter.future, result))
        elif isinstance(result, BaseException):
            waiter.set_exception(result)
        else:
            waiter.set_result(result)
    for loop, waiting in by_loop.items():
        try:
            loop.call_soon_threadsafe(_settle, waiting)
        except RuntimeError:
            pass  # the loop has closed: nobody is waiting any more


def _settle(waiting: list[tuple[asyncio.Future[int], Any]]) -> None:
    for future, result in waiting:
        if future.done():
            continue  # the request gave up waiting (a timeout)
        if isinstance(result, BaseException):
            future.set_exception(result)
        else:
            future.set_result(result)
