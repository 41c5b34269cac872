"""One write transaction: the one write path of Lifeline.

Current rows, search-index rows and new versions are buffered as row batches and sent with the
COMMIT. Each backend sends batches its own way (`_send`): SQLite runs them with executemany;
PostgreSQL renders them into multi-row statements sent as one query, so a plain create is one
round trip whatever its index size. Reads inside the transaction send the buffer first, so the
transaction always sees its own writes.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Protocol

from lifeline.storage import param_numbers
from lifeline.storage.dialect import Dialect
from lifeline.storage.index_rows import IndexEntries
from lifeline.storage.migrations import INDEX_TABLES
from lifeline.storage.packing import is_packed, pack
from lifeline.storage.records import PendingVersion, StoredVersion
from lifeline.storage.session import Connection, Session, current_columns, current_from_row, keys_condition

_VERSION_COLUMNS = "res_type, res_id, version_id, last_updated, deleted, method, node_id, content"
_OUTBOX_COLUMNS = "request_tag, res_type, res_id, version_id, deleted, method, last_updated, content"
# The request a write belongs to, on a site node: the API waits for the centre to take that
# request's outbox rows before it answers (replication/site.py). None for other writes.
REQUEST_TAG: ContextVar[str | None] = ContextVar("lifeline_request_tag", default=None)


class WriteAudit(Protocol):
    """The audit record of what a transaction writes, made inside it (audit/outbox.py)."""

    def record(self, session: WriteSession) -> None:
        """Add the record of `session`'s new versions to its transaction, before the COMMIT."""

    def committed(self, session: WriteSession) -> None:
        """`session` has committed: its record is durable."""


# The audited request whose writes record themselves (set by the FHIR core around one request);
# None for every other writer (replication, imports by rows, identity records, the trail itself).
WRITE_AUDIT: ContextVar[WriteAudit | None] = ContextVar("lifeline_write_audit", default=None)
_RESOURCE_COLUMNS = "res_type, res_id, version_id, last_updated, deleted, content"


@dataclass
class Batch:
    """Rows for one statement: `head` + one `row` template per row (joined by commas) + `tail`."""

    head: str
    row: str
    rows: list[tuple[Any, ...]]
    tail: str = ""
    copy_into: str | None = None  # "table (columns)" when the batch is a plain insert that COPY may do
    copy_text: bytes | None = None  # rows already in COPY text format (PostgreSQL imports), instead of `rows`
    copy_from_rows: int | None = None  # go by COPY from this many rows (None: the backend's own threshold)


