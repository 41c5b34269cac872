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

_PIECES: dict[str, tuple[str, ...]] = {}  # a template split at its placeholders
_MOST_TEMPLATES = 4096  # templates are the code's own, a few dozen; this only bounds the cache


def _pieces(template: str) -> tuple[str, ...]:
    found = _PIECES.get(template)
    if found is None:
        found = tuple(template.split("%s"))
        if any("%" in piece for piece in found):
            raise ValueError(f"a template holds a % other than its placeholders: {template[:80]!r}")
        if len(_PIECES) < _MOST_TEMPLATES:
            _PIECES[template] = found
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
        values in their placeholders in order."""
        assert batch.copy_text is None, "rows in COPY text go by COPY"
        literal, encoding = self._literal, self._encoding
        values = iter([v for row in batch.rows for v in row])
        out: list[str] = []

        def fill(pieces: tuple[str, ...]) -> None:
            out.append(pieces[0])
            for piece in pieces[1:]:
                value = next(values, _END)
                if value is _END:
                    raise ValueError("a batch has fewer values than its templates have placeholders")
                out.append(literal(value).decode(encoding))
                out.append(piece)

        fill(_pieces(batch.head))
        row = _pieces(self._dialect.sql(batch.row))
        for i in range(len(batch.rows)):
            if i:
                out.append(", ")
            fill(row)
        fill(_pieces(batch.tail))
        if next(values, _END) is not _END:
            raise ValueError("a batch has more values than its templates have placeholders")
        return "".join(out)


_END = object()
