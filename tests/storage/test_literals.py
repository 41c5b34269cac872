"""Batches rendered with their values written in: the same text as psycopg's mogrify, and
PostgreSQL stores every value as it was given."""

from __future__ import annotations

from pathlib import Path

import pytest
from psycopg import ClientCursor

from lifeline.storage.dialect import POSTGRES
from lifeline.storage.literals import Literals
from lifeline.storage.write_session import Batch
from tests.conftest import dispose, fresh_repository

VALUES = [
    ("plain", 1, 2.5, True, None),
    ("quote ' and \\ backslash", -7, 1e-05, False, "Ærø Müller 🩺"),
    ("\n\t\r", 2**40, float("inf"), True, ""),
    ("percent %s %% and ? mark", 0, -0.1, False, '{"a": "b\\"c"}'),
]
BATCHES = [
    Batch("INSERT INTO t VALUES ", "(?, ?, ?, ?, ?)", VALUES),
    Batch("INSERT INTO t VALUES ", "(?, ?, ?, ?, ?)", VALUES[:1], " ON CONFLICT DO NOTHING"),
    Batch(POSTGRES.sql("UPDATE t SET i = ? WHERE s = ?"), "", [(3, "plain")]),
    Batch("DELETE FROM t WHERE (s, i) IN (VALUES ", "(?, ?)", [("plain", 1), ("x", 2)], ")"),
]


def test_the_text_is_the_one_mogrify_makes(tmp_path: Path) -> None:
    repo = fresh_repository("postgresql", tmp_path)
    try:
        with repo._schema_transaction() as conn:
            conn.execute("CREATE TEMPORARY TABLE t (s TEXT, i BIGINT, f DOUBLE PRECISION, b BOOLEAN, x TEXT)")
            literals, mogrify = Literals(conn, POSTGRES), ClientCursor(conn).mogrify
            for batch in BATCHES:
                template = batch.head + ", ".join([POSTGRES.sql(batch.row)] * len(batch.rows)) + batch.tail
                expected = mogrify(template, [v for row in batch.rows for v in row])
                assert literals.render(batch) == expected
            conn.execute(literals.render(BATCHES[0]))
            back = conn.execute("SELECT s, i, f, b, x FROM t").fetchall()
    finally:
        dispose(repo)
    assert back == VALUES


def test_a_batch_whose_values_do_not_fit_its_placeholders_is_refused(tmp_path: Path) -> None:
    repo = fresh_repository("postgresql", tmp_path)
    try:
        with repo._schema_transaction() as conn:
            literals = Literals(conn, POSTGRES)
            with pytest.raises(ValueError, match="fewer values"):
                literals.render(Batch("INSERT INTO t VALUES ", "(?, ?)", [("a",)]))
            with pytest.raises(ValueError, match="more values"):
                literals.render(Batch("INSERT INTO t VALUES ", "(?)", [("a", "b")]))
            with pytest.raises(ValueError, match="a % other than"):
                literals.render(Batch("SELECT 'a%' WHERE x = ", "?", [("a",)]))
    finally:
        dispose(repo)
