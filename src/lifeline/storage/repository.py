"""The one storage interface of Lifeline; SQLite and PostgreSQL implement it.

The FHIR core asks for a read session (`repo.reading()`) or runs its work in one write
transaction (`repo.write(work)`): the work function writes current rows, index rows and
versions through a `WriteSession`, and the repository commits them together or not at all.
"""

from __future__ import annotations

import abc
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import Any, TypeVar

from lifeline.clock import epoch_clock
from lifeline.errors import TooCostly
from lifeline.storage import deferred_indexes, migrate
from lifeline.storage.dialect import Dialect
from lifeline.storage.matching import Match
from lifeline.storage.packing import PACK_JSON_STATE
from lifeline.storage.records import StoredVersion
from lifeline.storage.session import Session
from lifeline.storage.write_session import WriteSession

T = TypeVar("T")
PACK_JSON_CHECK_SECONDS = 10.0


def too_costly(limit_ms: int) -> TooCostly:
    """A statement stopped at the node's time limit, in words a clinician and a client can act on."""
    return TooCostly(
        f"The database stopped this request after {limit_ms / 1000:g} s (LIFELINE_STATEMENT_TIMEOUT_MS) and"
        " nothing was sent or changed. Narrow the search (a patient, a code, a date range, fewer _include),"
        " or try again when the system is less busy."
    )


class RetryableConflict(Exception):
    """Two writers raced (a duplicate key, a serialisation failure): run the work again."""


