"""A first load without index upkeep: drop the secondary indexes, load, build them again.

Every resource written keeps about thirty B-tree entries up to date (the lookup and owner
indexes of each search-index table, the history indexes). Inserted one at a time, in no order,
they cost the import more than everything else together; built at the end from the loaded rows,
by a sort, they cost a fraction. pg_restore loads a dump the same way.

Only indexes that enforce nothing are dropped (never a primary key or a UNIQUE constraint), so
the load writes exactly what it would have written with them. Their definitions are recorded in
`deferred_index` in the same transaction that drops them, so a load cut off half-way leaves a
note, not a slow database: the next `lifeline db upgrade` (every `serve` and `import` runs it)
builds them again.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from lifeline.storage.dialect import Dialect
from lifeline.storage.migrations import INDEX_TABLES

RECORD_TABLES = ("resource", "resource_version", *INDEX_TABLES)
MIGRATION = 4  # the migration that creates `deferred_index`


def secondary_indexes(conn: Any, dialect: Dialect) -> list[tuple[str, str]]:
    """(name, definition) of every index on the record tables that enforces nothing."""
    marks = ", ".join("?" * len(RECORD_TABLES))
    if dialect.name == "sqlite":
        # Indexes behind PRIMARY KEY and UNIQUE have no SQL of their own.
        sql = f"SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL AND tbl_name IN ({marks})"
    else:
        sql = (
            "SELECT i.relname, pg_get_indexdef(i.oid) FROM pg_index x"
            " JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid"
            f" WHERE t.relnamespace = current_schema()::regnamespace AND NOT x.indisunique AND t.relname IN ({marks})"
        )
    rows = conn.execute(dialect.sql(sql + " ORDER BY 1"), RECORD_TABLES).fetchall()
    return [(str(name), str(definition)) for name, definition in rows]


def defer(conn: Any, dialect: Dialect) -> int:
    """Record and drop the secondary indexes; the caller holds a transaction and the schema lock."""
    indexes = secondary_indexes(conn, dialect)
    for name, definition in indexes:
        conn.execute(dialect.sql("INSERT INTO deferred_index (name, definition) VALUES (?, ?)"), (name, definition))
        conn.execute(f'DROP INDEX "{name}"')
    return len(indexes)


def pending(conn: Any, dialect: Dialect) -> list[tuple[str, str]]:
    rows = conn.execute("SELECT name, definition FROM deferred_index ORDER BY name").fetchall()
    return [(str(name), str(definition)) for name, definition in rows]


def restore_one(conn: Any, dialect: Dialect, name: str, definition: str) -> None:
    """Build one recorded index and forget it, in the caller's transaction."""
    if dialect.name == "postgresql":
        # Sorting in memory rather than in temporary files: several times faster on a large load.
        conn.execute("SET LOCAL maintenance_work_mem = '512MB'")
    conn.execute(definition.replace("CREATE INDEX ", "CREATE INDEX IF NOT EXISTS ", 1))
    conn.execute(dialect.sql("DELETE FROM deferred_index WHERE name = ?"), (name,))


def restore(
    run: Callable[[Callable[[Any], None]], None],
    names: list[tuple[str, str]],
    dialect: Dialect,
    on_index: Callable[[str], None] = lambda name: None,
) -> None:
    """Build the recorded indexes one transaction each (`run` gives a connection in one), so that
    an interrupted rebuild keeps what it finished."""
    for name, definition in names:
        on_index(name)
        run(partial(restore_one, dialect=dialect, name=name, definition=definition))
