"""Storage: one repository interface (repository.py) with SQLite and PostgreSQL backends."""

from __future__ import annotations

from urllib.parse import urlsplit

from lifeline.errors import StorageUnavailable
from lifeline.storage.repository import Repository


def open_repository(
    url: str, *, node_id: str = "central", statement_timeout_ms: int = 30000, replica_url: str = ""
) -> Repository:
    """Open the database a URL names: sqlite:///relative/path, sqlite:////absolute/path or postgresql://...;
    every statement on it is stopped after `statement_timeout_ms` (TooCostly; 0: never), but the
    schema's own work (migrations, index builds). `replica_url`: a PostgreSQL streaming replica of
    it for the reads of requests that only read (storage/postgres.py)."""
    scheme = urlsplit(url).scheme
    if scheme == "sqlite":
        from lifeline.storage.sqlite import SQLiteRepository

        path = url[len("sqlite:///") :] if url.startswith("sqlite:///") else ""
        if not path:
            raise StorageUnavailable(f"bad SQLite database URL {url!r}: expected sqlite:///path/to/file.db")
        if replica_url:
            raise StorageUnavailable("a read replica (LIFELINE_DB_REPLICA) needs a PostgreSQL database")
        return SQLiteRepository(url, path, node_id=node_id, statement_timeout_ms=statement_timeout_ms)
    if scheme in ("postgresql", "postgres", "postgresql+psycopg"):
        from lifeline.storage.postgres import PostgresRepository

        return PostgresRepository(
            url, node_id=node_id, statement_timeout_ms=statement_timeout_ms, replica_url=replica_url
        )
    raise StorageUnavailable(f"bad database URL {url!r}: expected sqlite:///PATH or postgresql://USER@HOST/DB")
