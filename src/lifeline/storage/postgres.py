"""The PostgreSQL backend: psycopg 3 with a connection pool, resources stored as their JSON text.

A database URL may carry `?schema=NAME` to keep Lifeline's tables in their own schema (the
tests use a fresh schema each)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import psycopg
from psycopg import errors as pg_errors
from psycopg.pq import TransactionStatus
from psycopg_pool import AsyncConnectionPool, ConnectionPool, PoolTimeout

from lifeline import cancel, replica_route
from lifeline.errors import BadRequest, FhirError, StorageUnavailable
from lifeline.storage.ahead import SentAhead
from lifeline.storage.copy_text import encode_rows
from lifeline.storage.deferred_indexes import RECORD_TABLES
from lifeline.storage.dialect import POSTGRES, Dialect
from lifeline.storage.gather import Gatherer
from lifeline.storage.literals import Literals
from lifeline.storage.packing import PACK_JSON_STATE
from lifeline.storage.read_batch import ReadBatcher
from lifeline.storage.records import PendingVersion, StoredVersion
from lifeline.storage.repository import Repository, RetryableConflict, too_costly
from lifeline.storage.sequencing import number_committed_versions
from lifeline.storage.session import Session, current_columns, current_from_row, read_sql
from lifeline.storage.write_session import Batch, CopyRows, IndexRows, WriteSession

_RACES = (pg_errors.UniqueViolation, pg_errors.SerializationFailure, pg_errors.DeadlockDetected)
_READ_SQL = POSTGRES.sql(read_sql(POSTGRES))
# Many reads by id in one statement (storage/read_batch.py): every pair of type and id asked is
# among the rows' (type, id) pairs; the few rows that match one array but not as a pair are
# dropped by the caller. The primary key answers it with one index scan.
# Lists go as one text of lines (`_lines`), split by the database: psycopg dumps a list as an
# array in Python, element by element, about 100 us of the event loop's time for five audit
# records against 17 us for the same texts as one string.
_READ_MANY_SQL = (
    f"SELECT {current_columns(POSTGRES)} FROM resource"
    " WHERE res_type = ANY(string_to_array(%s, chr(10))) AND res_id = ANY(string_to_array(%s, chr(10)))"
)
T = TypeVar("T")
_PACK_JSON_SQL = "SELECT value FROM node_state WHERE name = %s"
# The audit chain's append (migration 11), its records' texts as lines.
_AUDIT_APPEND = "SELECT audit_append(%s, %s, string_to_array(%s, chr(10)))"
_MIGRATION_LOCK = 7_415_001  # pg_advisory_lock key: one migrating process at a time
# From this many rows a batch goes by COPY (an extra round trip, but far less work per row).
_COPY_FROM_ROWS = 200
# A transaction writing more resources than this sends them this many at a time while it
# prepares the next ones (storage/ahead.py); a smaller one sends everything at COMMIT, in one trip.
SEND_AHEAD_RESOURCES = 250


# How every Lifeline connection has PostgreSQL price its plans (the benchmarks' raw-SQL floors too).
PLANNER_SETTINGS = (
    # The access rule over every type makes `$everything`'s estimated cost pass the JIT
    # threshold, and PostgreSQL compiled some 450 functions on every run: 255 ms a page
    # against 44 ms without (bench/access.py). Lifeline's statements are short; JIT never pays.
    "SET jit = off",
    # The default (4.0) prices an index probe as a read from a spinning disk. Lifeline's searches
    # probe the index tables once per candidate resource, from indexes held in memory: priced at
    # 4.0, a clinic's 4,700 Slots tipped `Appointment/$find` into hashing all 200,000 free-slot
    # index rows, 150 ms against 25 ms (bench/scheduling.py). 1.1 is the usual value for SSDs.
    "SET random_page_cost = 1.1",
)


class PostgresSession(WriteSession):
    """A write transaction begun lazily: BEGIN travels with the first statements sent.

    Buffered batches are rendered client-side (psycopg's ClientCursor quoting) into multi-row
    statements and sent, with BEGIN and COMMIT, as one simple query: one round trip, where
    executing them one by one would cost one each."""

    numbers_at_commit = False  # storage/sequencing.py numbers the versions after commit
    appends_audit_in_database = True

    def __init__(self, conn: psycopg.Connection[Any], dialect: Dialect, node_id: str, *, outbox: bool = False) -> None:
        super().__init__(conn, dialect, node_id, outbox=outbox)
        self._begun = False
        self._pg = conn
        self._literals = Literals(conn, dialect)
        self._ahead: SentAhead | None = None

    def put_rows(self, version: PendingVersion, rows_by_table: IndexRows | CopyRows, *, replaces: bool) -> None:
        super().put_rows(version, rows_by_table, replaces=replaces)
        if self._ahead is not None:
            self._ahead.pump()
            if self._ahead.failed:
                self.settle()  # raise it now rather than after the rest is prepared
        if len(self._buffered) >= SEND_AHEAD_RESOURCES:
            self._send_ahead(self._take_buffers())

    def _send_ahead(self, batches: list[Batch]) -> None:
        """Queue the batches' statements, in order, without waiting for them (storage/ahead.py)."""
        if self._ahead is None:
            self._ahead = SentAhead(self._pg)
        for statement, rows in self._steps(batches, commit=False):
            self._ahead.add(statement, rows)

    def settle(self) -> None:
        """Wait for what was sent ahead, raising its first failure; before anything else is
        sent or read, and before a ROLLBACK."""
        if self._ahead is not None:
            self._ahead.wait()

    def _send(self, batches: list[Batch], *, commit: bool) -> None:
        self.settle()
        for statement, rows in self._steps(batches, commit=commit):
            if rows is None:
                self._pg.execute(statement, prepare=False)
            else:
                with self._pg.cursor().copy(statement) as copy:
                    copy.write(rows)

    def _steps(self, batches: list[Batch], *, commit: bool) -> list[tuple[bytes, bytes | None]]:
        """The batches as what goes to the server, in order: each run of small batches as one
        query of multi-row statements (BEGIN first if the transaction has not begun, COMMIT last
        when asked), and each large batch as a COPY with its rows in COPY text."""
        steps: list[tuple[bytes, bytes | None]] = []
        statements = [] if self._begun else ["BEGIN"]
        self._begun = True
        for batch in batches:
            threshold = _COPY_FROM_ROWS if batch.copy_from_rows is None else batch.copy_from_rows
            if batch.copy_text is not None or (batch.copy_into and len(batch.rows) >= threshold):
                if statements:
                    steps.append((";\n".join(statements).encode(), None))
                    statements = []
                rows = batch.copy_text if batch.copy_text is not None else encode_rows(batch.rows)
                steps.append((f"COPY {batch.copy_into} FROM STDIN".encode(), rows))
                continue
            statements.append(self._literals.render(batch))
        if commit:
            statements.append("COMMIT")
        if statements:
            steps.append((";\n".join(statements).encode(), None))
        return steps

    def _one(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self._query(sql, params).fetchone()

    def _all(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        return list(self._query(sql, params).fetchall())

    def _query(self, sql: str, params: Sequence[Any]) -> Any:
        self.settle()
        batches = self._take_buffers()
        if not self._begun and not batches:
            # A transaction that starts with a read: BEGIN travels with it (one round trip, not two).
            self._begun = True
            with self._pg.pipeline():
                self._pg.execute("BEGIN")
                cursor = self._pg.execute(self.dialect.sql(sql), params)
            return cursor
        self._send(batches, commit=False)
        return self.conn.execute(self.dialect.sql(sql), params)

    def append_audit(self, node_id: str, recorded: str, contents: Sequence[str]) -> list[int]:
        first = int(self._one(_AUDIT_APPEND, (node_id, recorded, _lines(contents, whole=True)))[0])
        return list(range(first, first + len(contents)))

    def append_audit_at_commit(self, node_id: str, recorded: str, contents: Sequence[str]) -> None:
        self._later.append(Batch(_AUDIT_APPEND, "", [(node_id, recorded, _lines(contents, whole=True))]))

    def lock(self, key: str) -> None:
        self._one("SELECT pg_advisory_xact_lock(hashtext(?))", (key,))

    def read_many_for_update(self, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], StoredVersion]:
        # Two arrays instead of a placeholder pair per key: a 1000-resource import batch is one
        # short statement rather than one with 2000 parameters.
        unique = list(dict.fromkeys(keys))
        if not unique:
            return {}
        rows = self._all(
            f"SELECT {current_columns(self.dialect, 'r')}"
            " FROM resource r JOIN unnest(?::text[], ?::text[]) AS k(res_type, res_id)"
            " ON r.res_type = k.res_type AND r.res_id = k.res_id FOR UPDATE OF r",
            ([k[0] for k in unique], [k[1] for k in unique]),
        )
        return {(r[0], r[1]): current_from_row(r) for r in rows}


class DeferredSession(WriteSession):
    """A write with no reads (a plain create), collected for the event loop to send in one query
    over the async pool: no worker thread, no lock, one round trip."""

    numbers_at_commit = False

    def __init__(self, dialect: Dialect, node_id: str, *, outbox: bool = False) -> None:
        super().__init__(None, dialect, node_id, outbox=outbox)  # type: ignore[arg-type]
        self.batches: list[Batch] = []

    def _one(self, sql: str, params: Sequence[Any] = ()) -> Any:
        raise TypeError("a deferred write cannot read; run it through Repository.write")

    def _all(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        raise TypeError("a deferred write cannot read; run it through Repository.write")

    def _send(self, batches: list[Batch], *, commit: bool) -> None:
        self.batches.extend(batches)


def _merged(writes: list[list[Batch]]) -> list[Batch] | None:
    """The writes' batches as one transaction's, rows of the same insert together; None if one
    of them does more than plain inserts (no order between them could matter)."""
    merged: dict[tuple[str, str], Batch] = {}
    for batches in writes:
        for batch in batches:
            if batch.copy_text is not None or batch.tail or not batch.head.startswith("INSERT INTO "):
                return None
            same = merged.get((batch.head, batch.row))
            if same is None:
                merged[(batch.head, batch.row)] = replace(batch, rows=list(batch.rows))
            else:
                same.rows.extend(batch.rows)
    return list(merged.values())


def _storage_settings(conn: psycopg.Connection[Any]) -> tuple[str, ...]:
    """lz4 for the values PostgreSQL compresses (those of more than about 2 KB: the audit record
    of a search page, 12 KB for 50 patients; a long resource), where the server was built with it.
    Against its default pglz it took half the CPU to store such a record (75 against 145 us) and
    made it smaller (2,810 against 3,031 bytes; docs/benchmarks.md)."""
    row = conn.execute(
        "SELECT 'lz4' = ANY(enumvals) FROM pg_settings WHERE name = 'default_toast_compression'"
    ).fetchone()
    return ("SET default_toast_compression = lz4",) if row and row[0] else ()


def _settled(session: PostgresSession) -> None:
    """A failed transaction's statements sent ahead run out (their own failure is not the one
    to report), so that its ROLLBACK can be sent. A connection lost meanwhile fails that ROLLBACK,
    as it would have without them."""
    try:
        session.settle()
    except (psycopg.Error, OSError, ValueError):
        pass


_log = logging.getLogger(__name__)
REPLICA_RETRY_SECONDS = 10.0  # a replica that failed is asked again after this long
_REPLICA_READY = (
    "SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn,"
    " EXISTS (SELECT 1 FROM pg_stat_wal_receiver WHERE status = 'streaming')"
)
# After a commit, the WAL written so far includes it: a replica that has replayed this far has it.
_FENCE = (
    "INSERT INTO read_fence (who, lsn) VALUES (%s, pg_current_wal_lsn())"
    " ON CONFLICT (who) DO UPDATE SET lsn = GREATEST(read_fence.lsn, EXCLUDED.lsn)"
)
ANALYZE_AGAIN_SECONDS = 30.0  # a table analyzed this recently waits for the next look


class PostgresRepository(Repository):
    dialect = POSTGRES

    def __init__(
        self,
        url: str,
        *,
        node_id: str = "central",
        pool_size: int = 16,
        statement_timeout_ms: int = 30000,
        replica_url: str = "",
    ) -> None:
        self.url = url
        self.node_id = node_id
        self.statement_timeout_ms = int(statement_timeout_ms)
        self._analyzed_at: dict[str, float] = {}  # refresh_statistics: when this process last analyzed a table
        conninfo, self.schema = _split_schema(url)
        self._conninfo = conninfo
        self._async_pool: AsyncConnectionPool | None = None
        self._reads: ReadBatcher[StoredVersion] | None = None
        self._writes: Gatherer[list[Batch], None] | None = None
        try:
            with psycopg.connect(conninfo, connect_timeout=5) as probe:
                if self.schema:
                    probe.execute(f'CREATE SCHEMA IF NOT EXISTS "{self.schema}"')
                    probe.commit()
                self._storage_settings = _storage_settings(probe)
        except psycopg.Error as exc:
            raise StorageUnavailable(f"cannot connect to PostgreSQL at {_redact(url)}: {_first_line(exc)}") from exc
        self.pool = ConnectionPool(
            conninfo,
            min_size=2,
            max_size=pool_size,
            configure=self._configure,
            # Autocommit: a read is one statement, with no BEGIN and ROLLBACK around it.
            kwargs={"connect_timeout": 5, "autocommit": True},
            open=True,
            timeout=30,
        )
        # A streaming replica for the reads of requests that only read (lifeline/replica_route.py).
        self._replica: ConnectionPool | None = None
        self._replica_down_until = 0.0  # after a failure the replica is left alone for a while
        if replica_url:
            self._replica = ConnectionPool(
                _split_schema(replica_url)[0],  # the primary's schema: the replica holds the same
                min_size=1,
                max_size=pool_size,
                configure=self._configure,
                kwargs={"connect_timeout": 2, "autocommit": True},
                open=True,
                timeout=2,
            )

    writes_async = True
    appends_audit_async = True
    parallel_writers = True
    # PostgreSQL keeps its indexes up to date faster than it rebuilds them while they fit in
    # memory (100,000 resources: 22 s kept, 29 s rebuilt); only a load far larger drops them.
    first_load_bytes = 1024 * 1024 * 1024

    async def _async(self) -> AsyncConnectionPool:
        if self._async_pool is None:
            self._async_pool = AsyncConnectionPool(
                self._conninfo,
                min_size=1,
                max_size=8,
                configure=self._configure_async,
                kwargs={"connect_timeout": 5, "autocommit": True},
                open=False,
                timeout=30,
            )
            await self._async_pool.open()
        return self._async_pool

    async def write_async(
        self, work: Callable[[WriteSession], T], *, attempts: int = 5
    ) -> tuple[T, list[StoredVersion]]:
        """`write` for work that only writes, sent from the event loop in one query; plain
        creates waiting at the same time share one transaction (`_send_together`)."""
        if self._writes is None:
            self._writes = Gatherer(self._send_together)
        for attempt in range(attempts):
            session = DeferredSession(self.dialect, self.node_id, outbox=self.keeps_outbox)
            session.packs_json = await self._packs_json_async()
            result = work(session)
            stored = session.finish()
            try:
                await self._writes.submit(session.batches)
                if session.audit is not None:
                    session.audit.committed(session)
                await self._after_write_async()
                return result, stored
            except _RACES as exc:
                if attempt == attempts - 1:
                    raise RetryableConflict(str(exc)) from exc
            except (psycopg.OperationalError, PoolTimeout) as exc:
                raise _unavailable(exc, self.statement_timeout_ms) from exc
            except psycopg.DataError as exc:
                raise BadRequest(f"A value in the request cannot be stored: {_first_line(exc)}") from exc
        raise AssertionError("unreachable")

    async def _send_together(self, writes: list[list[Batch]]) -> list[None | BaseException]:
        """Writes that only insert go as one transaction, each table's rows in one statement:
        one commit and a few statements for them all, where each alone costs its own. If that
        transaction is refused, one of them is at fault: each is then sent alone and gets its own
        answer (a database that is down fails them all at once). Writes that do more than insert
        are sent alone, side by side."""
        merged = _merged(writes) if len(writes) > 1 else None
        if merged is not None:
            try:
                await self._send_async(merged)
                return [None] * len(writes)
            except (psycopg.OperationalError, PoolTimeout) as error:
                return [error] * len(writes)  # the database is down or gone: no write is at fault
            except Exception:  # noqa: BLE001, S110 - sent again one by one, below, to find whose it was
                pass
        return list(await asyncio.gather(*(self._send_async(w) for w in writes), return_exceptions=True))

    async def _send_async(self, batches: list[Batch]) -> None:
        async with (await self._async()).connection() as conn:
            literals = Literals(conn, self.dialect)
            statements = ["BEGIN", *(literals.render(b) for b in batches), "COMMIT"]
            try:
                await conn.execute(";\n".join(statements).encode(), prepare=False)
            except BaseException:
                if conn.info.transaction_status != TransactionStatus.IDLE:
                    await conn.execute("ROLLBACK")
                raise

    async def read_async(self, res_type: str, res_id: str) -> StoredVersion | None:
        # The hottest path of the API: a read by id runs on the event loop with psycopg's async
        # driver, sparing the hop to a worker thread and back; reads waiting at the same time
        # share one query (storage/read_batch.py).
        if self._reads is None:
            self._reads = ReadBatcher(self._fetch_async)
        return await self._reads.read((res_type, res_id))

    async def _fetch_async(self, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], StoredVersion]:
        try:
            async with (await self._async()).connection() as conn:
                if len(keys) == 1:
                    cursor = await conn.execute(_READ_SQL, keys[0])
                else:
                    types = _lines(sorted({res_type for res_type, _ in keys}))
                    cursor = await conn.execute(_READ_MANY_SQL, (types, _lines([res_id for _, res_id in keys])))
                rows = await cursor.fetchall()
        except (psycopg.OperationalError, PoolTimeout) as exc:
            raise _unavailable(exc, self.statement_timeout_ms) from exc
        except psycopg.DataError as exc:
            raise BadRequest(f"A value in the request cannot be searched: {_first_line(exc)}") from exc
        found = (current_from_row(row) for row in rows)
        return {(stored.res_type, stored.res_id): stored for stored in found}

    async def _packs_json_async(self) -> bool:
        """Repository.packs_json, read on the event loop when its last reading is old."""
        known = self._packs_json_known()
        if known is not None:
            return known
        try:
            async with (await self._async()).connection() as conn:
                cursor = await conn.execute(_PACK_JSON_SQL, (PACK_JSON_STATE,))
                row = await cursor.fetchone()
        except (psycopg.OperationalError, PoolTimeout) as exc:
            raise _unavailable(exc, self.statement_timeout_ms) from exc
        return self._note_packs_json(None if row is None else str(row[0]))

    async def append_audit_async(self, node_id: str, recorded: str, contents: Sequence[str]) -> list[int]:
        # One statement in autocommit: its own transaction, one round trip, no worker thread.
        try:
            async with (await self._async()).connection() as conn:
                cursor = await conn.execute(_AUDIT_APPEND, (node_id, recorded, _lines(contents, whole=True)))
                row = await cursor.fetchone()
        except (psycopg.OperationalError, PoolTimeout) as exc:
            raise _unavailable(exc, self.statement_timeout_ms) from exc
        assert row is not None
        first = int(row[0])
        return list(range(first, first + len(contents)))

    async def aclose(self) -> None:
        self._reads = self._writes = None
        if self._async_pool is not None:
            await self._async_pool.close()
            self._async_pool = None

    async def _configure_async(self, conn: psycopg.AsyncConnection[Any]) -> None:
        if self.schema:
            await conn.execute(f'SET search_path TO "{self.schema}"')
        for setting in (*PLANNER_SETTINGS, *self._storage_settings):  # as _configure says
            await conn.execute(setting)
        await conn.execute(f"SET statement_timeout = {self.statement_timeout_ms}")  # as _configure says

    def _configure(self, conn: psycopg.Connection[Any]) -> None:
        if self.schema:
            conn.execute(f'SET search_path TO "{self.schema}"')
        # psycopg prepares a statement run five times; PostgreSQL then may switch to a generic
        # plan, made without the values. For search that is a disaster: a patient's Observations
        # of one code went from 2 ms to 4.4 s (the generic plan scans every row of the code).
        # Plan each search with its values; the statement stays parsed. (Reads by id go through
        # the async pool, where a generic plan is right.)
        conn.execute("SET plan_cache_mode = force_custom_plan")
        for setting in (*PLANNER_SETTINGS, *self._storage_settings):
            conn.execute(setting)
        # No statement holds the database past the limit: a search whose client gave up minutes
        # ago is stopped (issue 27 saw chained searches run 20-40 minutes). The schema's own work
        # lifts it (_schema_transaction).
        conn.execute(f"SET statement_timeout = {self.statement_timeout_ms}")

    @contextmanager
    def _connection(self, pool: ConnectionPool | None = None) -> Iterator[psycopg.Connection[Any]]:
        """A connection of `pool` (the primary's without one), its failures told as a client hears them."""
        try:
            with (pool or self.pool).connection() as conn:
                yield conn
        except (psycopg.OperationalError, PoolTimeout) as exc:
            raise _unavailable(exc, self.statement_timeout_ms) from exc
        except psycopg.DataError as exc:
            # A value PostgreSQL cannot hold or compare (a NUL in a search value, say) comes from
            # the request: the client's mistake, answered 400, never a server error.
            raise BadRequest(f"A value in the request cannot be stored or searched: {_first_line(exc)}") from exc

    @contextmanager
    def reading(self, snapshot: bool = False) -> Iterator[Session]:
        # A request whose client goes away sends PostgreSQL a cancel for the statement running
        # (lifeline/cancel.py): the query ends in the database, not only in this process.
        source = self._connection(self._replica) if self._on_replica() else self._connection()
        with source as conn, cancel.stoppable(lambda: conn.cancel_safe(timeout=2)):
            if not snapshot:
                yield Session(conn, self.dialect)
                return
            # REPEATABLE READ: a page and its total come from one snapshot.
            with conn.transaction():
                conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
                yield Session(conn, self.dialect)

    # The read replica (LIFELINE_DB_REPLICA; issue 28).

    def _on_replica(self) -> bool:
        """Whether this request's reads go to the replica: it only reads, and the replica is
        streaming and has replayed its person's last write (decided once a request)."""
        asking = replica_route.ASKING.get()
        if self._replica is None or asking is None or not asking.reads_only:
            return False
        if asking.on_replica is None:
            asking.on_replica = self._replica_has(asking.who)
        return asking.on_replica

    def _replica_has(self, who: str) -> bool:
        if self._replica is None or time.monotonic() < self._replica_down_until:
            return False
        with self._connection() as conn:
            row = conn.execute("SELECT lsn::text FROM read_fence WHERE who = %s", (who,)).fetchone()
        fence = row[0] if row is not None else "0/0"
        try:
            with self._replica.connection() as replica:
                # NULL on a server that is no standby: the primary answers then.
                found = replica.execute(_REPLICA_READY, (fence,)).fetchone()
        except (psycopg.OperationalError, PoolTimeout) as exc:
            self._replica_down_until = time.monotonic() + REPLICA_RETRY_SECONDS
            _log.warning("the read replica is unavailable, reads go to the primary: %s", _first_line(exc))
            return False
        return found is not None and found[0] is True and found[1] is True

    def _after_write(self) -> None:
        """With a replica: the person's fence moves past this write, so their next read waits for
        the replica to have it, or goes to the primary (read-your-writes, in every process)."""
        who = self._writer_to_fence()
        if who is not None:
            with self._connection() as conn:
                conn.execute(_FENCE, (who,))

    async def _after_write_async(self) -> None:
        who = self._writer_to_fence()
        if who is None:
            return
        try:
            async with (await self._async()).connection() as conn:
                await conn.execute(_FENCE, (who,))
        except (psycopg.OperationalError, PoolTimeout) as exc:
            raise _unavailable(exc, self.statement_timeout_ms) from exc

    def _writer_to_fence(self) -> str | None:
        """Who just wrote, when a replica is in use; their request reads from the primary from now on."""
        asking = replica_route.ASKING.get()
        if self._replica is None or asking is None:
            return None
        asking.on_replica = False
        return asking.who

    @contextmanager
    def _transaction(self) -> Iterator[WriteSession]:
        # The session commits in its last pipeline (WriteSession.finish); here only failures end.
        with self._connection() as conn:
            session = PostgresSession(conn, self.dialect, self.node_id, outbox=self.keeps_outbox)
            try:
                yield session
            except BaseException as exc:
                _settled(session)
                if conn.info.transaction_status != TransactionStatus.IDLE:
                    conn.execute("ROLLBACK")
                if isinstance(exc, _RACES):
                    raise RetryableConflict(str(exc)) from exc
                raise

    @contextmanager
    def _schema_transaction(self) -> Iterator[psycopg.Connection[Any]]:
        with self._connection() as conn, conn.transaction():
            conn.execute("SET LOCAL statement_timeout = 0")  # a migration or an index build takes what it takes
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
            yield conn

    def sequence(self) -> int:
        with self._connection() as conn:
            return number_committed_versions(conn)

    has_server_clock = True

    def server_time(self) -> float | None:
        with self._connection() as conn:
            row = conn.execute("SELECT extract(epoch FROM clock_timestamp())").fetchone()
        assert row is not None
        return float(row[0])

    def analyze(self) -> None:
        # This schema's record tables only: a bare ANALYZE would visit every schema of the database.
        with self._connection() as conn:
            conn.execute(f"ANALYZE {', '.join(RECORD_TABLES)}")

    def refresh_statistics(self) -> list[str]:
        # Autovacuum's own rule (50 rows + 10% of the table changed since the last ANALYZE), for
        # this schema's record tables; a table never analyzed counts every row it has taken.
        sql = """
            SELECT s.relname FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid
            WHERE s.schemaname = current_schema() AND s.relname = ANY(%s)
              AND s.n_mod_since_analyze > 50 + 0.1 * GREATEST(c.reltuples, 0)
            ORDER BY s.relname
        """
        # The counts of changes reach the statistics views a few seconds late (each backend reports
        # when idle, at most once a second), so a table analyzed a moment ago may still look stale:
        # it waits for the next round rather than be analyzed twice.
        now = time.monotonic()
        with self._connection() as conn:
            # One process of the node at a time (each `serve` worker runs a keeper): another's
            # round skips while one analyzes, rather than analyze the same tables again.
            key = f"{self.schema or 'public'}:statistics"
            locked = conn.execute("SELECT pg_try_advisory_lock(hashtext(%s))", (key,)).fetchone()
            if locked is None or not locked[0]:
                return []
            try:
                found = [str(row[0]) for row in conn.execute(sql, (list(RECORD_TABLES),)).fetchall()]
                stale = [
                    t for t in found if now - self._analyzed_at.get(t, -ANALYZE_AGAIN_SECONDS) >= ANALYZE_AGAIN_SECONDS
                ]
                for table in stale:
                    conn.execute(f'ANALYZE "{table}"')
                    self._analyzed_at[table] = now
            finally:
                conn.execute("SELECT pg_advisory_unlock(hashtext(%s))", (key,))
        return stale

    def close(self) -> None:
        self.pool.close()
        if self._replica is not None:
            self._replica.close()

    def drop_schema(self) -> None:
        """Remove this repository's own schema (tests only: never called by normal operation)."""
        if self.schema:
            with self._connection() as conn:
                conn.execute(f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE')


def _split_schema(url: str) -> tuple[str, str | None]:
    parts = urlsplit(url)
    query = parse_qsl(parts.query)
    schema = next((v for k, v in query if k == "schema"), None)
    if schema is not None and not schema.replace("_", "").isalnum():
        raise StorageUnavailable(f"invalid schema name in database URL: {schema!r}")
    rest = urlencode([(k, v) for k, v in query if k != "schema"])
    scheme = "postgresql" if parts.scheme in ("postgres", "postgresql", "postgresql+psycopg") else parts.scheme
    return urlunsplit((scheme, parts.netloc, parts.path, rest, parts.fragment)), schema


def _redact(url: str) -> str:
    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    return url


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _lines(values: Sequence[str], *, whole: bool = False) -> str:
    """`values` as one text, a line each, for `string_to_array(%s, chr(10))`. Where each value must
    arrive whole (`whole`: an audit record's canonical JSON, which escapes its newlines) one with a
    newline is refused; lookups need not (an id with a newline becomes two ids, and the caller
    keeps only the rows whose exact type and id were asked)."""
    if whole and any("\n" in value for value in values):
        raise ValueError("a value sent as a line holds a newline")
    return "\n".join(values)


def _unavailable(exc: Exception, limit_ms: int = 0) -> FhirError:
    """An operational failure as the client is told it: a statement stopped at the time limit is
    the request's cost (TooCostly); anything else, the database's state (StorageUnavailable)."""
    if isinstance(exc, psycopg.errors.QueryCanceled):
        return too_costly(limit_ms)
    return StorageUnavailable(f"PostgreSQL is unavailable: {_first_line(exc)}")
