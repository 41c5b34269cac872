"""Numbers as a clinician reads them, with the digits they were written with (chart/words.py)."""

from __future__ import annotations

import pytest

from lifeline import jsontext
from lifeline.web.pages.chart import words


@pytest.mark.parametrize(
    ("written", "danish", "english"),
    [
        ("0.40", "0,40", "0.40"),
        ("105.00", "105,00", "105.00"),
        ("1234.50", "1.234,50", "1,234.50"),
        ("7.0", "7,0", "7.0"),
        ("1e2", "100", "100"),
    ],
)
def test_a_decimal_keeps_its_trailing_zeros(written: str, danish: str, english: str) -> None:
    value = jsontext.loads(f"[{written}]")[0]
    assert words.number(value, "da") == danish
    assert words.number(value, "en") == english
    assert words.quantity({"value": value, "unit": "mmol/L"}, "da") == (danish, "mmol/L")


def test_whole_numbers_and_plain_floats_read_as_before() -> None:
    assert words.number(120, "da") == "120"
    assert words.number(0.4, "da") == "0,4"
    assert words.number("n/a", "da") == "n/a"
