"""Migrations never drop data: most only add, and one that builds a table again in a new shape
(Migration.rewrites) drops it only after copying every row of it."""

from __future__ import annotations

import re

from lifeline.storage.migrations import MIGRATIONS

DESTRUCTIVE = re.compile(r"\b(DROP\s+(TABLE|COLUMN|SCHEMA)|TRUNCATE|DELETE\s+FROM)\b", re.IGNORECASE)


def test_no_migration_drops_data() -> None:
    for migration in MIGRATIONS:
        for script in (migration.sql, migration.postgresql, migration.sqlite):
            if migration.rewrites:
                _check_rewrite(migration.version, script)
            else:
                assert not DESTRUCTIVE.search(script), f"migration {migration.version} would drop data"


def _check_rewrite(version: int, script: str) -> None:
    """Each table dropped was copied whole just before (an INSERT … SELECT of all its rows into its
    new shape, joined only to the numbering every row has), and only forgotten index builds are deleted."""
    statements = [s.strip() for s in script.split(";") if s.strip()]
    for i, statement in enumerate(statements):
        if not DESTRUCTIVE.search(statement):
            continue
        dropped = re.fullmatch(r"DROP TABLE (\w+)", statement)
        if dropped is None:
            assert re.fullmatch(r"DELETE FROM deferred_index WHERE name (IN \(.*\)|= '\w+')", statement), (
                f"migration {version} would delete data: {statement}"
            )
            continue
        table = dropped.group(1)
        copy = statements[i - 1]
        assert copy.startswith(f"INSERT INTO {table}_numbered SELECT ") and f" FROM {table} s JOIN " in copy, (
            f"migration {version} drops {table} without copying it first"
        )
        assert "WHERE" not in copy, f"migration {version} copies only some rows of {table}"


def test_versions_are_consecutive() -> None:
    assert [m.version for m in MIGRATIONS] == list(range(1, len(MIGRATIONS) + 1))
