"""JSON decimals kept as written (lifeline/jsontext.py)."""

from __future__ import annotations

import copy
import decimal
import pickle

import orjson
import pytest

from lifeline import jsontext

WRITTEN = ["0.40", "105.00", "-83.694710", "3.141592653589793238462643", "1e2", "1.50E-7", "-0.0", "7"]


@pytest.mark.parametrize("text", WRITTEN)
def test_a_number_reads_back_as_it_was_written(text: str) -> None:
    document = f'{{"value": {text}, "list": [{text}], "nested": {{"value": {text}}}}}'
    parsed = jsontext.loads(document.encode())
    assert str(parsed["value"]) == text
    assert jsontext.dumps(parsed) == document.replace(" ", "").encode()


def test_a_decimal_is_a_number_with_its_text() -> None:
    value = jsontext.loads(b"[0.40]")[0]
    assert isinstance(value, float) and value == 0.4 and value * 2 == 0.8 and value < 1
    assert repr(value) == "0.40" and f"{value:.3f}" == "0.400"
    for copied in (copy.deepcopy(value), pickle.loads(pickle.dumps(value))):
        assert type(copied) is jsontext.Decimal and copied.text == "0.40"


def test_plain_orjson_refuses_a_decimal_rather_than_lose_its_digits() -> None:
    with pytest.raises(TypeError):
        orjson.dumps(jsontext.loads(b"[0.40]"))


def test_a_document_without_decimals_is_what_orjson_gives() -> None:
    parsed = jsontext.loads(b'{"a": [1, "2.50", true, null], "b": {"c": -3}}')
    assert parsed == {"a": [1, "2.50", True, None], "b": {"c": -3}}


@pytest.mark.parametrize("bad", [b"[NaN]", b"[Infinity]", b"[1e400]", b"\xff", b'["\\ud800"]', b"[0.4", b""])
def test_what_orjson_refuses_is_refused_the_same_way(bad: bytes) -> None:
    with pytest.raises(orjson.JSONDecodeError):
        jsontext.loads(bad)


@pytest.mark.parametrize(("typed", "written"), [("5", "5"), ("5.40", "5.40"), (" 0.0 ", "0.0"), ("1e2", "1e2")])
def test_a_number_typed_in_a_form_keeps_its_digits(typed: str, written: str) -> None:
    assert jsontext.dumps([jsontext.number(typed)]) == f"[{written}]".encode()


@pytest.mark.parametrize("typed", ["NaN", "Infinity", '"5"', "five", "[5]", "5,4"])
def test_what_is_not_a_number_is_refused(typed: str) -> None:
    with pytest.raises(ValueError):
        jsontext.number(typed)


@pytest.mark.parametrize(
    ("typed", "written"), [("37.0", "37.0"), ("5", "5"), ("5.", "5"), (".5", "0.5"), ("120", "120"), ("1e2", "1E+2")]
)
def test_a_checked_form_value_keeps_the_digits_typed(typed: str, written: str) -> None:
    assert jsontext.dumps([jsontext.of_decimal(decimal.Decimal(typed))]) == f"[{written}]".encode()
