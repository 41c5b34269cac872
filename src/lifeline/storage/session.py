"""The SQL both backends share: reading versions and writing them, index rows included.

A `Session` reads; a `WriteSession` is one write transaction. Backends only differ in how they
hand out connections and in their `Dialect`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Protocol

from lifeline.search.index_rows import IndexEntries
from lifeline.storage.dialect import Dialect
from lifeline.storage.migrations import INDEX_TABLES
from lifeline.storage.records import PendingVersion, StoredVersion


class Connection(Protocol):
    def execute(self, sql: str, params: Sequence[Any] = ...) -> Any: ...


_VERSION_COLUMNS = "res_type, res_id, version_id, last_updated, deleted, {content}, change_seq, method, node_id"


class Session:
    """Reads over one connection; inside a write transaction it sees the transaction's own writes."""

    def __init__(self, conn: Connection, dialect: Dialect) -> None:
        self.conn = conn
        self.dialect = dialect
        self._version_columns = _VERSION_COLUMNS.format(content=dialect.json_out)

    def _all(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        return list(self.conn.execute(self.dialect.sql(sql), params).fetchall())

    def _one(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self.conn.execute(self.dialect.sql(sql), params).fetchone()

    def read(self, res_type: str, res_id: str) -> StoredVersion | None:
        row = self._one(
            f"SELECT version_id, last_updated, deleted, {self.dialect.json_out} FROM resource"
            " WHERE res_type = ? AND res_id = ?",
            (res_type, res_id),
        )
        if row is None:
            return None
        return StoredVersion(res_type, res_id, int(row[0]), row[1], bool(row[2]), row[3])

    def vread(self, res_type: str, res_id: str, version_id: int) -> StoredVersion | None:
        row = self._one(
            f"SELECT {self._version_columns} FROM resource_version"
            " WHERE res_type = ? AND res_id = ? AND version_id = ?",
            (res_type, res_id, version_id),
        )
        return _version(row) if row else None

    def exists_any_version(self, res_type: str, res_id: str) -> bool:
        return self._one("SELECT 1 FROM resource WHERE res_type = ? AND res_id = ?", (res_type, res_id)) is not None

    def history(
        self,
        res_type: str | None,
        res_id: str | None,
        *,
        since: str | None,
        at: str | None,
        before_seq: int | None,
        limit: int,
    ) -> list[StoredVersion]:
        """Versions newest first (by change number), for one resource, one type or the system."""
        where, params = _scope(res_type, res_id, "v")
        if since is not None:
            where.append("v.last_updated >= ?")
            params.append(since)
        if before_seq is not None:
            where.append("v.change_seq < ?")
            params.append(before_seq)
        if at is not None:
            # The version current at `at`: written at or before it, and no later version by then.
            where.append("v.last_updated <= ?")
            params.append(at)
            where.append(
                "NOT EXISTS (SELECT 1 FROM resource_version w WHERE w.res_type = v.res_type"
                " AND w.res_id = v.res_id AND w.version_id > v.version_id AND w.last_updated <= ?)"
            )
            params.append(at)
        clause = " WHERE " + " AND ".join(where) if where else ""
        columns = ", ".join(f"v.{c.strip()}" for c in self._version_columns.split(","))
        rows = self._all(
            f"SELECT {columns} FROM resource_version v{clause} ORDER BY v.change_seq DESC LIMIT ?",
            [*params, limit],
        )
        return [_version(r) for r in rows]

    def count_history(self, res_type: str | None, res_id: str | None, since: str | None) -> int:
        where, params = _scope(res_type, res_id, "v")
        if since is not None:
            where.append("v.last_updated >= ?")
            params.append(since)
        clause = " WHERE " + " AND ".join(where) if where else ""
        return int(self._one(f"SELECT COUNT(*) FROM resource_version v{clause}", params)[0])

    def search(
        self, res_type: str | None, where: str, params: Sequence[Any], *, after_key: str | None, limit: int
    ) -> list[StoredVersion]:
        """Current, non-deleted resources matching `where` (over alias r), ordered by type and id."""
        conditions, args = self._search_conditions(res_type, where, params)
        if after_key is not None:
            conditions.append("(r.res_type || '/' || r.res_id) > ?")
            args.append(after_key)
        rows = self._all(
            f"SELECT r.res_type, r.res_id, r.version_id, r.last_updated, r.deleted, r.{self.dialect.json_out}"
            f" FROM resource r WHERE {' AND '.join(conditions)}"
            " ORDER BY r.res_type || '/' || r.res_id LIMIT ?",
            [*args, limit],
        )
        return [StoredVersion(r[0], r[1], int(r[2]), r[3], bool(r[4]), r[5]) for r in rows]

    def count(self, res_type: str | None, where: str, params: Sequence[Any]) -> int:
        conditions, args = self._search_conditions(res_type, where, params)
        return int(self._one(f"SELECT COUNT(*) FROM resource r WHERE {' AND '.join(conditions)}", args)[0])

    def _search_conditions(
        self, res_type: str | None, where: str, params: Sequence[Any]
    ) -> tuple[list[str], list[Any]]:
        conditions = ["NOT r.deleted"]
        args: list[Any] = []
        if res_type is not None:
            conditions.append("r.res_type = ?")
            args.append(res_type)
        if where:
            conditions.append(f"({where})")
            args.extend(params)
        return conditions, args

    def changes_after(self, change_seq: int, limit: int) -> list[StoredVersion]:
        """The change feed: every committed version with a change number above `change_seq`."""
        rows = self._all(
            f"SELECT {self._version_columns} FROM resource_version WHERE change_seq > ? ORDER BY change_seq LIMIT ?",
            (change_seq, limit),
        )
        return [_version(r) for r in rows]

    def resource_types(self) -> list[str]:
        return [r[0] for r in self._all("SELECT DISTINCT res_type FROM resource WHERE NOT deleted ORDER BY res_type")]

    def count_current(self) -> int:
        return int(self._one("SELECT COUNT(*) FROM resource WHERE NOT deleted")[0])

    def last_change_seq(self) -> int:
        return int(self._one("SELECT last_seq FROM change_counter WHERE id = 1")[0])


class WriteSession(Session):
    """One write transaction: current rows and index rows are written as the work goes; the
    versions get their change numbers and go into resource_version at `finish`, as the last step."""

    def __init__(self, conn: Connection, dialect: Dialect, node_id: str) -> None:
        super().__init__(conn, dialect)
        self.node_id = node_id
        self.pending: list[PendingVersion] = []

    def read_for_update(self, res_type: str, res_id: str) -> StoredVersion | None:
        row = self._one(
            f"SELECT version_id, last_updated, deleted, {self.dialect.json_out} FROM resource"
            f" WHERE res_type = ? AND res_id = ?{self.dialect.for_update}",
            (res_type, res_id),
        )
        if row is None:
            return None
        return StoredVersion(res_type, res_id, int(row[0]), row[1], bool(row[2]), row[3])

    def lock(self, key: str) -> None:
        """Serialise writers that decide on the same key (conditional create); a no-op where the
        backend already has a single writer."""

    def put(self, version: PendingVersion, index: IndexEntries | None, *, replaces: bool) -> None:
        d = self.dialect
        self.conn.execute(
            d.sql(
                "INSERT INTO resource (res_type, res_id, version_id, last_updated, deleted, content)"
                f" VALUES (?, ?, ?, ?, ?, {d.json_in})"
                " ON CONFLICT (res_type, res_id) DO UPDATE SET version_id = excluded.version_id,"
                " last_updated = excluded.last_updated, deleted = excluded.deleted, content = excluded.content"
            ),
            (
                version.res_type,
                version.res_id,
                version.version_id,
                version.last_updated,
                version.deleted,
                version.content,
            ),
        )
        if replaces:
            for table in INDEX_TABLES:
                self.conn.execute(
                    d.sql(f"DELETE FROM {table} WHERE res_type = ? AND res_id = ?"), (version.res_type, version.res_id)
                )
        if index is not None:
            self._insert_index(version.res_type, version.res_id, index)
        self.pending.append(version)

    def _insert_index(self, res_type: str, res_id: str, index: IndexEntries) -> None:
        owner = (res_type, res_id)
        tables: Iterable[tuple[str, list[Any]]] = (
            ("search_string", [(*owner, e.param, e.normalized, e.exact) for e in index.strings]),
            ("search_token", [(*owner, e.param, e.system, e.code, e.text) for e in index.tokens]),
            ("search_date", [(*owner, e.param, e.low, e.high) for e in index.dates]),
            ("search_number", [(*owner, e.param, e.value, e.low, e.high) for e in index.numbers]),
            (
                "search_quantity",
                [(*owner, e.param, e.value, e.low, e.high, e.system, e.code, e.unit) for e in index.quantities],
            ),
            ("search_reference", [(*owner, e.param, e.target_type, e.target_id, e.url) for e in index.references]),
            ("search_uri", [(*owner, e.param, e.value) for e in index.uris]),
        )
        cursor = self._cursor()
        for table, rows in tables:
            if rows:
                marks = ", ".join("?" * len(rows[0]))
                cursor.executemany(self.dialect.sql(f"INSERT INTO {table} VALUES ({marks})"), rows)

    def _cursor(self) -> Any:
        return self.conn.cursor()  # type: ignore[attr-defined]

    def finish(self) -> list[StoredVersion]:
        """Number the transaction's versions and append them to resource_version.

        Taking the counter row's lock is the last thing a transaction does before commit, so the
        next writer waits for this commit: numbers are gap-free and become visible in order."""
        if not self.pending:
            return []
        d = self.dialect
        row = self._one(
            "UPDATE change_counter SET last_seq = last_seq + ? WHERE id = 1 RETURNING last_seq", (len(self.pending),)
        )
        first = int(row[0]) - len(self.pending) + 1
        stored = [
            StoredVersion(
                p.res_type,
                p.res_id,
                p.version_id,
                p.last_updated,
                p.deleted,
                p.content,
                first + i,
                p.method,
                self.node_id,
            )
            for i, p in enumerate(self.pending)
        ]
        self._cursor().executemany(
            d.sql(
                "INSERT INTO resource_version (change_seq, res_type, res_id, version_id, last_updated, deleted,"
                f" method, node_id, content) VALUES (?, ?, ?, ?, ?, ?, ?, ?, {d.json_in})"
            ),
            [
                (
                    s.change_seq,
                    s.res_type,
                    s.res_id,
                    s.version_id,
                    s.last_updated,
                    s.deleted,
                    s.method,
                    s.node_id,
                    s.content,
                )
                for s in stored
            ],
        )
        return stored


def _scope(res_type: str | None, res_id: str | None, alias: str) -> tuple[list[str], list[Any]]:
    where: list[str] = []
    params: list[Any] = []
    if res_type is not None:
        where.append(f"{alias}.res_type = ?")
        params.append(res_type)
    if res_id is not None:
        where.append(f"{alias}.res_id = ?")
        params.append(res_id)
    return where, params


def _version(row: Any) -> StoredVersion:
    return StoredVersion(row[0], row[1], int(row[2]), row[3], bool(row[4]), row[5], int(row[6]), row[7], row[8])
