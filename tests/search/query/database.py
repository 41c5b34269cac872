"""A real index database for the query tests: the migration's tables, filled by extract_index.

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

from lifeline.search.extract import extract_index
from lifeline.search.query import compile_where, parse_query
from lifeline.search.registry import SearchRegistry, default_registry
from lifeline.storage.dialect import POSTGRES, SQLITE
from lifeline.storage.migrations import MIGRATIONS

PG_URL = os.environ.get("LIFELINE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")

_COLUMNS = {
    "search_string": ("strings", ("normalized", "exact")),
    "search_token": ("tokens", ("system", "code", "text")),
    "search_date": ("dates", ("low", "high")),
    "search_number": ("numbers", ("value", "low", "high")),
    "search_quantity": ("quantities", ("value", "low", "high", "system", "code", "unit")),
    "search_reference": ("references", ("target_type", "target_id", "url")),
    "search_uri": ("uris", ("value",)),
}


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
        last_updated = resource.get("meta", {}).get("lastUpdated", "2024-01-01T00:00:00Z")
        self.execute(
            "INSERT INTO resource (res_type, res_id, version_id, last_updated, deleted, content)"
            " VALUES (?, ?, 1, ?, ?, NULL)",
            (res_type, res_id, last_updated, False),
        )
        entries = extract_index(resource, self.registry)
        for table, (attribute, columns) in _COLUMNS.items():
            marks = ", ".join("?" for _ in range(3 + len(columns)))
            for entry in getattr(entries, attribute):
                values = [getattr(entry, c) for c in columns]
                self.execute(
                    f"INSERT INTO {table} (res_type, res_id, param, {', '.join(columns)}) VALUES ({marks})",
                    (res_type, res_id, entry.param, *values),
                )

    def search(self, resource_type: str, params: list[tuple[str, str]], now: datetime | None = None) -> set[str]:
        clauses, unknown = parse_query(resource_type, params, self.registry)
        assert not unknown, unknown
        where, args = compile_where(resource_type, clauses, self.registry, now=now)
        assert "%" not in where, "literal % would break psycopg's placeholders"
        rows = self.execute(
            f"SELECT r.res_id FROM resource r WHERE r.res_type = ? AND NOT r.deleted AND ({where})",
            [resource_type, *args],
        )
        return {row[0] for row in rows}


@contextmanager
def sqlite_database(registry: SearchRegistry | None = None) -> Iterator[IndexDatabase]:
    connection = sqlite3.connect(":memory:")
    connection.executescript(SQLITE.schema(MIGRATIONS[0].sql))
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
            connection.execute(POSTGRES.schema(MIGRATIONS[0].sql))
            yield IndexDatabase(connection, "%s", registry)
        finally:
            connection.execute(f"DROP SCHEMA {schema} CASCADE")
