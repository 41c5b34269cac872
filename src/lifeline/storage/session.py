"""The SQL both backends share for reading: current rows, versions, history, search, the change feed.

A `Session` reads; a `WriteSession` (write_session.py) is one write transaction. Backends only
differ in how they hand out connections and in their `Dialect`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from lifeline.storage import param_numbers
from lifeline.storage.access_reads import AccessReads
from lifeline.storage.affected_reads import AffectedReads
from lifeline.storage.audit_reads import AuditReads
from lifeline.storage.dialect import Dialect
from lifeline.storage.downtime_rows import DowntimeRows
from lifeline.storage.export_rows import ExportRows
from lifeline.storage.incident_rows import IncidentRows
from lifeline.storage.index_rows import NO_DATE
from lifeline.storage.matching import Match, dated_source, fhir_types_only, source
from lifeline.storage.migrations import MIGRATIONS
from lifeline.storage.ordering import Page, SortExpression, newest_first_query, ordered_query
from lifeline.storage.packing import unpack
from lifeline.storage.reading import Connection, keys_condition
from lifeline.storage.records import StoredVersion
from lifeline.storage.replication_reads import ReplicationReads

# A version's row; its content is in `resource` while it is the current version (each version's
# JSON is stored once: write_session.py), hence the join, which finds the current row only then.
_VERSION_COLUMNS = (
    "v.res_type, v.res_id, v.version_id, v.last_updated, v.deleted, {content}, v.change_seq, v.method,"
    " v.node_id, v.write_id"
)
_VERSIONS = (
    "resource_version v LEFT JOIN resource cur"
    " ON v.content IS NULL AND cur.res_type = v.res_type AND cur.res_id = v.res_id AND cur.version_id = v.version_id"
)


# The columns of a current row, named so that an enclosing query can order by them.
_ROW_SELECT = (
    "r.res_type AS res_type, r.res_id AS res_id, r.version_id AS version_id,"
    " r.last_updated AS last_updated, r.deleted AS deleted, r.{content} AS content"
)


def _newest_first(res_type: str | None, match: Match, order: Sequence[SortExpression]) -> bool:
    """Whether the page can be read from search_subject_code's index: a subject's resources of one
    coding, newest first (`_sort=-date`; lifeline.storage.ordering.newest_first_query)."""
    return (
        match.dated is not None
        and match.dated.res_type == res_type
        and len(order) == 1
        and order[0].param == "date"
        and order[0].descending
    )


class Session(AccessReads, AffectedReads, AuditReads, DowntimeRows, ExportRows, IncidentRows, ReplicationReads):
    """Reads over one connection; inside a write transaction it sees the transaction's own writes.

    The reads of resources are here; those the access rule, the audit trail and replication
    need are grouped in access_reads.py, audit_reads.py and replication_reads.py. Only storage
    runs SQL (`_all`/`_one`, reading.py): other modules call a named method (issue 20)."""

    def __init__(self, conn: Connection, dialect: Dialect) -> None:
        super().__init__(conn, dialect)
        self._version_columns = _VERSION_COLUMNS.format(
            content=dialect.json_out.replace("content", "COALESCE(v.content, cur.content)")
        )

    def migrations_missing(self) -> list[int]:
        """The versions of storage/migrations.py not in the schema's ledger (storage/migrate.py)."""
        done = {int(row[0]) for row in self._all("SELECT version FROM schema_migration")}
        return [m.version for m in MIGRATIONS if m.version not in done]

    def read(self, res_type: str, res_id: str) -> StoredVersion | None:
        row = self._one(read_sql(self.dialect), (res_type, res_id))
        return None if row is None else current_from_row(row)

    def vread(self, res_type: str, res_id: str, version_id: int) -> StoredVersion | None:
        row = self._one(
            f"SELECT {self._version_columns} FROM {_VERSIONS}"
            " WHERE v.res_type = ? AND v.res_id = ? AND v.version_id = ?",
            (res_type, res_id, version_id),
        )
        return version_from_row(row) if row else None

    def exists_any_version(self, res_type: str, res_id: str) -> bool:
        return self._one("SELECT 1 FROM resource WHERE res_type = ? AND res_id = ?", (res_type, res_id)) is not None

    def history(
        self,
        res_type: str | None,
        res_id: str | None,
        *,
        since: str | None,
        at: str | None,
        before: int | None,
        limit: int,
        visible: tuple[str, Sequence[Any]] | None = None,
        types: Sequence[str] | None = None,
    ) -> list[StoredVersion]:
        """Versions newest first (by write_id), for one resource, one type or the system; `before`
        is the write_id the previous page ended at; `visible` (SQL over `resource r`, and its
        args) keeps the versions of resources whose current row it accepts; `types` keeps a
        system-wide history to those types (`_type`)."""
        where, params = _scope(res_type, res_id, "v", visible, types)
        if since is not None:
            where.append("v.last_updated >= ?")
            params.append(since)
        if before is not None:
            where.append("v.write_id < ?")
            params.append(before)
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
        rows = self._all(
            f"SELECT {self._version_columns} FROM {_VERSIONS}{clause} ORDER BY v.write_id DESC LIMIT ?",
            [*params, limit],
        )
        return [version_from_row(r) for r in rows]

    def count_history(
        self,
        res_type: str | None,
        res_id: str | None,
        since: str | None,
        visible: tuple[str, Sequence[Any]] | None = None,
        types: Sequence[str] | None = None,
    ) -> int:
        where, params = _scope(res_type, res_id, "v", visible, types)
        if since is not None:
            where.append("v.last_updated >= ?")
            params.append(since)
        clause = " WHERE " + " AND ".join(where) if where else ""
        return int(self._one(f"SELECT COUNT(*) FROM resource_version v{clause}", params)[0])

    def search(self, res_type: str | None, match: Match, *, after_key: str | None, limit: int) -> list[StoredVersion]:
        """Current, non-deleted resources that `match` matches, ordered by type and id;
        `after_key` ("Type/id") is where the previous page ended."""
        after = after_key.split("/", 1) if after_key is not None else None
        rows, _ = self.search_page(res_type, match, (), Page(after=after, limit=limit))
        return [v for v, _ in rows]

    def search_page(
        self,
        res_type: str | None,
        match: Match,
        order: Sequence[SortExpression],
        page: Page,
        *,
        with_total: bool = False,
    ) -> tuple[list[tuple[StoredVersion, list[Any]]], int | None]:
        """One page of current, non-deleted resources that `match` matches, in the order of the
        sort keys then type and id, each with its position (sort values, type, id) for a cursor;
        and, `with_total`, the number of all matches, from the same snapshot."""
        select = _ROW_SELECT.format(content=self.dialect.json_out)
        if _newest_first(res_type, match, order):
            rows_sql, args, alias = dated_source(match)
            query = newest_first_query(select, rows_sql, args, alias, page, counted=with_total, none=NO_DATE)
        else:
            rows_sql, args = source(res_type, match, [key.sql for key in order])
            query = ordered_query(
                select, rows_sql, args, order, page, fixed_type=res_type is not None, counted=with_total
            )
        rows = self._all(query.sql, query.args)
        if page.backwards:
            rows.reverse()
        total: int | None = None
        if with_total:
            # Every row carries the total; an empty page carries none, and only a first page
            # being empty says there are no matches at all.
            if rows:
                total = int(rows[0][-1])
            elif page.after is None and page.before is None:
                total = 0
            else:
                total = int(self._one(f"SELECT COUNT(*) FROM {rows_sql}", args)[0])
        return [(current_from_row(r), [*r[6 : 6 + query.keys], r[0], r[1]]) for r in rows], total

    def keys_where(self, keys: Sequence[tuple[str, str]], where: str, params: Sequence[Any]) -> set[tuple[str, str]]:
        """Those of `keys` whose current row matches `where` (over alias r): the access rule's
        filter of included resources."""
        found: set[tuple[str, str]] = set()
        for start in range(0, len(keys), 200):
            condition, args = keys_condition(keys[start : start + 200], "r.res_type", "r.res_id")
            rows = self._all(
                f"SELECT r.res_type, r.res_id FROM resource r WHERE {condition} AND ({where})", [*args, *params]
            )
            found.update((row[0], row[1]) for row in rows)
        return found

    def read_many(self, keys: Sequence[tuple[str, str]]) -> list[StoredVersion]:
        """The current, non-deleted resources among `keys` (in no particular order)."""
        found: list[StoredVersion] = []
        for start in range(0, len(keys), 200):
            condition, args = keys_condition(keys[start : start + 200], "res_type", "res_id")
            rows = self._all(
                f"SELECT {current_columns(self.dialect)} FROM resource WHERE NOT deleted AND {condition}", args
            )
            found += [current_from_row(r) for r in rows]
        return found

    def references_from(
        self, sources: Sequence[tuple[str, str]], params: Sequence[str] | None, target_type: str | None
    ) -> list[tuple[str, str]]:
        """The local resources (type, id) that `sources` point at through the reference
        parameters `params` (None: any), optionally only those of `target_type` (_include)."""
        found: set[tuple[str, str]] = set()
        for start in range(0, len(sources), 200):
            condition, args = keys_condition(sources[start : start + 200], "s.res_type", "s.res_id")
            sql = (
                f"SELECT s.target_type, s.target_id FROM search_reference s WHERE {condition}"
                " AND s.target_type IS NOT NULL AND s.target_id IS NOT NULL"
            )
            sql, args = _filter_reference(sql, args, params, target_type, {t for t, _ in sources})
            found.update((r[0], r[1]) for r in self._all(sql, args))
        return sorted(found)

    def references_to(
        self, targets: Sequence[tuple[str, str]], source_type: str, params: Sequence[str] | None
    ) -> list[tuple[str, str]]:
        """The resources of `source_type` that point at any of `targets` through the reference
        parameters `params` (None: any) (_revinclude)."""
        found: set[tuple[str, str]] = set()
        for start in range(0, len(targets), 200):
            condition, args = keys_condition(targets[start : start + 200], "s.target_type", "s.target_id")
            sql = f"SELECT s.res_type, s.res_id FROM search_reference s WHERE s.res_type = ? AND {condition}"
            sql, args = _filter_reference(sql, [source_type, *args], params, None, {source_type})
            found.update((r[0], r[1]) for r in self._all(sql, args))
        return sorted(found)

    def patients_referenced(
        self, resources: Mapping[str, tuple[Sequence[str], Sequence[str]]]
    ) -> list[tuple[str, str, str]]:
        """(res_type, res_id, patient id) of every reference to a Patient from the given resources
        through the given parameters, `{res_type: (ids, params)}`, in one query over the index
        rows' owner (the patients an answer names, fhir/accessed.py)."""
        parts: list[str] = []
        args: list[Any] = []
        for res_type, (ids, params) in resources.items():
            if ids and params:
                # `pid + 0`: the rows are found by their owner (type and ids), never by the
                # parameter. Given the parameter as an indexable column, SQLite chose the lookup
                # index (parameter, target) and read every Observation's subject row to find a
                # page's 50: 7-15 ms a search page against 0.3 on a 10-patient Synthea region.
                parts.append(
                    f"(s.res_type = ? AND s.res_id IN ({', '.join('?' for _ in ids)})"
                    f" AND s.pid + 0 IN ({', '.join('?' for _ in params)}))"
                )
                args += [res_type, *ids, *param_numbers.of((res_type, p) for p in params)]
        if not parts:
            return []
        rows = self._all(
            "SELECT s.res_type, s.res_id, s.target_id FROM search_reference s WHERE s.target_type = 'Patient'"
            f" AND s.target_id IS NOT NULL AND ({' OR '.join(parts)})",
            args,
        )
        return [(str(r[0]), str(r[1]), str(r[2])) for r in rows]

    def audit_outbox_waiting(self) -> bool:
        """Whether any write's audit record waits in the outbox for its place in a chain."""
        return self._one("SELECT 1 FROM audit_outbox LIMIT 1") is not None

    def audit_outbox_size(self, most: int = 100_000) -> int:
        """How many writes' audit records wait in the outbox (at most `most` counted): a queue
        length on /metrics, which stays near zero while the trail keeps up."""
        row = self._one(f"SELECT COUNT(*) FROM (SELECT 1 FROM audit_outbox LIMIT {int(most)}) AS waiting")
        return int(row[0]) if row is not None else 0

    def count(self, res_type: str | None, match: Match) -> int:
        rows_sql, args = source(res_type, match)
        return int(self._one(f"SELECT COUNT(*) FROM {rows_sql}", args)[0])

    def changes_after(self, change_seq: int, limit: int) -> list[StoredVersion]:
        """The change feed: every numbered version with a change number above `change_seq`.

        Call it through Repository.changes_after, which numbers what has committed first."""
        rows = self._all(
            f"SELECT {self._version_columns} FROM {_VERSIONS} WHERE v.change_seq > ? ORDER BY v.change_seq LIMIT ?",
            (change_seq, limit),
        )
        return [version_from_row(r) for r in rows]

    def resource_types(self) -> list[str]:
        rows = self._all(
            f"SELECT DISTINCT res_type FROM resource r WHERE NOT deleted AND {fhir_types_only('r')} ORDER BY res_type"
        )
        return [r[0] for r in rows]

    def state(self, name: str, now: int) -> str | None:
        """A node-local value (identity/state.py), unless it has expired."""
        row = self._one(
            "SELECT value FROM node_state WHERE name = ? AND (expires_at IS NULL OR expires_at > ?)", (name, now)
        )
        return None if row is None else str(row[0])

    def has_resources(self) -> bool:
        """Whether anything was ever written (deleted resources count)."""
        return self._one("SELECT 1 FROM resource LIMIT 1") is not None

    def count_stored(self) -> int:
        """Every resource's row: deleted ones and Lifeline's own records too."""
        return int(self._one("SELECT COUNT(*) FROM resource")[0])

    def count_current(self) -> int:
        return int(self._one(f"SELECT COUNT(*) FROM resource r WHERE NOT deleted AND {fhir_types_only('r')}")[0])

    def last_change_seq(self) -> int:
        return int(self._one("SELECT last_seq FROM change_counter WHERE id = 1")[0])

    def change_head(self) -> int:
        """The last change number once every committed version has one: the counter plus the
        versions still waiting for a number (PostgreSQL numbers after commit, storage/sequencing.py),
        in one statement and one snapshot, without the numbering round's write (issue 20)."""
        return int(
            self._one(
                "SELECT last_seq + (SELECT COUNT(*) FROM resource_version WHERE change_seq IS NULL)"
                " FROM change_counter WHERE id = 1"
            )[0]
        )

    def open_conflict_count(self) -> int:
        """How many conflicts wait for a clinician (fhir/conflicts.py), from the partial
        index of migration 13 alone: its condition is written here as it is there, in literals,
        so that both planners see the index fits."""
        if self.dialect.name == "postgresql":
            status = "content::jsonb->>'status'"
        else:
            status = "json_extract(content, '$.status')"
        sql = f"SELECT COUNT(*) FROM resource WHERE res_type = '_Conflict' AND {status} = 'open'"
        return int(self._one(sql)[0])


