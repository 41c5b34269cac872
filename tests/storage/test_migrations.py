"""Migrations: applied once, recorded, and re-running them keeps the data."""

from __future__ import annotations

import pytest

from lifeline.storage import open_repository
from lifeline.storage.migrate import _statements
from lifeline.storage.migrations import MIGRATIONS
from lifeline.storage.records import PendingVersion
from tests.conftest import BACKENDS, database_url, dispose, fresh_repository


@pytest.mark.parametrize("backend", BACKENDS)
def test_upgrade_is_idempotent_and_keeps_data(backend, tmp_path):
    repo = fresh_repository(backend, tmp_path)
    try:
        assert repo.pending_migrations() == []

        def work(session):
            session.put(
                PendingVersion(
                    "Basic", "keep", 1, "2026-11-22T08:00:00.000Z", False, '{"resourceType":"Basic","id":"keep"}', "PUT"
                ),
                None,
                replaces=False,
            )

        repo.write(work)
        assert repo.migrate() == []
        assert repo.read("Basic", "keep") is not None
    finally:
        dispose(repo)


def test_a_new_database_has_every_migration_pending(tmp_path):
    repo = open_repository(database_url("sqlite", tmp_path))
    try:
        assert repo.pending_migrations() == [m.version for m in MIGRATIONS]
        assert repo.migrate() == [m.version for m in MIGRATIONS]
        assert repo.pending_migrations() == []
    finally:
        repo.close()


def test_a_function_body_is_one_statement_however_many_semicolons_it_holds():
    script = (
        "CREATE TABLE a (x INT);\n"
        "CREATE FUNCTION f() RETURNS INT LANGUAGE plpgsql AS $$ BEGIN PERFORM 1; RETURN 2; END $$;\n"
        "CREATE TABLE b (y INT);"
    )
    assert _statements(script) == [
        "CREATE TABLE a (x INT)",
        "CREATE FUNCTION f() RETURNS INT LANGUAGE plpgsql AS $$ BEGIN PERFORM 1; RETURN 2; END $$",
        "CREATE TABLE b (y INT)",
    ]
    assert _statements("a; ;b;") == ["a", "b"]
