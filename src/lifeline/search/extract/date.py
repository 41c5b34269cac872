"""Date search values as inclusive [low, high] ranges in integer microseconds since 1970 UTC.

https://hl7.org/fhir/R4/search.html#date — every date is a range given by its precision:
2024 is the whole year, 2024-03 the month, 2024-03-05 the day, 2024-03-05T10:00:00Z that second,
and 2024-03-05T10:00:00.120Z the millisecond its three fraction digits name. A value without a
time zone is taken as UTC. A Period is [start.low, end.high] with DATE_MIN/DATE_MAX for an open
end; a Timing is the outer limits of its events and repeat.boundsPeriod (the schedule itself is
ignored, as the spec says).
"""

from __future__ import annotations

import re
from calendar import monthrange
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import Any

from lifeline.storage.index_rows import DATE_MAX, DATE_MIN, DateEntry

_SECOND = 1_000_000
_DAY = 86_400 * _SECOND
_EPOCH = date(1970, 1, 1).toordinal()
_EPOCH_MOMENT = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)

# FHIR date, dateTime and instant; hh:mm without seconds is accepted for search values.
_DATE = re.compile(r"\d{4}(?:-\d{2}(?:-\d{2}(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:\d{2})?)?)?)?")
# The common case, a dateTime to the second (or finer) with its zone: datetime parses it in C.
_INSTANT = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:Z|[+-](?:0\d|1[0-4]):[0-5]\d)")


@lru_cache(maxsize=4096)
def _month(year: int, month: int) -> tuple[int, int]:
    """Start of the month in microseconds and its number of days."""
    return (date(year, month, 1).toordinal() - _EPOCH) * _DAY, monthrange(year, month)[1]


def _day(year: int, month: int, day: int) -> int:
    start, days = _month(year, month)
    if not 1 <= day <= days:
        raise ValueError(f"no day {day} in {year}-{month:02d}")
    return start + (day - 1) * _DAY


def date_range(text: str) -> tuple[int, int]:
    """[low, high] of a FHIR date/dateTime/instant string; ValueError when it is not one."""
    if len(text) > 19 and _INSTANT.fullmatch(text):
        low = (datetime.fromisoformat(text) - _EPOCH_MOMENT) // _MICROSECOND
        digits = len(text) - 21 - (0 if text[-1] == "Z" else 5)  # fraction digits after "ss."
        unit = 10 ** (6 - min(digits, 6)) if digits > 0 else _SECOND
        return low, low + unit - 1
    return _partial_range(text)


@lru_cache(maxsize=16384)
def _partial_range(text: str) -> tuple[int, int]:
    # Dates (birth dates, onsets) repeat a lot; that is why this path keeps a cache.
    if not _DATE.fullmatch(text):
        raise ValueError(f"not a FHIR date: {text!r}")
    # The format is fixed-width up to the seconds, so slicing is safe once the pattern matched.
    year = int(text[:4])
    if len(text) == 4:
        return _day(year, 1, 1), _day(year, 12, 31) + _DAY - 1
    month = int(text[5:7])
    if not 1 <= month <= 12:
        raise ValueError(f"no month {month} in {text!r}")
    if len(text) == 7:
        start, days = _month(year, month)
        return start, start + days * _DAY - 1
    low = _day(year, month, int(text[8:10]))
    if len(text) == 10:
        return low, low + _DAY - 1
    hour, minute = int(text[11:13]), int(text[14:16])
    if hour > 23 or minute > 59:
        raise ValueError(f"bad time in {text!r}")
    low += (hour * 3600 + minute * 60) * _SECOND
    rest = text[16:]
    if rest.endswith("Z"):
        rest = rest[:-1]
    elif len(rest) >= 6 and rest[-6] in "+-":
        zone_hours, zone_minutes = int(rest[-5:-3]), int(rest[-2:])
        if zone_hours > 14 or zone_minutes > 59:
            raise ValueError(f"bad time zone in {text!r}")
        offset = (zone_hours * 3600 + zone_minutes * 60) * _SECOND
        low += -offset if rest[-6] == "+" else offset
        rest = rest[:-6]
    if not rest:
        return low, low + 60 * _SECOND - 1
    second = int(rest[1:3])
    if second > 59:
        raise ValueError(f"bad seconds in {text!r}")
    low += second * _SECOND
    digits = rest[4:10]
    if not digits:
        return low, low + _SECOND - 1
    unit = 10 ** (6 - len(digits))
    low += int(digits) * unit
    return low, low + unit - 1


def _period(value: dict[str, Any]) -> tuple[int, int] | None:
    start, end = value.get("start"), value.get("end")
    if start is None and end is None:
        return None
    low = date_range(start)[0] if type(start) is str else DATE_MIN
    high = date_range(end)[1] if type(end) is str else DATE_MAX
    return low, high


def _timing(value: dict[str, Any]) -> tuple[int, int] | None:
    ranges = [date_range(e) for e in value.get("event", ()) if type(e) is str]
    repeat = value.get("repeat")
    if type(repeat) is dict and type(repeat.get("boundsPeriod")) is dict:
        bounds = _period(repeat["boundsPeriod"])
        if bounds:
            ranges.append(bounds)
    if not ranges:
        return None
    return min(r[0] for r in ranges), max(r[1] for r in ranges)


def add(param: str, values: list[Any], out: list[DateEntry]) -> None:
    for value in values:
        try:
            if type(value) is str:
                low, high = date_range(value)
            elif type(value) is dict:
                found = _timing(value) if "event" in value or "repeat" in value else _period(value)
                if found is None:
                    continue
                low, high = found
            else:
                continue
        except ValueError:
            continue  # odd data is not indexed rather than failing the write
        out.append(DateEntry(param, low, high))
