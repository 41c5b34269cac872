"""Date search: prefixes against the [low, high] range of each indexed value.

https://hl7.org/fhir/R4/search.html#date with the prefix rules of
https://hl7.org/fhir/R4/search.html#prefix. Both the search value and the target are ranges
given by their precision (2024 is the whole year); with search range [lo, hi] and target
range [low, high], inclusive, in microseconds:

  eq  the search range fully contains the target:          low >= lo and high <= hi
  ne  the search range does not fully contain the target:  low < lo or high > hi
  gt  the range above the search value overlaps the target: high > hi
  lt  the range below the search value overlaps the target: low < lo
  ge  gt, or eq:                                            high > hi or (low >= lo and high <= hi)
  le  lt, or eq:                                            low < lo or (low >= lo and high <= hi)
  sa  the target starts after the search range:             low > hi
  eb  the target ends before the search range:              high < lo
  ap  the target overlaps the search range widened on both sides by 10% of the gap between
      now and the search value, and at least by one day:    low <= hi + d and high >= lo - d

A search value without a time zone is taken as UTC, like an indexed one.
"""

from __future__ import annotations

from lifeline.errors import BadRequest
from lifeline.search.extract.date import date_range
from lifeline.search.query.values import split_prefix, unescape
from lifeline.search.registry import SearchParameter

TABLE = "search_date"
MODIFIERS: frozenset[str] = frozenset()

_DAY = 86_400_000_000

DateValue = tuple[str, int, int]  # prefix, lo, hi


def parse(value: str, modifier: str | None, param: SearchParameter) -> DateValue:
    # A `+` of a time zone arrives as a space when the client did not percent-encode it.
    prefix, text = split_prefix(unescape(value).replace(" ", "+"))
    try:
        lo, hi = date_range(text)
    except ValueError as e:
        raise BadRequest(f"Invalid date {value!r} for search parameter {param.code!r}") from e
    return prefix, lo, hi


def approximation(lo: int, hi: int, now_us: int) -> int:
    """The widening of `ap`: 10% of the distance from now to the search range, at least a day."""
    gap = lo - now_us if now_us < lo else now_us - hi if now_us > hi else 0
    return max(gap // 10, _DAY)


def condition(value: DateValue, modifier: str | None, now_us: int) -> tuple[str, list[object]]:
    prefix, lo, hi = value
    if prefix == "eq":
        return "s.low >= ? AND s.high <= ?", [lo, hi]
    if prefix == "ne":
        return "(s.low < ? OR s.high > ?)", [lo, hi]
    if prefix == "gt":
        return "s.high > ?", [hi]
    if prefix == "lt":
        return "s.low < ?", [lo]
    if prefix == "ge":
        return "(s.high > ? OR (s.low >= ? AND s.high <= ?))", [hi, lo, hi]
    if prefix == "le":
        return "(s.low < ? OR (s.low >= ? AND s.high <= ?))", [lo, lo, hi]
    if prefix == "sa":
        return "s.low > ?", [hi]
    if prefix == "eb":
        return "s.high < ?", [lo]
    d = approximation(lo, hi, now_us)
    return "s.low <= ? AND s.high >= ?", [hi + d, lo - d]
