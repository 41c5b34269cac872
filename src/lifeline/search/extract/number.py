"""Number search values with their implicit precision range.

https://hl7.org/fhir/R4/search.html#number — 100 stands for [99.5, 100.5], 1.50 for
[1.495, 1.505]: half a unit of the last significant digit either side. A JSON decimal read by
lifeline.jsontext keeps its text, trailing zeros and all; a plain float has lost them (1.50 is 1.5).
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from lifeline.jsontext import Decimal as JsonDecimal
from lifeline.storage.index_rows import NumberEntry


def number_range(value: Any) -> tuple[float, float, float]:
    """(value, low, high) of a number; ValueError for anything that is not a finite number."""
    if type(value) is bool:
        raise ValueError("a boolean is not a number")
    if type(value) is int:
        return float(value), value - 0.5, value + 0.5
    if type(value) is JsonDecimal:
        value = value.text
    elif type(value) is float and value - value == 0:  # finite
        text = repr(value)
        if "e" not in text:
            # The shortest repr keeps exactly the decimals the JSON had (less trailing zeros).
            half = 0.5 / 10 ** (len(text) - text.index(".") - 1)
            return value, value - half, value + half
    try:
        exact = Decimal(repr(value) if type(value) is float else value)
    except (InvalidOperation, TypeError) as e:
        raise ValueError(f"not a number: {value!r}") from e
    if not exact.is_finite():
        raise ValueError(f"not a finite number: {value!r}")
    half = Decimal(5).scaleb(exact.as_tuple().exponent - 1)  # type: ignore[operator]
    return float(exact), float(exact - half), float(exact + half)


def add(param: str, values: list[Any], out: list[NumberEntry]) -> None:
    for value in values:
        try:
            number, low, high = number_range(value)
        except ValueError:
            continue
        out.append(NumberEntry(param, number, low, high))
