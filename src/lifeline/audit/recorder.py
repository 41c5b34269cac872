"""Group commit of access records: no clinical data leaves before its audit record is durable,
and yet a busy node does not pay one transaction a request.

Requests hand their AuditEvent to the recorder and wait for it. One writer thread appends
whatever has gathered since its last commit in one transaction (audit/store.py) and then releases
all of those requests at once; while it commits, the next batch gathers. Under load a commit
carries many records; alone, a request waits for one small commit.

Where the backend appends from an event loop (PostgreSQL: one statement a group), the API's
records never go to the thread: one task per event loop appends what has gathered there, the
same way. That spares each record two thread hand-overs and the writer thread's contention for
the interpreter with the loop that serves the requests.

A write's record is made in the write's own transaction, in the outbox (audit/outbox.py): the
writer thread moves those into the chain when it starts (what a crash left there) and when a
write asks it to (`drain_soon`), at most every DRAIN_EVERY_SECONDS, many in one transaction;
nobody waits for that.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import weakref
from concurrent.futures import Future
from typing import Any

from lifeline.audit.store import append, append_async, drain_outbox
from lifeline.storage.gather import Gatherer
from lifeline.storage.repository import Repository

MAX_BATCH = 1000
# The writes' records wait in the outbox, durable, at most this long before they move into the
# chain together: a move is a read and a transaction, and under a stream of writes one a write
# cost PostgreSQL and the server more than the writes' own audit rows.
DRAIN_EVERY_SECONDS = 0.05
log = logging.getLogger("lifeline.audit")


class AuditRecorder:
    def __init__(self, repo: Repository, node_id: str) -> None:
        self.repo = repo
        self.node_id = node_id
        self._pending: list[tuple[dict[str, Any], Future[int] | _LoopWaiter]] = []
        self._ready = threading.Condition()
        self._closed = False
        self._drain = True  # at start: the records a crash left in the outbox
        self._appenders: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Gatherer[dict[str, Any], int]] = (
            weakref.WeakKeyDictionary()
        )
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

    async def submit_async(self, event: dict[str, Any]) -> int:
        """`record` for a caller on an event loop. Where the backend appends from the loop, the
        records gathered there go together (storage/gather.py, one append in flight per loop);
        otherwise they go to the writer thread, and the records of one commit are released with
        one wake-up of the loop, not one per record."""
        loop = asyncio.get_running_loop()
        if self.repo.appends_audit_async:
            if self._closed:
                raise RuntimeError("the audit recorder is not running")
            appender = self._appenders.get(loop)
            if appender is None:
                appender = self._appenders[loop] = Gatherer(self._write_async, in_flight=1, most=MAX_BATCH)
            return await appender.submit(event)
        future: asyncio.Future[int] = loop.create_future()
        with self._ready:
            if self._closed or not self._thread.is_alive():
                raise RuntimeError("the audit recorder is not running")
            self._pending.append((event, _LoopWaiter(loop, future)))
            self._ready.notify()
        return await future

    def record(self, event: dict[str, Any]) -> int:
        """Queue a record and wait until it is durable (for callers off the event loop)."""
        return self.submit(event).result()

    def drain_soon(self) -> None:
        """A write recorded itself in the outbox: move it into the chain soon (nobody waits)."""
        with self._ready:
            self._drain = True
            self._ready.notify()

    def _run(self) -> None:
        drained_at = -DRAIN_EVERY_SECONDS
        while True:
            with self._ready:
                while not self._pending and not self._closed:
                    if not self._drain:
                        self._ready.wait()
                        continue
                    due = drained_at + DRAIN_EVERY_SECONDS - time.monotonic()
                    if due <= 0:
                        break
                    self._ready.wait(due)  # the writes meanwhile join this move
                drain = self._drain and (self._closed or time.monotonic() >= drained_at + DRAIN_EVERY_SECONDS)
                self._drain = self._drain and not drain
                if not self._pending and not drain:
                    return  # closed, and everything submitted is written
                batch, self._pending = self._pending[:MAX_BATCH], self._pending[MAX_BATCH:]
            if batch:  # answers wait for these: before the outbox, which nobody waits for
                try:
                    _release(batch, self._write([event for event, _ in batch]))
                except Exception as error:  # noqa: BLE001 - every waiting request learns it failed
                    _release(batch, [error] * len(batch))
            if drain:
                self._move_outbox()
                drained_at = time.monotonic()

    def _move_outbox(self) -> None:
        try:
            drain_outbox(self.repo)
        except Exception:  # noqa: BLE001 - the records are durable in the outbox; the next drain moves them
            log.exception("moving the writes' audit records into the chain failed")

    def _write(self, events: list[dict[str, Any]]) -> list[int]:
        """Make one group of records durable: one transaction on the node's chain (bench/ceiling.py
        measures the same recorder with a flushed file as its only durable step)."""
        return append(self.repo, self.node_id, events)

    async def _write_async(self, events: list[dict[str, Any]]) -> list[int]:
        """`_write` from an event loop (where the backend can)."""
        return await append_async(self.repo, self.node_id, events)

    def close(self) -> None:
        """Write what was submitted, then stop."""
        with self._ready:
            self._closed = True
            self._ready.notify()
        self._thread.join(timeout=30)


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
