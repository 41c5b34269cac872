"""Number and quantity entries with the implicit precision range (search.html#number, #quantity)."""

from __future__ import annotations

import sys
from decimal import Decimal

import pytest

from lifeline.search.extract import number, quantity
from lifeline.storage.index_rows import NumberEntry, QuantityEntry


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (100, (100.0, 99.5, 100.5)),
        ("100", (100.0, 99.5, 100.5)),
        (Decimal("1.50"), (1.5, 1.495, 1.505)),
        ("1.50", (1.5, 1.495, 1.505)),
        (1.5, (1.5, 1.45, 1.55)),  # a float has lost its trailing zero
        (-2, (-2.0, -2.5, -1.5)),
        ("1e2", (100.0, 50.0, 150.0)),
        (0.25, (0.25, 0.245, 0.255)),
    ],
)
def test_number_range(value: object, expected: tuple[float, float, float]) -> None:
    assert number.number_range(value) == pytest.approx(expected)


@pytest.mark.parametrize("value", [True, None, "abc", "NaN", float("inf"), [1], {}])
def test_not_numbers(value: object) -> None:
    with pytest.raises(ValueError):
        number.number_range(value)


def test_number_entries_skip_odd_data() -> None:
    out: list[NumberEntry] = []
    number.add("p", [3, "x", None, True, 0.5], out)
    assert [(e.value, e.low, e.high) for e in out] == [(3.0, 2.5, 3.5), (0.5, 0.45, 0.55)]


def quantities(*values: object) -> list[QuantityEntry]:
    out: list[QuantityEntry] = []
    quantity.add("p", list(values), out)
    return out


def test_quantity_age_and_money() -> None:
    ucum = "http://unitsofmeasure.org"
    [weight, age, money] = quantities(
        {"value": 80.5, "unit": "kg", "system": ucum, "code": "kg"},
        {"value": 42, "unit": "år", "system": ucum, "code": "a"},
        {"value": 125.00, "currency": "DKK"},
    )
    assert (weight.value, weight.system, weight.code, weight.unit) == (80.5, ucum, "kg", "kg")
    assert (weight.low, weight.high) == pytest.approx((80.45, 80.55))
    assert (age.value, age.low, age.high, age.code, age.unit) == (42.0, 41.5, 42.5, "a", "år")
    assert (money.value, money.system, money.code, money.unit) == (125.0, "urn:iso:std:iso:4217", "DKK", None)


def test_range_spans_low_to_high() -> None:
    [both, open_high] = quantities(
        {"low": {"value": 5, "unit": "mg"}, "high": {"value": 10, "unit": "mg"}},
        {"low": {"value": 5, "code": "mg", "system": "s"}},
    )
    assert (both.value, both.low, both.high, both.unit) == (7.5, 5.0, 10.0, "mg")
    assert (open_high.value, open_high.low, open_high.high, open_high.code) == (5.0, 5.0, sys.float_info.max, "mg")


def test_odd_quantities_are_skipped() -> None:
    assert quantities({"value": "many"}, {"unit": "kg"}, {"low": {}}, "5 kg", None, {"origin": {"value": 1}}) == []
