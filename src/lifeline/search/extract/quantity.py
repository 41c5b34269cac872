"""Quantity search values: Quantity, SimpleQuantity, Age, Duration, Distance, Count, Money, Range.

https://hl7.org/fhir/R4/search.html#quantity — the value with its implicit precision range (as
for numbers) and system, code and unit. Money's currency is a code in urn:iso:std:iso:4217.
A Range is indexed as one entry spanning low..high (an open side unbounded), its value the
middle of the range when both sides are known.
"""

from __future__ import annotations

import sys
from typing import Any

from lifeline.search.extract.number import number_range
from lifeline.storage.index_rows import QuantityEntry

_UNBOUNDED = sys.float_info.max
_CURRENCY_SYSTEM = "urn:iso:std:iso:4217"


def _str(value: Any) -> str | None:
    return value if type(value) is str and value else None


def _quantity(param: str, value: dict[str, Any]) -> QuantityEntry | None:
    if "currency" in value:
        number, low, high = number_range(value["value"])
        return QuantityEntry(param, number, low, high, _CURRENCY_SYSTEM, _str(value["currency"]), None)
    number, low, high = number_range(value["value"])
    return QuantityEntry(
        param, number, low, high, _str(value.get("system")), _str(value.get("code")), _str(value.get("unit"))
    )


def _range(param: str, value: dict[str, Any]) -> QuantityEntry | None:
    low_q, high_q = value.get("low"), value.get("high")
    low_q = low_q if type(low_q) is dict and "value" in low_q else None
    high_q = high_q if type(high_q) is dict and "value" in high_q else None
    if low_q is None and high_q is None:
        return None
    low = number_range(low_q["value"])[0] if low_q else -_UNBOUNDED
    high = number_range(high_q["value"])[0] if high_q else _UNBOUNDED
    number = (low + high) / 2 if low_q and high_q else (low if low_q else high)
    unit_of = low_q or high_q or {}
    return QuantityEntry(
        param, number, low, high, _str(unit_of.get("system")), _str(unit_of.get("code")), _str(unit_of.get("unit"))
    )


def add(param: str, values: list[Any], out: list[QuantityEntry]) -> None:
    for value in values:
        if type(value) is not dict:
            continue
        try:
            entry = _quantity(param, value) if "value" in value else _range(param, value)
        except ValueError:
            continue
        if entry is not None:
            out.append(entry)
