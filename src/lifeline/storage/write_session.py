"""One write transaction: the one write path of Lifeline.

Current rows, search-index rows and numbered versions are buffered and sent together with the
COMMIT: on PostgreSQL in one pipeline, so a plain create is one round trip whatever its index
size, and the change counter's lock is held only while the server runs the tail of that
pipeline, never while Python waits for the GIL. Reads inside the transaction flush the buffer
first, so the transaction always sees its own writes.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from lifeline.search.index_rows import IndexEntries
from lifeline.storage.dialect import Dialect
from lifeline.storage.migrations import INDEX_TABLES
from lifeline.storage.records import PendingVersion, StoredVersion
from lifeline.storage.session import Connection, Session

_COLUMNS = {
    "search_string": 5,
    "search_token": 6,
    "search_date": 5,
    "search_number": 6,
    "search_quantity": 9,
    "search_reference": 6,
    "search_uri": 4,
}


class WriteSession(Session):
    def __init__(self, conn: Connection, dialect: Dialect, node_id: str) -> None:
        super().__init__(conn, dialect)
        self.node_id = node_id
        self.pending: list[PendingVersion] = []
        self._upserts: list[tuple[Any, ...]] = []
        self._replaced: list[tuple[str, str]] = []
        self._index: dict[str, list[tuple[Any, ...]]] = {table: [] for table in INDEX_TABLES}
        self._buffered: set[tuple[str, str]] = set()
        d = dialect
        self._upsert_sql = d.sql(
            "INSERT INTO resource (res_type, res_id, version_id, last_updated, deleted, content)"
            f" VALUES (?, ?, ?, ?, ?, {d.json_in})"
            " ON CONFLICT (res_type, res_id) DO UPDATE SET version_id = excluded.version_id,"
            " last_updated = excluded.last_updated, deleted = excluded.deleted, content = excluded.content"
        )
        columns = "res_type, res_id, version_id, last_updated, deleted, method, node_id, content"
        self._version_sql = d.sql(f"INSERT INTO resource_version ({columns}) VALUES (?, ?, ?, ?, ?, ?, ?, {d.json_in})")
        self._numbered_sql = d.sql(
            f"INSERT INTO resource_version (change_seq, {columns})"
            f" VALUES ((SELECT last_seq FROM change_counter WHERE id = 1) - ?, ?, ?, ?, ?, ?, ?, ?, {d.json_in})"
        )

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
        for chunk in _chunks(list(dict.fromkeys(keys)), 500):
            pairs = ", ".join("(?, ?)" for _ in chunk)
            rows = self._all(
                f"SELECT res_type, res_id, version_id, last_updated, deleted, {self.dialect.json_out} FROM resource"
                f" WHERE (res_type, res_id) IN (VALUES {pairs}){self.dialect.for_update}",
                [value for key in chunk for value in key],
            )
            for r in rows:
                found[(r[0], r[1])] = StoredVersion(r[0], r[1], int(r[2]), r[3], bool(r[4]), r[5])
        return found

    def lock(self, key: str) -> None:
        """Serialise writers that decide on the same key (conditional create); a no-op where the
        backend already has a single writer."""

    def put(self, version: PendingVersion, index: IndexEntries | None, *, replaces: bool) -> None:
        key = (version.res_type, version.res_id)
        if key in self._buffered:
            # The same resource twice in one transaction: write the first before replacing it.
            self.flush()
        self._buffered.add(key)
        self._upserts.append((*key, version.version_id, version.last_updated, version.deleted, version.content))
        if replaces:
            self._replaced.append(key)
        if index is not None:
            for table, rows in _index_rows(key, index):
                self._index[table].extend(rows)
        self.pending.append(version)

    def _pipeline(self) -> AbstractContextManager[Any]:
        return nullcontext()

    def _start(self) -> None:
        """Open the transaction if the backend opens it lazily (PostgreSQL); SQLite has begun."""

    def flush(self) -> None:
        if self._buffered:
            with self._pipeline():
                self._start()
                self._write_buffers()

    def _write_buffers(self) -> None:
        cursor = self._cursor()
        if self._upserts:
            cursor.executemany(self._upsert_sql, self._upserts)
        if self._replaced:
            for table in INDEX_TABLES:
                cursor.executemany(
                    self.dialect.sql(f"DELETE FROM {table} WHERE res_type = ? AND res_id = ?"), self._replaced
                )
        for table, rows in self._index.items():
            if rows:
                marks = ", ".join("?" * _COLUMNS[table])
                cursor.executemany(self.dialect.sql(f"INSERT INTO {table} VALUES ({marks})"), rows)
                rows.clear()
        self._upserts.clear()
        self._replaced.clear()
        self._buffered.clear()

    def _cursor(self) -> Any:
        return self.conn.cursor()  # type: ignore[attr-defined]

    def finish(self) -> list[StoredVersion]:
        """Write what is buffered and the new versions, and commit, in one pipeline.

        Where writers take turns anyway (SQLite), the versions get their change numbers here, from
        the counter row. Where they do not (PostgreSQL), numbering under a lock held through the
        commit would make every commit wait for the one before it to reach the disk; the versions
        are written unnumbered and storage/sequencing.py numbers them once they have committed."""
        n = len(self.pending)
        last = None
        with self._pipeline():
            self._start()
            self._write_buffers()
            if n and self.numbers_at_commit:
                counter = self._cursor()
                counter.execute(
                    "UPDATE change_counter SET last_seq = last_seq + ? WHERE id = 1 RETURNING last_seq", (n,)
                )
                last = int(counter.fetchone()[0])
            if n:
                self._cursor().executemany(
                    self._numbered_sql if self.numbers_at_commit else self._version_sql,
                    [
                        (
                            *((n - 1 - i,) if self.numbers_at_commit else ()),
                            p.res_type,
                            p.res_id,
                            p.version_id,
                            p.last_updated,
                            p.deleted,
                            p.method,
                            self.node_id,
                            p.content,
                        )
                        for i, p in enumerate(self.pending)
                    ],
                )
            self.conn.execute("COMMIT")
        first = None if last is None else last - n + 1
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
                self.node_id,
            )
            for i, p in enumerate(self.pending)
        ]

    # SQLite has one writer at a time: it numbers versions in the writing transaction.
    numbers_at_commit = True


def _index_rows(key: tuple[str, str], index: IndexEntries) -> Iterator[tuple[str, list[tuple[Any, ...]]]]:
    yield "search_string", [(*key, e.param, e.normalized, e.exact) for e in index.strings]
    yield "search_token", [(*key, e.param, e.system, e.code, e.text) for e in index.tokens]
    yield "search_date", [(*key, e.param, e.low, e.high) for e in index.dates]
    yield "search_number", [(*key, e.param, e.value, e.low, e.high) for e in index.numbers]
    yield (
        "search_quantity",
        [(*key, e.param, e.value, e.low, e.high, e.system, e.code, e.unit) for e in index.quantities],
    )
    yield "search_reference", [(*key, e.param, e.target_type, e.target_id, e.url) for e in index.references]
    yield "search_uri", [(*key, e.param, e.value) for e in index.uris]


def _chunks(items: list[tuple[str, str]], size: int) -> Iterator[list[tuple[str, str]]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