class WriteSession(Session):
    # SQLite has one writer at a time: it numbers versions in the writing transaction.
    numbers_at_commit = True
    # Whether this database packs each resource's JSON (storage/packing.py): the repository
    # sets it on every write session (Repository.packs_json).
    packs_json = False
    # Whether `append_audit` hashes and writes a chain's records in the database (PostgreSQL);
    # elsewhere audit/store.py does it through the head and event methods below.
    appends_audit_in_database = False

    def __init__(self, conn: Connection, dialect: Dialect, node_id: str, *, outbox: bool = False) -> None:
        super().__init__(conn, dialect)
        self.node_id = node_id
        # On a site node every local change also goes to the replication outbox (migration 8);
        # the changes a site applies from the centre's feed do not (replication/apply.py).
        self.writes_outbox = outbox
        self._superseded: list[tuple[str, str, int]] = []
        self.pending: list[PendingVersion] = []
        # What each of `pending` stores as its content: its JSON packed (storage/packing.py).
        self._stored: list[str | None] = []
        # Per resource, which of `pending` becomes its current row: that version's row in
        # resource_version is written without content (it is in `resource`; see _version_batch).
        self._current: dict[tuple[str, str], int] = {}
        self._inserts: list[tuple[Any, ...]] = []  # resources new to the store
        self._upserts: list[tuple[Any, ...]] = []  # new versions of stored ones
        self._replaced: list[tuple[str, str]] = []
        self._index: dict[str, list[tuple[Any, ...]]] = {table: [] for table in INDEX_TABLES}
        self._index_text: dict[str, list[bytes]] = {table: [] for table in INDEX_TABLES}
        self._buffered: set[tuple[str, str]] = set()
        self._later: list[Batch] = []  # other buffered statements (the audit trail's), sent last
        # For the audit record of this transaction's writes (`WRITE_AUDIT`): each written
        # resource's references to patients, (param, patient id), from its index rows.
        self.audit = WRITE_AUDIT.get()
        self.patient_references: dict[tuple[str, str], list[tuple[str, str]]] = {}

    # Reads see the transaction's own writes.
    def _one(self, sql: str, params: Sequence[Any] = ()) -> Any:
        self.flush()
        return super()._one(sql, params)

    def _all(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        self.flush()
        return super()._all(sql, params)

    def read_for_update(self, res_type: str, res_id: str) -> StoredVersion | None:
        found = self.read_many_for_update([(res_type, res_id)])
        return found.get((res_type, res_id))

    def read_many_for_update(self, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], StoredVersion]:
        """The current rows of many resources, locked for this transaction, in one query per 500."""
        found: dict[tuple[str, str], StoredVersion] = {}
        unique = list(dict.fromkeys(keys))
        for start in range(0, len(unique), 500):
            condition, args = keys_condition(unique[start : start + 500], "res_type", "res_id")
            rows = self._all(
                f"SELECT {current_columns(self.dialect)} FROM resource WHERE {condition}{self.dialect.for_update}", args
            )
            for row in rows:
                found[(row[0], row[1])] = current_from_row(row)
        return found

    # Node-local state (identity/state.py): not versioned, never replicated. Every statement
    # returns a row so that it runs through `_one` on both drivers.
    def put_state(self, name: str, value: str, expires_at: int | None) -> None:
        self._one(
            "INSERT INTO node_state (name, value, expires_at) VALUES (?, ?, ?) ON CONFLICT (name)"
            " DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at RETURNING name",
            (name, value, expires_at),
        )

    def add_state(self, name: str, value: str, expires_at: int | None, now: int) -> bool:
        """Store `name` unless a live value is there; whether it was stored (a one-time use)."""
        self._one("DELETE FROM node_state WHERE name = ? AND expires_at <= ? RETURNING name", (name, now))
        row = self._one(
            "INSERT INTO node_state (name, value, expires_at) VALUES (?, ?, ?)"
            " ON CONFLICT (name) DO NOTHING RETURNING name",
            (name, value, expires_at),
        )
        return row is not None

    def take_state(self, name: str, now: int) -> str | None:
        """Remove a value and return it if it had not expired: what a one-time code needs."""
        row = self._one("DELETE FROM node_state WHERE name = ? RETURNING value, expires_at", (name,))
        if row is None or (row[1] is not None and int(row[1]) <= now):
            return None
        return str(row[0])

    def purge_state(self, now: int) -> None:
        self._all("DELETE FROM node_state WHERE expires_at <= ? RETURNING name", (now,))

    # The audit outbox (audit/outbox.py): a write's record, committed with the write.
    def add_audit_outbox(self, node_id: str, content: str) -> None:
        """A canonical AuditEvent text for `node_id`'s chain, sent with the COMMIT."""
        self._later.append(Batch("INSERT INTO audit_outbox (node_id, content) VALUES ", "(?, ?)", [(node_id, content)]))

    def take_audit_outbox(self, limit: int) -> list[tuple[str, str]]:
        """Remove up to `limit` of the oldest outbox records and return them (node_id, content), in
        the order they were written. Rows another transaction is taking are waited for, not
        skipped: when this returns, they are in the chain (a reader of the trail sees them all)."""
        rows = self._all(
            f"DELETE FROM audit_outbox WHERE id IN (SELECT id FROM audit_outbox ORDER BY id LIMIT ?"
            f"{self.dialect.for_update}) RETURNING id, node_id, content",
            (limit,),
        )
        return [(str(r[1]), str(r[2])) for r in sorted(rows, key=lambda r: int(r[0]))]

    # The audit trail (audit/store.py). The head row is read locked, so that appends to one
    # node's chain take turns on PostgreSQL (SQLite has one writer anyway).
    def lock_audit_head(self, node_id: str) -> tuple[int, str] | None:
        """The head (seq, hash) of a node's chain, locked until this transaction ends."""
        row = self._one(f"SELECT seq, hash FROM audit_head WHERE node_id = ?{self.dialect.for_update}", (node_id,))
        return None if row is None else (int(row[0]), str(row[1]))

    def append_audit(self, node_id: str, recorded: str, contents: Sequence[str]) -> list[int]:
        """Append canonical AuditEvent texts to a node's chain, in the database (see
        `appends_audit_in_database`)."""
        raise NotImplementedError(f"{type(self).__name__} appends audit records in audit/store.py")

    def append_audit_at_commit(self, node_id: str, recorded: str, contents: Sequence[str]) -> None:
        """`append_audit`, sent with the COMMIT: the head is locked only while the database works."""
        raise NotImplementedError(f"{type(self).__name__} appends audit records in audit/store.py")

    def start_audit_head(self, node_id: str, genesis: str) -> None:
        self._one(
            "INSERT INTO audit_head (node_id, seq, hash) VALUES (?, 0, ?) ON CONFLICT (node_id) DO NOTHING"
            " RETURNING node_id",
            (node_id, genesis),
        )

    def put_audit_head(self, node_id: str, seq: int, hash_: str) -> None:
        """Move the head; buffered, so that it travels with the COMMIT (one round trip)."""
        statement = self.dialect.sql("UPDATE audit_head SET seq = ?, hash = ? WHERE node_id = ?")
        self._later.append(Batch(statement, "", [(seq, hash_, node_id)]))

    def add_audit_events(self, rows: Sequence[tuple[str, int, str, str, str, str]]) -> None:
        """Insert (node_id, seq, recorded, content, prev_hash, hash) rows; buffered like the
        resource rows, so a group commit is the head's lock and then one more round trip."""
        # By COPY on PostgreSQL from 50 records (a busy node's group commit): quoting each record's
        # JSON into a statement cost more than COPY's extra round trip.
        self._later.append(
            Batch(
                "INSERT INTO audit_event (node_id, seq, recorded, content, prev_hash, hash) VALUES ",
                "(?, ?, ?, ?, ?, ?)",
                list(rows),
                copy_into="audit_event (node_id, seq, recorded, content, prev_hash, hash)",
                copy_from_rows=50,
            )
        )

    def add_audit_checkpoint(self, node_id: str, seq: int, hash_: str, signed_at: str, signature: str) -> bool:
        row = self._one(
            "INSERT INTO audit_checkpoint (node_id, seq, hash, signed_at, signature) VALUES (?, ?, ?, ?, ?)"
            " ON CONFLICT (node_id, seq) DO NOTHING RETURNING seq",
            (node_id, seq, hash_, signed_at, signature),
        )
        return row is not None

    def prune_audit(self, node_id: str, seq: int, hash_: str, before: str, signature: str) -> int:
        """Remove a node's records up to `seq` (and their index rows and checkpoints), and anchor
        the chain there (audit/prune.py); how many records were removed."""
        removed = self._all("DELETE FROM audit_event WHERE node_id = ? AND seq <= ? RETURNING seq", (node_id, seq))
        self._all("DELETE FROM audit_index WHERE node_id = ? AND seq <= ? RETURNING seq", (node_id, seq))
        self._all("DELETE FROM audit_checkpoint WHERE node_id = ? AND seq <= ? RETURNING seq", (node_id, seq))
        self._one(
            "INSERT INTO audit_pruned (node_id, seq, hash, before, signature) VALUES (?, ?, ?, ?, ?)"
            " ON CONFLICT (node_id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash,"
            " before = excluded.before, signature = excluded.signature RETURNING seq",
            (node_id, seq, hash_, before, signature),
        )
        return len(removed)

    # The audit search index (audit/index.py).
    def lock_audit_indexed(self, node_id: str) -> int:
        """How far a node's chain is indexed, locked until this transaction ends."""
        self._one(
            "INSERT INTO audit_indexed (node_id, seq) VALUES (?, 0) ON CONFLICT (node_id) DO NOTHING RETURNING seq",
            (node_id,),
        )
        row = self._one(f"SELECT seq FROM audit_indexed WHERE node_id = ?{self.dialect.for_update}", (node_id,))
        return int(row[0])

    def add_audit_index(self, rows: Sequence[tuple[str, str, str, str, int]], node_id: str, seq: int) -> None:
        """Index rows of a node's records after the `lock_audit_indexed` position, and the new
        position. The lock makes indexers take turns, so no row is written twice; on PostgreSQL
        they go by COPY, however few (quoting thousands of rows into one statement held the
        writing process's interpreter for a tenth of a second, stalling its requests)."""
        if rows:
            self._later.append(
                Batch(
                    "INSERT INTO audit_index (param, value, recorded, node_id, seq) VALUES ",
                    "(?, ?, ?, ?, ?)",
                    list(rows),
                    copy_into="audit_index (param, value, recorded, node_id, seq)",
                    copy_from_rows=1,
                )
            )
        self._later.append(
            Batch(self.dialect.sql("UPDATE audit_indexed SET seq = ? WHERE node_id = ?"), "", [(seq, node_id)])
        )

    # Replication (replication/).
    def drop_outbox(self, local_seqs: Sequence[int]) -> None:
        """Forget outbox rows the centre has answered for."""
        if local_seqs:
            marks = ", ".join("?" for _ in local_seqs)
            self._all(f"DELETE FROM replication_outbox WHERE local_seq IN ({marks}) RETURNING local_seq", local_seqs)

    def restamp(self, rows: Sequence[tuple[str, str, int, str, str | None]]) -> None:
        """Give versions this node made the time another node stamped them with: rows of
        (res_type, res_id, version_id, last_updated, content). The current row changes only while
        it is still that version; the search index stands (only the stamps differ)."""
        if not rows:
            return
        values = f"(?, ?, CAST(? AS BIGINT), ?, {self.dialect.json_in})"
        rows = [(*row[:4], self._pack(row[0], row[4])) for row in rows]
        for table, content in (
            ("resource", "v.column5"),
            # A version row without content stays so: it is the current row's (_version_batch).
            ("resource_version", "CASE WHEN resource_version.content IS NULL THEN NULL ELSE v.column5 END"),
        ):
            self._later.append(
                Batch(
                    f"UPDATE {table} SET last_updated = v.column4, content = {content} FROM (VALUES ",
                    values,
                    list(rows),
                    f") AS v WHERE {table}.res_type = v.column1 AND {table}.res_id = v.column2"
                    f" AND {table}.version_id = v.column3",
                )
            )

    def _pack(self, res_type: str, content: str | None) -> str | None:
        return pack(res_type, content) if self.packs_json else content

    def repack(self, after: tuple[str, str] | None, limit: int) -> tuple[int, int, tuple[str, str] | None]:
        """Pack the stored JSON of up to `limit` resources after `after` (in key order), their
        current rows and older versions, where a version before storage/packing.py stored it as it
        is (`lifeline db repack`): (resources read, rows packed, the last key read, None when none
        is left). The rows are locked while they are repacked; only the text changes, never what
        it says."""
        where, args = ("WHERE (res_type, res_id) > (?, ?)", list(after)) if after is not None else ("", [])
        current = self._all(
            f"SELECT res_type, res_id, content FROM resource {where} ORDER BY res_type, res_id LIMIT ?"
            f"{self.dialect.for_update}",
            (*args, limit),
        )
        if not current:
            return 0, 0, None
        keys = [(str(r[0]), str(r[1])) for r in current]
        condition, key_args = keys_condition(keys, "res_type", "res_id")
        older = self._all(
            f"SELECT res_type, res_id, version_id, content FROM resource_version WHERE {condition}"
            f" AND content IS NOT NULL{self.dialect.for_update}",
            key_args,
        )
        packed = 0
        for table, rows, values, same_version in (
            ("resource", [(r[0], r[1], r[2]) for r in current], "(?, ?, ?)", ""),
            (
                "resource_version",
                [(r[0], r[1], r[3], r[2]) for r in older],
                "(?, ?, ?, CAST(? AS BIGINT))",
                " AND resource_version.version_id = v.column4",
            ),
        ):
            changed = [
                (row[0], row[1], new, *row[3:])
                for row in rows
                if not is_packed(row[2]) and (new := pack(row[0], row[2])) != row[2]
            ]
            if changed:
                packed += len(changed)
                self._later.append(
                    Batch(
                        f"UPDATE {table} SET content = v.column3 FROM (VALUES ",
                        values,
                        changed,
                        f") AS v WHERE {table}.res_type = v.column1 AND {table}.res_id = v.column2{same_version}",
                    )
                )
        return len(current), packed, keys[-1]

    def mark_applied(self, node_id: str, local_seq: int, outcome: str) -> None:
        """Remember that a site's change was taken (applied, conflict, rejected, ...)."""
        self._one(
            "INSERT INTO replication_applied (node_id, local_seq, outcome) VALUES (?, ?, ?) RETURNING local_seq",
            (node_id, local_seq, outcome),
        )

    def mark_applied_many(self, rows: Sequence[tuple[str, int, str]]) -> None:
        """`mark_applied` for a batch (node_id, local_seq, outcome), sent with the COMMIT."""
        if rows:
            self._later.append(
                Batch("INSERT INTO replication_applied (node_id, local_seq, outcome) VALUES ", "(?, ?, ?)", list(rows))
            )

    def lock(self, key: str) -> None:
        """Serialise writers that decide on the same key (conditional create); a no-op where the
        backend already has a single writer."""

    def put_version(
        self,
        res_type: str,
        res_id: str,
        previous: StoredVersion | None,
        instant: str,
        content: str | None,
        *,
        deleted: bool = False,
        method: str = "PUT",
        node_id: str | None = None,
        index: IndexEntries | IndexRows | CopyRows | None = None,
    ) -> PendingVersion:
        """Put the version that follows `previous` (None: the resource is new), numbered by
        `next_version`: every local writer goes through here (`put_replicated` keeps the numbers
        another node gave). The previous live version's index rows are replaced when this version
        brings its own or is a delete; a kind written without an index (identity records, grants,
        conflicts) has none to replace. `index` may come as rows already (`put_rows`)."""
        version = PendingVersion(res_type, res_id, next_version(previous), instant, deleted, content, method, node_id)
        replaces = previous is not None and not previous.deleted and (index is not None or deleted)
        if index is None or isinstance(index, IndexEntries):
            self.put(version, index, replaces=replaces)
        else:
            self.put_rows(version, index, replaces=replaces)
        return version

    def put(self, version: PendingVersion, index: IndexEntries | None, *, replaces: bool) -> None:
        key = (version.res_type, version.res_id)
        self.put_rows(version, index_rows(key, index) if index is not None else [], replaces=replaces)

    def put_rows(self, version: PendingVersion, rows_by_table: IndexRows | CopyRows, *, replaces: bool) -> None:
        """`put` with the index already turned into rows (the importer's workers do that), or
        on PostgreSQL into COPY text (storage/copy_text.py)."""
        key = (version.res_type, version.res_id)
        if key in self._buffered:
            # The same resource twice in one transaction: write the first before replacing it.
            self.flush()
        self._buffered.add(key)
        stored = self._pack(version.res_type, version.content)
        row = (*key, version.version_id, version.last_updated, version.deleted, stored)
        (self._inserts if version.version_id == 1 else self._upserts).append(row)
        if replaces:
            self._replaced.append(key)
        for table, rows in rows_by_table:
            if isinstance(rows, bytes):
                self._index_text[table].append(rows)
            else:
                self._index[table].extend(rows)
                if self.audit is not None and table == "search_reference":
                    # rows: (res_type, res_id, pid, target_type, target_id, url)
                    self.patient_references[key] = [
                        (param_numbers.parameter(r[2])[1], r[4]) for r in rows if r[3] == "Patient" and r[4]
                    ]
        self._current[key] = len(self.pending)
        self.pending.append(version)
        self._stored.append(stored)

    def note_references(self, key: tuple[str, str], index: IndexEntries) -> None:
        """The patients a deleted resource's last version referred to, for the delete's audit
        record (a delete leaves no index rows to read them from)."""
        self.patient_references[key] = [
            (e.param, e.target_id) for e in index.references if e.target_type == "Patient" and e.target_id
        ]

    def put_replicated(
        self, version: PendingVersion, rows_by_table: IndexRows, *, current: bool, reindex: bool = True
    ) -> None:
        """A version taken from another node's feed, with that node's version number. It replaces
        any version of the same number this node made itself meanwhile (the centre's word is
        final; the site's own was sent there, and kept there as a conflict if it lost), and
        becomes the current row when `current`."""
        key = (version.res_type, version.res_id)
        if key in self._buffered:
            self.flush()
        self._superseded.append((*key, version.version_id))
        stored = self._pack(version.res_type, version.content)
        self.pending.append(version)
        self._stored.append(stored)
        if not current:
            return  # an old version of a resource whose current row is newer: history only
        self._current[key] = len(self.pending) - 1
        self._buffered.add(key)
        self._upserts.append((*key, version.version_id, version.last_updated, version.deleted, stored))
        if reindex:  # else the resource's index rows stand (only its stamps changed)
            self._replaced.append(key)
        for table, rows in rows_by_table:
            self._index[table].extend(rows)

    def reindex(self, key: tuple[str, str], rows_by_table: IndexRows) -> None:
        """Replace a stored resource's search-index rows, writing no version (`lifeline db reindex`)."""
        if key in self._buffered:
            self.flush()
        self._buffered.add(key)
        self._replaced.append(key)
        for table, rows in rows_by_table:
            self._index[table].extend(rows)

    def flush(self) -> None:
        if self._buffered or self._later:
            self._send(self._take_buffers(), commit=False)

    def _take_buffers(self) -> list[Batch]:
        json_in = self.dialect.json_in
        batches: list[Batch] = []
        if self._inserts:
            batches.append(
                Batch(
                    f"INSERT INTO resource ({_RESOURCE_COLUMNS}) VALUES ",
                    f"(?, ?, ?, ?, ?, {json_in})",
                    self._inserts,
                    copy_into=f"resource ({_RESOURCE_COLUMNS})",
                )
            )
        if self._upserts:
            # Each version's JSON is stored once: the current version's in `resource`, the others'
            # in resource_version. The version a new one replaces gets its JSON back into its
            # version row first, in the same transaction (a version row written this session
            # already has it: _version_batch).
            batches.append(
                Batch(
                    "UPDATE resource_version SET content = r.content FROM resource r"
                    " WHERE r.res_type = resource_version.res_type AND r.res_id = resource_version.res_id"
                    " AND r.version_id = resource_version.version_id AND resource_version.content IS NULL"
                    " AND NOT r.deleted AND (r.res_type, r.res_id) IN (VALUES ",
                    "(?, ?)",
                    [row[:2] for row in self._upserts],
                    ")",
                )
            )
            batches.append(
                Batch(
                    f"INSERT INTO resource ({_RESOURCE_COLUMNS}) VALUES ",
                    f"(?, ?, ?, ?, ?, {json_in})",
                    self._upserts,
                    " ON CONFLICT (res_type, res_id) DO UPDATE SET version_id = excluded.version_id,"
                    " last_updated = excluded.last_updated, deleted = excluded.deleted, content = excluded.content",
                )
            )
        if self._replaced:
            for table in INDEX_TABLES:
                batches.append(
                    Batch(f"DELETE FROM {table} WHERE (res_type, res_id) IN (VALUES ", "(?, ?)", self._replaced, ")")
                )
        for table, rows in self._index.items():
            if rows:
                marks = "(" + ", ".join("?" * len(rows[0])) + ")"
                batches.append(Batch(f"INSERT INTO {table} VALUES ", marks, rows, copy_into=table))
        for table, texts in self._index_text.items():
            if texts:
                batches.append(
                    Batch(f"INSERT INTO {table} VALUES ", "", [], copy_into=table, copy_text=b"".join(texts))
                )
        self._inserts, self._upserts, self._replaced, self._buffered = [], [], [], set()
        self._index = {table: [] for table in INDEX_TABLES}
        self._index_text = {table: [] for table in INDEX_TABLES}
        batches.extend(self._later)
        self._later = []
        return batches

    def _send(self, batches: list[Batch], *, commit: bool) -> None:
        """Run the batches (and COMMIT); SQLite: executemany, each statement answered at once."""
        cursor = self.conn.cursor()  # type: ignore[attr-defined]
        for batch in batches:
            assert batch.copy_text is None, "COPY text is for PostgreSQL (Dialect.copies_text)"
            cursor.executemany(self.dialect.sql(batch.head + batch.row + batch.tail), batch.rows)
        if commit:
            self.conn.execute("COMMIT")

    def finish(self) -> list[StoredVersion]:
        """Write what is buffered and the new versions, and commit.

        Where writers take turns anyway (SQLite), the versions get their change numbers here, from
        the counter row. Where they do not (PostgreSQL), numbering under a lock held through the
        commit would make every commit wait for the one before it to reach the disk; the versions
        are written unnumbered and storage/sequencing.py numbers them once they have committed."""
        if self.audit is not None and self.pending:
            self.audit.record(self)  # the writes' audit record, committed with them
        n = len(self.pending)
        batches = self._take_buffers()
        first = None
        if n and self.numbers_at_commit:
            self._send(batches, commit=False)
            batches = []
            row = self.conn.execute(
                "UPDATE change_counter SET last_seq = last_seq + ? WHERE id = 1 RETURNING last_seq", (n,)
            ).fetchone()
            first = int(row[0]) - n + 1
        if self._superseded:
            batches.append(
                Batch(
                    "DELETE FROM resource_version WHERE (res_type, res_id, version_id) IN (VALUES ",
                    "(?, ?, ?)",
                    self._superseded,
                    ")",
                )
            )
            self._superseded = []
        if n:
            batches.append(self._version_batch(first))
            if self.writes_outbox:
                batches.append(self._outbox_batch())
        self._send(batches, commit=True)
        return [
            StoredVersion(
                p.res_type,
                p.res_id,
                p.version_id,
                p.last_updated,
                p.deleted,
                p.content,
                None if first is None else first + i,
                p.method,
                p.node_id or self.node_id,
            )
            for i, p in enumerate(self.pending)
        ]

    def _version_batch(self, first: int | None) -> Batch:
        """The rows of the pending versions; the one that ends as its resource's current row
        without content (it is the current row's), every other with its own."""
        current = set(self._current.values())
        return Batch(
            f"INSERT INTO resource_version (change_seq, {_VERSION_COLUMNS}) VALUES ",
            f"(?, ?, ?, ?, ?, ?, ?, ?, {self.dialect.json_in})",
            [
                (
                    None if first is None else first + i,
                    p.res_type,
                    p.res_id,
                    p.version_id,
                    p.last_updated,
                    p.deleted,
                    p.method,
                    p.node_id or self.node_id,
                    None if i in current else self._stored[i],
                )
                for i, p in enumerate(self.pending)
            ],
            copy_into=f"resource_version (change_seq, {_VERSION_COLUMNS})",
        )

    def _outbox_batch(self) -> Batch:
        tag = REQUEST_TAG.get()
        return Batch(
            f"INSERT INTO replication_outbox ({_OUTBOX_COLUMNS}) VALUES ",
            "(?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (tag, p.res_type, p.res_id, p.version_id, p.deleted, p.method, p.last_updated, p.content)
                for p in self.pending
            ],
        )


