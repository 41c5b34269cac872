"""A real index database for the query tests: the migrations' tables, filled by extract_index.

The same helper drives SQLite (in memory) and PostgreSQL (a fresh schema per use, dropped after),
so the matching table runs unchanged against both.
"""

from __future__ import annotations

import os
import sqlite3
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any
from unittest import mock

import pytest

from lifeline.clock import fhir_instant
from lifeline.search.extract import extract_index
from lifeline.search.query import compile_match, driver, parse_query
from lifeline.search.registry import SearchRegistry, default_registry
from lifeline.storage.dialect import POSTGRES, SQLITE
from lifeline.storage.matching import Match, source
from lifeline.storage.migrations import MIGRATIONS
from lifeline.storage.write_session import index_rows

PG_URL = os.environ.get("LIFELINE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


def all_migrations(dialect: Any) -> str:
    """Every migration's script, in order."""
    return ";\n".join(dialect.schema(m.sql) for m in MIGRATIONS)


def search_cases(cases: list[tuple[str, list[tuple[str, str]], set[str]]]) -> pytest.MarkDecorator:
    """A test parametrized by (resource type, [(name, value), …], expected ids), each case named
    by its query (`Patient?name=x`)."""
    return pytest.mark.parametrize(
        ("resource_type", "params", "expected"),
        cases,
        ids=[f"{t}?{'&'.join(f'{k}={v}' for k, v in p)}" for t, p, _ in cases],
    )


class IndexDatabase:
    """Resources and their index rows in a DB-API connection using `?` or `%s` placeholders."""

    def __init__(self, connection: Any, placeholder: str, registry: SearchRegistry | None = None) -> None:
        self.connection = connection
        self.placeholder = placeholder
        self.registry = registry or default_registry()

    def sql(self, text: str) -> str:
        return text if self.placeholder == "?" else text.replace("?", self.placeholder)

    def execute(self, text: str, args: Iterable[object] = ()) -> list[tuple[Any, ...]]:
        cursor = self.connection.cursor()
        cursor.execute(self.sql(text), tuple(args))
        rows = cursor.fetchall() if cursor.description else []
        cursor.close()
        return rows

    def insert(self, resource: dict[str, Any]) -> None:
        res_type, res_id = resource["resourceType"], resource["id"]
        # As the server stores it: an instant in UTC at millisecond precision (clock.fhir_instant),
        # whose text `_lastUpdated` is matched on.
        last_updated = fhir_instant(
            datetime.fromisoformat(resource.get("meta", {}).get("lastUpdated", "2024-01-01T00:00:00Z"))
        )
        self.execute(
            "INSERT INTO resource (res_type, res_id, version_id, last_updated, deleted, content)"
            " VALUES (?, ?, 1, ?, ?, NULL)",
            (res_type, res_id, last_updated, False),
        )
        # The rows the write path stores, in table column order.
        for table, rows in index_rows((res_type, res_id), extract_index(resource, self.registry)):
            for row in rows:
                self.execute(f"INSERT INTO {table} VALUES ({', '.join('?' for _ in row)})", row)

    def search(
        self, resource_type: str, params: list[tuple[str, str]], now: datetime | None = None, *, from_index: bool = True
    ) -> set[str]:
        """The ids a search finds, read as the storage layer reads them (lifeline.storage.matching):
        from the driving clause's index rows, or, `from_index=False`, from `resource` with the
        driving clause as a condition."""
        clauses, unknown = parse_query(resource_type, params, self.registry)
        assert not unknown, unknown
        match = compile_match(resource_type, clauses, self.registry, now=now)
        if not from_index:
            where, args = match.condition(resource_type)
            match = Match(where, tuple(args))
        rows_sql, args = source(resource_type, match)
        assert "%" not in rows_sql, "literal % would break psycopg's placeholders"
        return {row[0] for row in self.execute(f"SELECT r.res_id FROM {rows_sql}", args)}

    def search_every_way(
        self, resource_type: str, params: list[tuple[str, str]], now: datetime | None = None
    ) -> set[str]:
        """The ids a search finds, once it is checked that the same search finds the same read
        from `resource` with its driving clause as a condition, and with no clause driving the
        query (every clause an EXISTS, see lifeline.search.query.driver)."""
        driven = self.search(resource_type, params, now)
        assert self.search(resource_type, params, now, from_index=False) == driven
        with mock.patch.object(driver, "rank", lambda *_: None):
            assert self.search(resource_type, params, now) == driven
        return driven


@contextmanager
def sqlite_database(registry: SearchRegistry | None = None) -> Iterator[IndexDatabase]:
    connection = sqlite3.connect(":memory:")
    connection.executescript(all_migrations(SQLITE))
    try:
        yield IndexDatabase(connection, "?", registry)
    finally:
        connection.close()


def postgres_reachable() -> bool:
    import psycopg

    try:
        with psycopg.connect(PG_URL, connect_timeout=3):
            return True
    except psycopg.Error:
        return False


@contextmanager
def postgres_database(registry: SearchRegistry | None = None) -> Iterator[IndexDatabase]:
    import psycopg

    schema = f"s_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(PG_URL, autocommit=True) as connection:
        connection.execute(f"CREATE SCHEMA {schema}")
        try:
            connection.execute(f"SET search_path TO {schema}")
            connection.execute(all_migrations(POSTGRES))
            yield IndexDatabase(connection, "%s", registry)
        finally:
            connection.execute(f"DROP SCHEMA {schema} CASCADE")


@contextmanager
def filled_database(backend: str, resources: Iterable[dict[str, Any]]) -> Iterator[IndexDatabase]:
    """A database of the backend holding the resources; PostgreSQL skips when not reachable (not in CI)."""
    if backend == "sqlite":
        context = sqlite_database()
    else:
        if not postgres_reachable():
            if os.environ.get("CI") == "true":
                pytest.fail("PostgreSQL is required in CI")
            pytest.skip("PostgreSQL not reachable")
        context = postgres_database()
    with context as db:
        for resource in resources:
            db.insert(resource)
        yield db
