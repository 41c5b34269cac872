"""Migrations only ever add: none may drop or truncate data."""

from __future__ import annotations

import re

from lifeline.storage.migrations import MIGRATIONS


def test_no_migration_drops_data() -> None:
    destructive = re.compile(r"\b(DROP\s+(TABLE|COLUMN|SCHEMA)|TRUNCATE|DELETE\s+FROM)\b", re.IGNORECASE)
    for migration in MIGRATIONS:
        for script in (migration.sql, migration.postgresql, migration.sqlite):
            assert not destructive.search(script), f"migration {migration.version} would drop data"


def test_versions_are_consecutive() -> None:
    assert [m.version for m in MIGRATIONS] == list(range(1, len(MIGRATIONS) + 1))
