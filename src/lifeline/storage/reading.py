"""Where a read statement meets the driver: one connection, the backend's dialect.

`Session` (session.py) and the reads each part of Lifeline needs (access_reads.py,
audit_reads.py, replication_reads.py) are built on `Reader`. Its `_all`/`_one` are storage's
own: other modules ask a named question of a session (issue 20), so SQL execution and the
dialect stay here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from lifeline import cancel
from lifeline.errors import ClientGone
from lifeline.storage.dialect import Dialect


class Connection(Protocol):
    def execute(self, sql: str, params: Sequence[Any] = ...) -> Any: ...


class Reader:
    """Runs one statement, written with `?` placeholders, over one connection."""

    def __init__(self, conn: Connection, dialect: Dialect) -> None:
        self.conn = conn
        self.dialect = dialect

    def _all(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        _go_on()
        return list(self.conn.execute(self.dialect.sql(sql), params).fetchall())

    def _one(self, sql: str, params: Sequence[Any] = ()) -> Any:
        _go_on()
        return self.conn.execute(self.dialect.sql(sql), params).fetchone()


def _go_on() -> None:
    """No statement of a request whose client has gone starts (lifeline/cancel.py): its cancel
    stops the statement running then, and this the ones after. (A write session reads through
    its own `_one`/`_all`: a write is never stopped half way.)"""
    if cancel.fired():
        raise ClientGone(cancel.GONE)


def keys_condition(keys: Sequence[tuple[str, str]], type_column: str, id_column: str) -> tuple[str, list[Any]]:
    """SQL true for rows whose (type, id) is among `keys`, written per type as
    `type = ? AND id IN (…)`: SQLite does not use an index for a row-value IN over more than one
    VALUES row, and scans the whole table instead."""
    by_type: dict[str, list[str]] = {}
    for res_type, res_id in keys:
        by_type.setdefault(res_type, []).append(res_id)
    parts: list[str] = []
    args: list[Any] = []
    for res_type, ids in by_type.items():
        parts.append(f"({type_column} = ? AND {id_column} IN ({', '.join('?' for _ in ids)}))")
        args += [res_type, *ids]
    return ("(" + " OR ".join(parts) + ")" if parts else "1 = 0"), args


def marks(values: Sequence[Any]) -> str:
    """One `?` per value, for an IN list."""
    return ", ".join("?" for _ in values)
