"""A batch of rows as one SQL statement with its values written in (PostgreSQL).

Buffered writes go to PostgreSQL as statements with their values in them, several in one simple
query: one round trip for a whole transaction (storage/postgres.py). psycopg's
`ClientCursor.mogrify` did the writing in, but it first parses the statement for its placeholders,
in Python, and keeps the parse only for short statements: a multi-row INSERT was parsed again every
time, about 400 µs of a create's 1.2 ms of CPU. Here each template (a batch's head, row and tail)
is split at its placeholders once, and each value is quoted by the same psycopg Transformer
`as_literal` that mogrify uses, so the text is the one mogrify would make (tests/storage/
test_literals.py compares them).
"""

from __future__ import annotations

from typing import Any

from psycopg import adapt

from lifeline.storage.dialect import Dialect
from lifeline.storage.write_session import Batch

_FORMATS: dict[tuple[str, str], tuple[bytes, int]] = {}  # a template as a bytes format, and its placeholders
_MOST_TEMPLATES = 4096  # templates are the code's own, a few dozen; this only bounds the cache


def _format(template: str, encoding: str) -> tuple[bytes, int]:
    """`template` with each placeholder as `%b`, encoded, and how many placeholders it has."""
    found = _FORMATS.get((template, encoding))
    if found is None:
        pieces = template.split("%s")
        if any("%" in piece for piece in pieces):
            raise ValueError(f"a template holds a % other than its placeholders: {template[:80]!r}")
        found = ("%b".join(pieces).encode(encoding), len(pieces) - 1)
        if len(_FORMATS) < _MOST_TEMPLATES:
            _FORMATS[(template, encoding)] = found
    return found


class Literals:
    """Renders batches for one connection (its encoding and string-quoting settings)."""

    def __init__(self, connection: Any, dialect: Dialect) -> None:
        transformer = adapt.Transformer(connection)
        self._literal = transformer.as_literal
        self._encoding = transformer.encoding
        self._dialect = dialect

    def render(self, batch: Batch) -> str:
        """`batch.head` + one `batch.row` per row, comma-separated, + `batch.tail`, the rows'
        values in their placeholders in order. Each value is quoted once (psycopg, in C) and put
        in place by bytes formatting (in C too): a transaction's few hundred index rows took 4 ms
        of Python a value at a time."""
        assert batch.copy_text is None, "rows in COPY text go by COPY"
        literal, encoding = self._literal, self._encoding
        head, head_n = _format(batch.head, encoding)
        row, row_n = _format(self._dialect.sql(batch.row), encoding)
        tail, tail_n = _format(batch.tail, encoding)
        quoted = [literal(v) for values in batch.rows for v in values]
        wanted = head_n + row_n * len(batch.rows) + tail_n
        if len(quoted) < wanted:
            raise ValueError("a batch has fewer values than its templates have placeholders")
        if len(quoted) > wanted:
            raise ValueError("a batch has more values than its templates have placeholders")
        end = len(quoted) - tail_n
        if row_n:
            rows = b", ".join([row % tuple(quoted[i : i + row_n]) for i in range(head_n, end, row_n)])
        else:
            rows = b", ".join([row] * len(batch.rows))
        text = head % tuple(quoted[:head_n]) + rows + tail % tuple(quoted[end:])
        return text.decode(encoding)
