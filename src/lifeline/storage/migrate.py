"""Applying the migrations of lifeline.storage.migrations over any DB-API connection."""

from __future__ import annotations

from typing import Any

from lifeline.clock import Clock, system_clock
from lifeline.storage.dialect import Dialect
from lifeline.storage.migrations import MIGRATIONS

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


def apply_pending(conn: Any, dialect: Dialect, *, clock: Clock = system_clock) -> list[int]:
    """Apply every migration not yet recorded; the caller holds a transaction and a lock."""
    done = applied_versions(conn, dialect)
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
