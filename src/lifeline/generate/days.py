"""Days and local times of the synthetic record: days are proleptic ordinals (`date.toordinal()`),
times are minutes after midnight, written with Denmark's UTC offset (CET, or CEST from the last
Sunday of March to the last Sunday of October, the EU rule)."""

from __future__ import annotations

import datetime
from functools import lru_cache


@lru_cache(maxsize=512)
def _summer(year: int) -> tuple[int, int]:
    def last_sunday(month: int) -> int:
        last = datetime.date(year, month, 31).toordinal()
        return last - (datetime.date.fromordinal(last).weekday() + 1) % 7

    return last_sunday(3), last_sunday(10)


@lru_cache(maxsize=65536)
def date_text(day: int) -> str:
    return datetime.date.fromordinal(day).isoformat()


@lru_cache(maxsize=65536)
def _day_prefix(day: int) -> tuple[str, str]:
    date = datetime.date.fromordinal(day)
    start, end = _summer(date.year)
    return date.isoformat(), "+02:00" if start <= day < end else "+01:00"


def instant(day: int, minute: int) -> str:
    """A FHIR dateTime (or instant) for a local time in Denmark, e.g. 2026-11-22T08:30:00+01:00."""
    day += minute // 1440
    minute %= 1440
    date, offset = _day_prefix(day)
    return f"{date}T{minute // 60:02d}:{minute % 60:02d}:00{offset}"


def weekday(day: int) -> int:
    """0 for Monday .. 6 for Sunday."""
    return (day - 1) % 7


def working_day_on_or_after(day: int) -> int:
    while weekday(day) >= 5:
        day += 1
    return day


def add_working_days(day: int, n: int) -> int:
    """The n-th working day after `day` (n = 0 gives `day` itself, whatever weekday it is)."""
    for _ in range(n):
        day = working_day_on_or_after(day + 1)
    return day


def years_between(birth: datetime.date, day: int) -> int:
    on = datetime.date.fromordinal(day)
    return on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))
