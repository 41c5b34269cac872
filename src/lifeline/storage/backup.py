"""A node's database backed up and restored whole (issue 28, docs/operations.md "Backup and restore").

One file holds everything a node keeps in its database: every version of every resource, the
audit trail with its chain and checkpoints, users, keys, sessions, jobs. It is taken while the node
serves, as one consistent point in time, with each backend's own tool, never a hand-written copy:

- **SQLite**: the online backup API (`sqlite3.Connection.backup`), page by page from a read
  snapshot; the file is itself a SQLite database.
- **PostgreSQL**: `pg_dump --format=custom` of the node's schema (one snapshot, a
  REPEATABLE READ transaction), restored by `pg_restore` into an empty database. Several
  databases, a whole cluster or point-in-time recovery are PostgreSQL's own matter
  (`pg_basebackup` and WAL archiving, docs/operations.md).

A restore goes only into an empty place (a SQLite file that does not exist, a PostgreSQL schema
with no tables): it never merges into a living record. Afterwards `lifeline audit verify` checks
the restored trail's chain; the tests compare every resource version and the chain.
"""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from lifeline.errors import BadRequest, StorageUnavailable

SQLITE_MAGIC = b"SQLite format 3\x00"
PG_DUMP_MAGIC = b"PGDMP"
_PAGES = 1024  # SQLite pages copied per step of the online backup


@dataclass(frozen=True)
class Taken:
    """A backup written: where, how large, of which kind of database."""

    path: Path
    size: int
    backend: str


def backup(url: str, out: Path) -> Taken:
    """Back the database at `url` up into the new file `out` (refused if it exists)."""
    if out.exists():
        raise BadRequest(f"{out} exists already: a backup is written to a new file")
    out.parent.mkdir(parents=True, exist_ok=True)
    backend, target, schema = _where(url)
    if backend == "sqlite":
        if not Path(target).is_file():
            raise StorageUnavailable(f"there is no SQLite database at {target}")
        _sqlite_copy(Path(target), out)
    else:
        command = [_tool("pg_dump"), "--format=custom", "--no-owner", "--no-privileges", f"--file={out}"]
        command += [f"--schema={schema}"] if schema else []
        _run([*command, target], "pg_dump")
    return Taken(out, out.stat().st_size, backend)


def restore(source: Path, url: str) -> str:
    """Restore the backup file `source` into the empty database at `url`; the backend's name."""
    if not source.is_file():
        raise BadRequest(f"there is no backup file at {source}")
    with source.open("rb") as handle:
        head = handle.read(len(SQLITE_MAGIC))
    backend, target, schema = _where(url)
    if backend == "sqlite":
        if not head.startswith(SQLITE_MAGIC):
            raise BadRequest(f"{source} is no SQLite backup (a PostgreSQL one restores into PostgreSQL)")
        if Path(target).exists() and Path(target).stat().st_size > 0:
            raise BadRequest(f"{target} exists: a backup is restored into a new database file only")
        Path(target).parent.mkdir(parents=True, exist_ok=True)
        _sqlite_copy(source, Path(target))
        return backend
    if not head.startswith(PG_DUMP_MAGIC):
        raise BadRequest(f"{source} is no PostgreSQL backup (pg_dump --format=custom)")
    _require_empty(target, schema)
    _run([_tool("pg_restore"), "--no-owner", "--no-privileges", "--exit-on-error", f"--dbname={target}", str(source)],
         "pg_restore")  # fmt: skip
    return backend


def _sqlite_copy(source: Path, target: Path) -> None:
    """SQLite's online backup from `source` (opened read-only) into `target`: one consistent copy."""
    reading = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    try:
        written = sqlite3.connect(target)
        try:
            reading.backup(written, pages=_PAGES)
        finally:
            written.close()
    finally:
        reading.close()


def _where(url: str) -> tuple[str, str, str | None]:
    """(backend, the SQLite path or the libpq connection string, the PostgreSQL schema)."""
    parts = urlsplit(url)
    if parts.scheme == "sqlite":
        path = url[len("sqlite:///") :] if url.startswith("sqlite:///") else ""
        if not path:
            raise StorageUnavailable(f"bad SQLite database URL {url!r}: expected sqlite:///path/to/file.db")
        return "sqlite", path, None
    if parts.scheme not in ("postgresql", "postgres", "postgresql+psycopg"):
        raise StorageUnavailable(f"bad database URL {url!r}: expected sqlite:///PATH or postgresql://USER@HOST/DB")
    query = parse_qsl(parts.query)
    schema = next((v for k, v in query if k == "schema"), None)
    if schema is not None and not schema.replace("_", "").isalnum():
        raise StorageUnavailable(f"invalid schema name in database URL: {schema!r}")
    rest = urlencode([(k, v) for k, v in query if k != "schema"])
    return "postgresql", urlunsplit(("postgresql", parts.netloc, parts.path, rest, "")), schema


def _require_empty(conninfo: str, schema: str | None) -> None:
    import psycopg

    try:
        with psycopg.connect(conninfo, connect_timeout=10) as conn:
            row = conn.execute(
                "SELECT count(*) FROM information_schema.tables WHERE table_schema = %s", (schema or "public",)
            ).fetchone()
    except psycopg.Error as exc:
        raise StorageUnavailable(f"the database to restore into does not answer: {str(exc).splitlines()[0]}") from exc
    if row and row[0]:
        where = f"schema {schema!r}" if schema else "its public schema"
        raise BadRequest(f"the database to restore into holds tables in {where}: restore into an empty one")


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise StorageUnavailable(f"{name} is not installed (apt-get install -y postgresql-client)")
    return found


def _run(command: list[str], name: str) -> None:
    done = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603 - our own arguments
    if done.returncode != 0:
        said = (done.stderr or done.stdout).strip().splitlines()
        raise StorageUnavailable(f"{name} failed: {said[-1] if said else f'exit status {done.returncode}'}")
