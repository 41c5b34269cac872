"""Rows in PostgreSQL's COPY text format, made where there is CPU to spare.

psycopg's `Copy.write_row` formats each value in Python, about 4 microseconds a row; an import
writes a dozen index rows a resource, and did so in the one process that also waits on the
database. The import's worker processes encode their rows here instead, and the writer only
joins and sends the text. https://www.postgresql.org/docs/current/sql-copy.html#id-1.9.3.55.9.2
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

_ESCAPES = str.maketrans({"\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"})


def encode_value(value: Any) -> str:
    if value is None:
        return "\\N"
    if value is True:
        return "t"
    if value is False:
        return "f"
    if isinstance(value, str):
        return (
            value.translate(_ESCAPES) if ("\\" in value or "\n" in value or "\r" in value or "\t" in value) else value
        )
    if isinstance(value, float):
        return repr(value)  # 'inf', 'nan' and '1e-05' are all read back exactly by float8in
    if isinstance(value, int):
        return str(value)
    raise TypeError(f"cannot COPY a {type(value).__name__}")


def encode_rows(rows: Iterable[tuple[Any, ...]]) -> str:
    """The lines of `rows`, each ending in a newline."""
    return "".join("\t".join([encode_value(v) for v in row]) + "\n" for row in rows)
