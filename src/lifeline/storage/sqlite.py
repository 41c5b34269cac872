"""The embedded SQLite backend: WAL mode, one writer at a time (BEGIN IMMEDIATE), many readers.

Writers from several processes (server workers, an import beside the server) queue on an OS file
lock rather than on SQLite's busy handler, whose sleeps of up to 100 ms would make the queue
slow and unfair."""

from __future__ import annotations

import fcntl
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from lifeline import cancel
from lifeline.errors import StorageUnavailable
from lifeline.storage.deferred_indexes import RECORD_TABLES
from lifeline.storage.dialect import SQLITE
from lifeline.storage.repository import Repository, RetryableConflict, too_costly
from lifeline.storage.session import Session
from lifeline.storage.write_session import WriteSession


class SQLiteRepository(Repository):
    dialect = SQLITE
    reads_never_wait = True  # WAL: readers work on a snapshot and never wait for the writer

    def __init__(
        self,
        url: str,
        path: str,
        *,
        node_id: str = "central",
        synchronous: str = "FULL",
        statement_timeout_ms: int = 30000,
    ) -> None:
        self.url = url
        self.path = path
        self.node_id = node_id
        self.statement_timeout_ms = int(statement_timeout_ms)
        self._synchronous = synchronous
        parent = Path(path).parent
        if not parent.is_dir():
            raise StorageUnavailable(f"cannot open SQLite database {path}: folder {parent} does not exist")
        self._local = threading.local()
        self._writer_lock_file = open(f"{path}.writer-lock", "a+b")  # noqa: SIM115 - held for the repository's life
        self._write_lock = threading.Lock()
        self._connections: list[sqlite3.Connection] = []
        self._connections_lock = threading.Lock()
        self._analyzed_rows: dict[str, int] = {}  # each table's largest rowid when this process analyzed it
        try:
            self._writer = self._connect()
            self._writer.execute("PRAGMA journal_mode=WAL")
        except sqlite3.Error as exc:
            raise StorageUnavailable(f"cannot open SQLite database {path}: {exc}") from exc

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30)
        conn.execute("PRAGMA busy_timeout=30000")
        conn.execute(f"PRAGMA synchronous={self._synchronous}")
        # Index inserts touch many B-tree pages: a 64 MiB page cache and memory-mapped reads keep
        # them off the system-call path.
        conn.execute("PRAGMA cache_size=-65536")
        conn.execute("PRAGMA mmap_size=268435456")
        # Search compares normalized (already case-folded) values only; a case-sensitive LIKE
        # lets SQLite turn a prefix LIKE into an index range, as PostgreSQL's pattern_ops index does.
        conn.execute("PRAGMA case_sensitive_like=ON")
        with self._connections_lock:
            self._connections.append(conn)
        return conn

    def _reader(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect()
            if self.statement_timeout_ms > 0:  # 0: no limit (an operator's command)
                _time_limited(conn, self.statement_timeout_ms / 1000)
            self._local.conn = conn
        return conn

    @contextmanager
    def reading(self, snapshot: bool = False) -> Iterator[Session]:
        conn = self._reader()
        with cancel.stoppable(conn.interrupt), self._translated():
            if not snapshot:
                yield Session(conn, self.dialect)
                return
            # One snapshot for the whole session, so that a page and its count agree.
            conn.execute("BEGIN")
            try:
                yield Session(conn, self.dialect)
            finally:
                conn.execute("COMMIT")

    @contextmanager
    def _translated(self) -> Iterator[None]:
        try:
            yield
        except sqlite3.OperationalError as exc:
            if str(exc) == "interrupted":  # stopped at the time limit (_time_limited), or its client went away
                raise too_costly(self.statement_timeout_ms) from exc
            raise

    @contextmanager
    def _exclusive(self) -> Iterator[None]:
        with self._write_lock:
            fcntl.flock(self._writer_lock_file.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(self._writer_lock_file.fileno(), fcntl.LOCK_UN)

    @contextmanager
    def _transaction(self) -> Iterator[WriteSession]:
        # The session commits at its end (WriteSession.finish); here only failures end.
        with self._exclusive():
            conn = self._writer
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield WriteSession(conn, self.dialect, self.node_id, outbox=self.keeps_outbox)
            except BaseException as exc:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                if isinstance(exc, sqlite3.IntegrityError):
                    raise RetryableConflict(str(exc)) from exc
                raise

    @contextmanager
    def _schema_transaction(self) -> Iterator[sqlite3.Connection]:
        with self._exclusive():
            self._writer.execute("BEGIN IMMEDIATE")
            try:
                yield self._writer
            except BaseException:
                self._writer.execute("ROLLBACK")
                raise
            self._writer.execute("COMMIT")

    def analyze(self) -> None:
        # A sampled ANALYZE (400 rows an index): about 50 ms on a 5 GB database.
        with self._exclusive():
            self._writer.execute("PRAGMA analysis_limit=400")
            self._writer.execute("ANALYZE")

    def refresh_statistics(self) -> list[str]:
        # The rule PostgreSQL's autovacuum follows (50 rows and 10% more than when the statistics
        # were taken), with the largest rowid for the row count (an index probe, not a count(*)).
        # SQLite's own PRAGMA optimize looks only at tables its connection has queried. The count
        # the statistics were taken at is the one this process saw when it analyzed the table: the
        # statistics' own count is an estimate under analysis_limit (388 for 600 rows), by which a
        # table stayed stale for ever. A table this process has not analyzed goes by the estimate.
        with self._exclusive():
            conn = self._writer
            if conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_stat1'").fetchone() is None:
                conn.execute("ANALYZE sqlite_schema")  # makes the (empty) statistics table
            stale = []
            for table in RECORD_TABLES:
                rows = conn.execute(f'SELECT max(rowid) FROM "{table}"').fetchone()[0] or 0
                taken = self._analyzed_rows.get(table)
                if taken is None:
                    stat = conn.execute("SELECT stat FROM sqlite_stat1 WHERE tbl = ? LIMIT 1", (table,)).fetchone()
                    taken = int(str(stat[0]).split()[0]) if stat and stat[0] else 0
                if rows > 50 + 1.1 * taken:
                    stale.append((table, rows))
            if stale:
                conn.execute("PRAGMA analysis_limit=400")
                for table, rows in stale:
                    conn.execute(f'ANALYZE "{table}"')
                    self._analyzed_rows[table] = rows
        return [table for table, _ in stale]

    def close(self) -> None:
        # Not while another thread writes (an audit recorder moving its outbox): closing a
        # connection in the middle of its statement crashes the process inside SQLite. A write
        # that starts after the close fails with "Cannot operate on a closed database".
        with self._write_lock, self._connections_lock:
            for conn in self._connections:
                conn.close()
            self._connections.clear()
        self._writer_lock_file.close()


def _time_limited(conn: sqlite3.Connection, seconds: float) -> None:
    """Stop any statement on `conn` that runs longer than `seconds` (a reader's: the one writer's
    statements are the write path, migrations and index builds, which are not cut short). Each
    statement starts its clock (the trace callback); SQLite asks every 20,000 virtual machine
    steps whether to go on (the progress handler), and a statement past its time ends with
    "interrupted" (so does one whose client went away)."""
    deadline = [float("inf")]

    def started(_statement: str) -> None:
        deadline[0] = time.monotonic() + seconds

    def past_time() -> int:
        # Or its request's client has gone (lifeline/cancel.py): the request's own `interrupt`
        # misses a statement that starts just after it, this does not.
        return 1 if time.monotonic() > deadline[0] or cancel.fired() else 0

    conn.set_trace_callback(started)
    conn.set_progress_handler(past_time, 20_000)