class Repository(abc.ABC):
    dialect: Dialect
    node_id: str
    url: str
    # True where a read can never wait on a lock or the network, so callers may run it inline.
    reads_never_wait = False
    # True where `write_async` can send a write that needs no reads from an event loop.
    writes_async = False
    # True where `append_audit_async` appends to an audit chain from an event loop.
    appends_audit_async = False
    # True where two write transactions really run at once (PostgreSQL), so a bulk load may
    # keep two going; SQLite has one writer at a time.
    parallel_writers = False
    # From this much input, an import into an empty store drops the secondary indexes and builds
    # them at its end (storage/deferred_indexes.py, bulk/importer.first_load).
    first_load_bytes = 4 * 1024 * 1024
    # On a site node, every local change also goes to the replication outbox (replication/).
    keeps_outbox = False
    _packs_json: bool | None = None  # Repository.packs_json, as last read
    _packs_json_read = 0.0

    @abc.abstractmethod
    def reading(self, snapshot: bool = False) -> AbstractContextManager[Session]:
        """A read session on its own connection; with `snapshot`, all its reads see one snapshot."""

    @abc.abstractmethod
    def _transaction(self) -> AbstractContextManager[WriteSession]:
        """One write transaction: commits when the block ends normally, rolls back on any error."""

    @abc.abstractmethod
    def _schema_transaction(self) -> AbstractContextManager[Any]:
        """A driver connection in one transaction that holds the schema lock (one migrating
        process at a time); commits when the block ends normally."""

    def migrate(self, *, rewrites: bool = True) -> list[int]:
        """Apply the migrations not yet applied; return their versions. Indexes that a first load
        cut off half-way left dropped are built again. Without `rewrites` (a serving process's
        start), one that builds record tables again is refused on a database holding resources
        (storage/migrate.py)."""
        with self._schema_transaction() as conn:
            applied = migrate.apply_pending(conn, self.dialect, rewrites=rewrites)
        self.restore_indexes()
        return applied

    def pending_migrations(self) -> list[int]:
        with self._schema_transaction() as conn:
            return migrate.pending(conn, self.dialect)

    def migrations_missing(self) -> list[int]:
        """`pending_migrations` from one plain read, without the schema lock or a write: the
        readiness check (status/readiness.py) asks it often, and it fails if the database does not answer."""
        with self.reading() as session:
            return session.migrations_missing()

    @contextmanager
    def indexes_deferred(self, on_index: Callable[[str], None] = lambda name: None) -> Iterator[int]:
        """Run a first load with the secondary indexes dropped, and build them at the end (see
        storage/deferred_indexes.py); yields how many were dropped. They are built again even
        when the load fails: what was loaded stays, and must stay searchable."""
        with self._schema_transaction() as conn:
            dropped = deferred_indexes.defer(conn, self.dialect)
        try:
            yield dropped
        finally:
            self.restore_indexes(on_index)

    def restore_indexes(self, on_index: Callable[[str], None] = lambda name: None) -> int:
        """Build every index recorded as deferred; returns how many."""
        with self._schema_transaction() as conn:
            if deferred_indexes.MIGRATION not in migrate.applied_versions(conn, self.dialect):
                return 0  # a database older than deferred loads (a test of migrations holds one)
            todo = deferred_indexes.pending(conn, self.dialect)

        def run(step: Callable[[Any], None]) -> None:
            with self._schema_transaction() as conn:
                step(conn)

        deferred_indexes.restore(run, todo, self.dialect, on_index)
        return len(todo)

    @abc.abstractmethod
    def close(self) -> None: ...

    @abc.abstractmethod
    def analyze(self) -> None:
        """Refresh the planner's statistics. The search SQL relies on them to probe an index
        table by its owner rather than by its lookup columns (without them SQLite took 14 s
        instead of 10 ms for a patient's Observations of one code on a million resources)."""

    @abc.abstractmethod
    def refresh_statistics(self) -> list[str]:
        """Refresh the planner's statistics of the tables that changed enough since they were last
        taken (issue 27: writes through the API into a fresh PostgreSQL left the planner believing
        the resource table held 2 rows, and a load slowed from 500 to 90 resources a second).
        Lifeline keeps them itself rather than trust autovacuum to run; returns the tables done."""

    def write(self, work: Callable[[WriteSession], T], *, attempts: int = 5) -> tuple[T, list[StoredVersion]]:
        """Run `work` in one transaction; returns its result and the committed, numbered versions.

        A race with another writer (two creates of the same id) makes the work run again from
        the start, so `work` must only touch the database through its session."""
        for attempt in range(attempts):
            try:
                packs_json = self.packs_json()
                with self._transaction() as session:
                    session.packs_json = packs_json
                    result = work(session)
                    stored = session.finish()
                if session.audit is not None:
                    session.audit.committed(session)
                self._after_write()
                return result, stored
            except RetryableConflict:
                if attempt == attempts - 1:
                    raise
        raise AssertionError("unreachable")

    def packs_json(self) -> bool:
        """Whether writes pack each resource's JSON (storage/packing.py): this database's
        PACK_JSON_STATE row, read again when the last reading is PACK_JSON_CHECK_SECONDS old, so
        every process of a node follows `lifeline db repack` within that time. A schema older than
        that row (migration 21) does not pack."""
        known = self._packs_json_known()
        if known is not None:
            return known
        try:
            with self.reading() as session:
                found = session.state(PACK_JSON_STATE, int(epoch_clock()))
        except Exception:  # noqa: BLE001 - no node_state table yet (or no answer): as it is, for now
            return False
        return self._note_packs_json(found)

    def _packs_json_known(self) -> bool | None:
        """The packing switch as last read; None when it is due to be read again."""
        if self._packs_json is None or time.monotonic() - self._packs_json_read >= PACK_JSON_CHECK_SECONDS:
            return None
        return self._packs_json

    def _note_packs_json(self, value: str | None) -> bool:
        """Keep a reading of the switch's node_state value (PACK_JSON_STATE) and say what it means."""
        self._packs_json, self._packs_json_read = value == "on", time.monotonic()
        return self._packs_json

    def start_packing(self) -> bool:
        """Turn packing on for every process of this database (`lifeline db repack`); whether it
        was off. Processes follow within PACK_JSON_CHECK_SECONDS."""
        self._packs_json = None
        if self.packs_json():
            return False
        self.write(lambda session: session.put_state(PACK_JSON_STATE, "on", None))
        self._packs_json = None
        return True

    def _after_write(self) -> None:  # noqa: B027 - most backends have nothing to do
        """After a committed write: a backend with a read replica notes it (storage/postgres.py)."""

    def pages(self, res_type: str | None, size: int) -> Iterator[list[StoredVersion]]:
        """Every current resource (of `res_type`, or of every FHIR type), `size` at a time in id
        order; each page is read on its own, so a long walk holds no snapshot or lock."""
        after: str | None = None
        while True:
            with self.reading() as session:
                page = session.search(res_type, Match(), after_key=after, limit=size)
            if not page:
                return
            yield page
            after = f"{page[-1].res_type}/{page[-1].res_id}"

    def read(self, res_type: str, res_id: str) -> StoredVersion | None:
        with self.reading() as session:
            return session.read(res_type, res_id)

    async def read_async(self, res_type: str, res_id: str) -> StoredVersion | None:
        """The current row, for callers on an event loop; backends whose reads wait on the
        network override it so the loop is not blocked."""
        return self.read(res_type, res_id)

    async def write_async(
        self, work: Callable[[WriteSession], T], *, attempts: int = 5
    ) -> tuple[T, list[StoredVersion]]:
        """`write` from an event loop, for work that only writes (see `writes_async`)."""
        raise NotImplementedError(f"{type(self).__name__} writes through worker threads")

    async def append_audit_async(self, node_id: str, recorded: str, contents: Sequence[str]) -> list[int]:
        """Append canonical AuditEvent texts to a node's chain in one transaction, from an event
        loop (see `appends_audit_async`; audit/store.py has the rule)."""
        raise NotImplementedError(f"{type(self).__name__} appends audit records through worker threads")

    async def aclose(self) -> None:  # noqa: B027 - a no-op unless read_async opened something
        """Release what `read_async` opened on the event loop."""

    # Whether the database has a clock of its own (another machine's): a peer for clock_skew.py.
    has_server_clock = False

    def server_time(self) -> float | None:
        """The database server's clock (seconds since 1970), where it is another machine's: a peer
        to compare this node's clock with (identity/clock_skew.py). None for an embedded store."""
        return None

    def sequence(self) -> int:
        """Give change numbers to every committed, unnumbered version; return the last number.
        Backends that number at commit (SQLite) have nothing to do."""
        with self.reading() as session:
            return session.last_change_seq()

    def changes_after(self, change_seq: int, limit: int = 1000) -> list[StoredVersion]:
        """The change feed after `change_seq`: gap-free, in order, never missing a late commit."""
        self.sequence()
        with self.reading() as session:
            return session.changes_after(change_seq, limit)
