"""Applying the migrations of lifeline.storage.migrations over any DB-API connection."""

from __future__ import annotations

from typing import Any

from lifeline.clock import Clock, system_clock
from lifeline.config import SettingError
from lifeline.storage.dialect import Dialect
from lifeline.storage.migrations import MIGRATIONS, Migration

_LEDGER = (
    "CREATE TABLE IF NOT EXISTS schema_migration"
    " (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
)


def applied_versions(conn: Any, dialect: Dialect) -> set[int]:
    conn.execute(_LEDGER)
    return {int(r[0]) for r in conn.execute("SELECT version FROM schema_migration").fetchall()}


def pending(conn: Any, dialect: Dialect) -> list[int]:
    done = applied_versions(conn, dialect)
    return [m.version for m in MIGRATIONS if m.version not in done]


def apply_pending(conn: Any, dialect: Dialect, *, clock: Clock = system_clock, rewrites: bool = True) -> list[int]:
    """Apply every migration not yet recorded; the caller holds a transaction and a lock.

    Without `rewrites` (a serving process's start), a migration that builds record tables again
    in a shape older code cannot write (Migration.rewrites) is refused with SettingError on a
    database holding resources: older processes may still be serving it, and it is for the
    operator to stop them and run `lifeline db upgrade`. An empty database takes it at once."""
    done = applied_versions(conn, dialect)
    if not rewrites:
        _check_no_rewrite(conn, [m for m in MIGRATIONS if m.version not in done])
    applied: list[int] = []
    for migration in MIGRATIONS:
        if migration.version in done:
            continue
        script = dialect.schema(migration.sql)
        if dialect.name == "postgresql" and migration.postgresql:
            script += ";\n" + migration.postgresql
        if dialect.name == "sqlite" and migration.sqlite:
            script += ";\n" + migration.sqlite
        for statement in _statements(script):
            conn.execute(statement)
        conn.execute(
            dialect.sql("INSERT INTO schema_migration (version, name, applied_at) VALUES (?, ?, ?)"),
            (migration.version, migration.name, clock().isoformat()),
        )
        applied.append(migration.version)
    return applied


def _check_no_rewrite(conn: Any, pending: list[Migration]) -> None:
    rewriting = [m for m in pending if m.rewrites]
    if not rewriting or 1 in {m.version for m in pending}:
        return  # nothing rebuilt, or a database without tables yet
    if conn.execute("SELECT 1 FROM resource LIMIT 1").fetchone() is None:
        return
    names = ", ".join(f"{m.version} ({m.name})" for m in rewriting)
    raise SettingError(
        f"migration {names} builds the record tables again in a shape older versions cannot write:"
        " stop every process of this database, then run `lifeline db upgrade`"
    )


def _statements(script: str) -> list[str]:
    """The script's statements, split at semicolons outside a `$$`-quoted function body."""
    statements: list[str] = []
    for i, part in enumerate(script.split("$$")):
        if i % 2:  # inside a $$ body: it belongs to the statement being built
            statements[-1] += f"$${part}$$"
            continue
        pieces = part.split(";")
        if statements and i:
            statements[-1] += pieces.pop(0)
        statements.extend(pieces)
    return [s.strip() for s in statements if s.strip()]