def next_version(previous: StoredVersion | None) -> int:
    """A resource's next version number: 1 when it is new, else one past the stored one (a
    deleted resource's history goes on). Writers that stamp meta.versionId into the content
    before `put_version` read it here."""
    return 1 if previous is None else previous.version_id + 1


IndexRows = list[tuple[str, list[tuple[Any, ...]]]]
# The same rows as COPY text per table (an import's workers make it for PostgreSQL).
CopyRows = list[tuple[str, bytes]]


def index_rows(key: tuple[str, str], index: IndexEntries) -> IndexRows:
    """A resource's index entries as rows of each index table (plain tuples, cheap to pickle),
    each naming its parameter by number (storage/param_numbers.py)."""
    pid = param_numbers.of_type(key[0]).__getitem__
    tables: IndexRows = [
        ("search_string", [(*key, pid(e.param), e.normalized, e.exact) for e in index.strings]),
        ("search_token", [(*key, pid(e.param), e.system, e.code, e.text) for e in index.tokens]),
        ("search_date", [(*key, pid(e.param), e.low, e.high) for e in index.dates]),
        ("search_number", [(*key, pid(e.param), e.value, e.low, e.high) for e in index.numbers]),
        (
            "search_quantity",
            [(*key, pid(e.param), e.value, e.low, e.high, e.system, e.code, e.unit) for e in index.quantities],
        ),
        ("search_reference", [(*key, pid(e.param), e.target_type, e.target_id, e.url) for e in index.references]),
        ("search_uri", [(*key, pid(e.param), e.value) for e in index.uris]),
        ("search_composite", [(*key, pid(e.param), *e.values()) for e in index.composites]),
        (
            "search_subject_code",
            [(*key, e.subject_type, e.subject_id, e.system, e.code, e.latest) for e in index.subject_codes],
        ),
    ]
    return [(table, rows) for table, rows in tables if rows]
