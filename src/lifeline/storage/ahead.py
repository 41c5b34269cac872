"""Statements sent to PostgreSQL while Python goes on preparing the rest of a transaction.

A large transaction (a patient's 5,000-entry Bundle, an import batch) used to send all its rows
at COMMIT and wait there while PostgreSQL inserted them: 0.5 s of the 1.6 s a 5,033-entry
Synthea Bundle took, with Python idle on one core (issue 26). A second thread doing the sending
did not help: it needs the interpreter lock for every piece it hands to the socket (see
docs/benchmarks.md, "Transactions: the rows sent while the next entries are prepared").

Here the one thread does it without waiting: libpq's asynchronous calls (psycopg keeps its
connections non-blocking) queue a statement or a COPY's rows and return at once; `pump`, called
between entries, hands the socket what it will take and starts the next statement when the one
before has finished, and PostgreSQL inserts one part on the other core while Python prepares
the next. The order of the statements is kept, so the transaction means what it did.

The first failure is kept and raised at the next point where the session waits (`wait`: before
a read, at COMMIT); what was queued after it is not sent (the transaction is lost anyway), and
the caller's ROLLBACK ends it as before.
"""

from __future__ import annotations

import select
from collections import deque
from collections.abc import Callable

import psycopg
from psycopg import pq
from psycopg.errors import error_from_result

_IDLE, _RUNNING, _ASKING_COPY = 0, 1, 2
_WAIT_SECONDS = 1.0  # one select's longest sleep; a lost server shows as a readable socket


class SentAhead:
    """A queue of statements (and COPYs with their rows) on one connection inside a transaction."""

    def __init__(self, connection: psycopg.Connection[object]) -> None:
        self._pg = connection.pgconn
        self._encoding = connection.info.encoding
        self._queue: deque[tuple[bytes, bytes | None]] = deque()
        self._state = _IDLE
        self._rows: bytes | None = None  # the COPY's rows, once the server asks for them
        self._failure: psycopg.Error | None = None

    @property
    def busy(self) -> bool:
        return self._state != _IDLE or bool(self._queue)

    @property
    def failed(self) -> bool:
        return self._failure is not None

    def add(self, statement: bytes, rows: bytes | None = None) -> None:
        """Queue a statement; with `rows`, a `COPY … FROM STDIN` and its rows in COPY text."""
        if self._failure is None:
            self._queue.append((statement, rows))
            self.pump()

    def pump(self) -> None:
        """Move on as far as can be done without waiting."""
        pg = self._pg
        while True:
            unsent = pg.flush()  # 1: what is queued for the socket does not all fit yet
            if self._state != _IDLE:
                pg.consume_input()  # what the server sent meanwhile, even while it still reads
                if unsent or pg.is_busy():
                    return
                self._take_result()
                continue
            if unsent or not self._queue:
                return
            statement, self._rows = self._queue.popleft()
            pg.send_query(statement)
            self._state = _ASKING_COPY if self._rows is not None else _RUNNING

    def wait(self) -> None:
        """Until everything queued has run; the first failure raised."""
        pg = self._pg
        while True:
            self.pump()
            if not self.busy:
                break
            writing = [pg.socket] if pg.flush() else []
            select.select([pg.socket], writing, [], _WAIT_SECONDS)
        if self._failure is not None:
            failure, self._failure = self._failure, None
            raise failure

    def _take_result(self) -> None:
        """One result of the running statement (the server has sent it: not busy)."""
        result = self._pg.get_result()
        if result is None:  # the statement is over
            self._state = _IDLE
            return
        status = result.status
        if status == pq.ExecStatus.COPY_IN and self._state == _ASKING_COPY:
            rows, self._rows = self._rows, None
            assert rows is not None
            self._state = _RUNNING
            self._queued(lambda: self._pg.put_copy_data(rows))
            self._queued(self._pg.put_copy_end)
        elif status == pq.ExecStatus.FATAL_ERROR:
            if self._failure is None:
                self._failure = error_from_result(result, encoding=self._encoding)
            self._queue.clear()
            self._rows = None
            if self._state == _ASKING_COPY:
                self._state = _RUNNING  # the COPY refused before its rows: its end follows

    def _queued(self, queue: Callable[[], int]) -> None:
        """Hand libpq a piece of a COPY. It grows its buffer to take it; only where it cannot
        (0: "try again") does this wait for the socket to take some first."""
        while not queue():
            select.select([], [self._pg.socket], [], _WAIT_SECONDS)
            self._pg.flush()
