"""COPY text: every value an index row can hold comes back from PostgreSQL as it went in."""

from __future__ import annotations

import math

import psycopg
import pytest

from lifeline.storage.copy_text import encode_rows
from tests.conftest import dispose, fresh_repository

ROWS = [
    ("plain", 1, 2.5, True, None),
    ("tab\there\\back\nnew\rcr", -7, 1e-05, False, "Ærø Müller"),
    ("\\N", 2**40, float("inf"), True, ""),
    ("x", 0, -0.1, False, '{"a": "b\\"c"}'),
]


def test_values_are_escaped_as_copy_text_wants() -> None:
    assert encode_rows([("a\tb\\c\nd", None)]) == b"a\\tb\\\\c\\nd\t\\N\n"
    assert encode_rows([("a", 1), ("b", None), ("c", True)]) == b"a\t1\nb\t\\N\nc\tt\n"
    assert encode_rows([("Ærø",)]) == "Ærø\n".encode()
    assert encode_rows([]) == b""


def test_a_value_of_no_known_type_is_refused() -> None:
    with pytest.raises(psycopg.ProgrammingError):
        encode_rows([(object(),)])


def test_postgresql_reads_back_what_was_encoded(tmp_path) -> None:
    repo = fresh_repository("postgresql", tmp_path)
    try:
        with repo._schema_transaction() as conn:
            conn.execute("CREATE TEMPORARY TABLE copied (s TEXT, i BIGINT, f DOUBLE PRECISION, b BOOLEAN, t TEXT)")
            with conn.cursor().copy("COPY copied FROM STDIN") as copy:
                copy.write(encode_rows(ROWS))
            back = conn.execute("SELECT * FROM copied").fetchall()
    finally:
        dispose(repo)
    assert [r[:2] + r[3:] for r in back] == [r[:2] + r[3:] for r in ROWS]
    assert all(math.isclose(b[2], r[2]) or b[2] == r[2] for b, r in zip(back, ROWS, strict=True))
