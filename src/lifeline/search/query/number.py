"""Number search: prefixes against the value, with the precision of the search value.

https://hl7.org/fhir/R4/search.html#number — `100` means 100 to three significant figures, the
range [99.5, 100.5); gt/lt/ge/le compare with the exact value given; `ap` is within 10% of it
(or its precision, whichever is wider). With search value v, its range [lo, hi) and the indexed
value x:

  eq  lo <= x < hi       ne  x < lo or x >= hi
  gt  x > v   lt  x < v  ge  x >= v   le  x <= v
  sa  x >= hi (starts after the range)  eb  x < lo (ends before it)
  ap  v - d <= x <= v + d, d = max(|v| / 10, (hi - lo) / 2)
"""

from __future__ import annotations

import re

from lifeline.errors import BadRequest
from lifeline.search.extract.number import number_range
from lifeline.search.query.values import split_prefix, unescape
from lifeline.search.registry import SearchParameter

TABLE = "search_number"
MODIFIERS: frozenset[str] = frozenset()

_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")

NumberValue = tuple[str, float, float, float]  # prefix, value, lo, hi


def parse_number(prefix: str, text: str, code: str) -> NumberValue:
    if not _NUMBER.fullmatch(text):
        raise BadRequest(f"Invalid number {text!r} for search parameter {code!r}")
    value, lo, hi = number_range(text)
    return prefix, value, lo, hi


def parse(value: str, modifier: str | None, param: SearchParameter) -> NumberValue:
    prefix, text = split_prefix(unescape(value))
    return parse_number(prefix, text, param.code)


def condition(number: NumberValue, modifier: str | None, now_us: int) -> tuple[str, list[object]]:
    prefix, value, lo, hi = number
    if prefix == "eq":
        return "s.value >= ? AND s.value < ?", [lo, hi]
    if prefix == "ne":
        return "(s.value < ? OR s.value >= ?)", [lo, hi]
    if prefix in ("gt", "lt", "ge", "le"):
        operator = {"gt": ">", "lt": "<", "ge": ">=", "le": "<="}[prefix]
        return f"s.value {operator} ?", [value]
    if prefix == "sa":
        return "s.value >= ?", [hi]
    if prefix == "eb":
        return "s.value < ?", [lo]
    d = max(abs(value) / 10, (hi - lo) / 2)
    return "s.value >= ? AND s.value <= ?", [value - d, value + d]