def _filter_reference(
    sql: str,
    args: list[Any],
    params: Sequence[str] | None,
    target_type: str | None,
    types: set[str],
) -> tuple[str, list[Any]]:
    """`sql` also requiring one of the reference parameters `params` (on those of `types` that
    have them) and the target type."""
    if params is not None:
        pairs = sorted((t, p) for t in types for p in params if param_numbers.has(t, p))
        which, numbers = param_numbers.condition("s", param_numbers.of(pairs))
        sql += f" AND {which}"
        args = [*args, *numbers]
    if target_type is not None:
        sql += " AND s.target_type = ?"
        args = [*args, target_type]
    return sql, args


def current_columns(dialect: Dialect, alias: str = "") -> str:
    """The columns of a current row, in the order current_from_row reads them."""
    prefix = f"{alias}." if alias else ""
    names = ("res_type", "res_id", "version_id", "last_updated", "deleted", dialect.json_out)
    return ", ".join(prefix + name for name in names)


def current_from_row(row: Any) -> StoredVersion:
    return StoredVersion(row[0], row[1], int(row[2]), row[3], bool(row[4]), unpack(row[5]))


def read_sql(dialect: Dialect) -> str:
    """A read by id: the hottest statement of the API (with `?` placeholders)."""
    return f"SELECT {current_columns(dialect)} FROM resource WHERE res_type = ? AND res_id = ?"


def _scope(
    res_type: str | None,
    res_id: str | None,
    alias: str,
    visible: tuple[str, Sequence[Any]] | None = None,
    types: Sequence[str] | None = None,
) -> tuple[list[str], list[Any]]:
    where: list[str] = []
    params: list[Any] = []
    if visible is not None:
        where.append(
            f"EXISTS (SELECT 1 FROM resource r WHERE r.res_type = {alias}.res_type AND r.res_id = {alias}.res_id"
            f" AND ({visible[0]}))"
        )
        params.extend(visible[1])
    if res_type is None:
        where.append(fhir_types_only(alias))
        if types is not None:
            where.append(f"{alias}.res_type IN ({', '.join('?' for _ in types)})" if types else "1 = 0")
            params.extend(types)
    else:
        where.append(f"{alias}.res_type = ?")
        params.append(res_type)
    if res_id is not None:
        where.append(f"{alias}.res_id = ?")
        params.append(res_id)
    return where, params


def version_from_row(row: Any) -> StoredVersion:
    seq = None if row[6] is None else int(row[6])
    return StoredVersion(
        row[0], row[1], int(row[2]), row[3], bool(row[4]), unpack(row[5]), seq, row[7], row[8], int(row[9])
    )
