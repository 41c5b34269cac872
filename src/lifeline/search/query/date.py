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

`_lastUpdated` has no index rows: it is matched on the resource's own `last_updated`, an instant
of millisecond precision in UTC written always alike (clock.fhir_instant), whose text sorts as
its time does (`instant_condition`).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from lifeline.clock import fhir_instant
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


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_FIRST_US = (datetime(1, 1, 1, tzinfo=UTC) - _EPOCH) // timedelta(microseconds=1)
_LAST_US = (datetime(9999, 12, 31, 23, 59, 59, 999000, tzinfo=UTC) - _EPOCH) // timedelta(microseconds=1)


def _at_least(column: str, us: int) -> tuple[str, list[object]]:
    """`column` (an instant's text) at or after the instant `us` microseconds since 1970."""
    us = -(-us // 1000) * 1000  # the stored instants are whole milliseconds: the next one
    if us <= _FIRST_US:
        return f"{column} >= ?", [""]  # every instant
    if us > _LAST_US:
        return f"{column} >= ?", ["~"]  # none: '~' sorts after every digit
    return f"{column} >= ?", [fhir_instant(_EPOCH + timedelta(microseconds=us))]


def _at_most(column: str, us: int) -> tuple[str, list[object]]:
    """`column` at or before the instant `us`."""
    us = us // 1000 * 1000
    if us < _FIRST_US:
        return f"{column} <= ?", [""]  # none: every instant's text is longer
    if us >= _LAST_US:
        return f"{column} >= ?", [""]  # every instant
    return f"{column} <= ?", [fhir_instant(_EPOCH + timedelta(microseconds=us))]


def _both(first: tuple[str, list[object]], second: tuple[str, list[object]], joint: str) -> tuple[str, list[object]]:
    return f"({first[0]} {joint} {second[0]})", [*first[1], *second[1]]


def instant_condition(value: DateValue, now_us: int, column: str = "r.last_updated") -> tuple[str, list[object]]:
    """The condition of `value` on a column of instants at millisecond precision (`last_updated`).

    An instant t of millisecond precision is the range [t, t + 999] µs, so each bound of
    `condition` becomes one on t: low >= x is t >= x, low > x is t >= x + 1, low < x is
    t <= x - 1, high <= x is t <= x - 999, high > x is t >= x - 998, high < x is t <= x - 1000,
    high >= x is t >= x - 999; and t, a whole millisecond, compares as its text does."""
    prefix, lo, hi = value
    contained = _both(_at_least(column, lo), _at_most(column, hi - 999), "AND")
    if prefix == "eq":
        return contained
    if prefix == "ne":
        return _both(_at_most(column, lo - 1), _at_least(column, hi - 998), "OR")
    if prefix == "gt":
        return _at_least(column, hi - 998)
    if prefix == "lt":
        return _at_most(column, lo - 1)
    if prefix == "ge":
        return _both(_at_least(column, hi - 998), contained, "OR")
    if prefix == "le":
        return _both(_at_most(column, lo - 1), contained, "OR")
    if prefix == "sa":
        return _at_least(column, hi + 1)
    if prefix == "eb":
        return _at_most(column, lo - 1000)
    d = approximation(lo, hi, now_us)
    return _both(_at_most(column, hi + d), _at_least(column, lo - d - 999), "AND")
