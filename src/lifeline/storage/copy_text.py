"""Rows in PostgreSQL's COPY text format, made where there is CPU to spare.

An import writes a dozen index rows a resource. Its worker processes turn them into COPY text
here, and the writer only joins the bytes and sends them; the writer turns its own resource and
version rows into COPY text here too. The formatting is psycopg's own, in its C extension
(`format_row_text`, what `Copy.write_row` calls for each row), called without a connection: about
half the time of formatting each value in Python, as this module did before, and the same text
`Copy.write_row` would send. https://www.postgresql.org/docs/current/sql-copy.html#id-1.9.3.55.9.2
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any

from psycopg import adapt

# Not exported by psycopg: the function its Copy objects format rows with (C where psycopg's
# binary extension is installed, else Python). The version is pinned in constraints.txt, and
# tests/storage/test_copy_text.py reads every kind of value back through PostgreSQL.
from psycopg._copy_base import format_row_text

_local = threading.local()  # a Transformer caches its dumpers, so each thread keeps its own


def encode_rows(rows: Iterable[tuple[Any, ...]]) -> bytes:
    """The lines of `rows` (str, int, float, bool or None values), each ending in a newline."""
    transformer = getattr(_local, "transformer", None)
    if transformer is None:
        transformer = _local.transformer = adapt.Transformer()
    out = bytearray()
    for row in rows:
        format_row_text(row, transformer, out)
    return bytes(out)
