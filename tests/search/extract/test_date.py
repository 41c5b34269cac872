"""Date ranges by precision, time zones, Period open ends, Timing (https://hl7.org/fhir/R4/search.html#date)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from lifeline.search.extract.date import add, date_range
from lifeline.storage.index_rows import DATE_MAX, DATE_MIN, DateEntry


def us(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> int:
    return int(datetime(year, month, day, hour, minute, second, tzinfo=UTC).timestamp()) * 1_000_000


@pytest.mark.parametrize(
    ("text", "low", "high"),
    [
        ("2024", us(2024, 1, 1), us(2025, 1, 1) - 1),
        ("2024-02", us(2024, 2, 1), us(2024, 3, 1) - 1),
        ("2023-02", us(2023, 2, 1), us(2023, 3, 1) - 1),
        ("2024-12", us(2024, 12, 1), us(2025, 1, 1) - 1),
        ("2024-03-05", us(2024, 3, 5), us(2024, 3, 6) - 1),
        ("2024-03-05T10:15", us(2024, 3, 5, 10, 15), us(2024, 3, 5, 10, 16) - 1),
        ("2024-03-05T10:15:30Z", us(2024, 3, 5, 10, 15, 30), us(2024, 3, 5, 10, 15, 31) - 1),
        ("2024-03-05T10:15:30+01:00", us(2024, 3, 5, 9, 15, 30), us(2024, 3, 5, 9, 15, 31) - 1),
        ("2024-03-05T00:15:30-05:30", us(2024, 3, 5, 5, 45, 30), us(2024, 3, 5, 5, 45, 31) - 1),
        ("2024-03-05T10:15:30.123Z", us(2024, 3, 5, 10, 15, 30) + 123_000, us(2024, 3, 5, 10, 15, 30) + 123_999),
        ("2024-03-05T10:15:30.5Z", us(2024, 3, 5, 10, 15, 30) + 500_000, us(2024, 3, 5, 10, 15, 30) + 599_999),
        ("2024-03-05T10:15:30.123456789Z", us(2024, 3, 5, 10, 15, 30) + 123_456, us(2024, 3, 5, 10, 15, 30) + 123_456),
        ("1969-12-31", us(1969, 12, 31), -1),
        ("0001", us(1, 1, 1), us(2, 1, 1) - 1),
        ("9999-12-31", us(9999, 12, 31), us(9999, 12, 31) + 86_400_000_000 - 1),
    ],
)
def test_date_range_by_precision(text: str, low: int, high: int) -> None:
    assert date_range(text) == (low, high)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "24",
        "2024-1",
        "2024-13",
        "2024-02-30",
        "2024-03-05T24:00",
        "2024-03-05T10",
        "2024-03-05T10:00:61Z",
        "yesterday",
        "2024-03-05T10:00:00+15:00",
    ],
)
def test_invalid_dates(text: str) -> None:
    with pytest.raises(ValueError):
        date_range(text)


def entries(*values: object) -> list[tuple[int, int]]:
    out: list[DateEntry] = []
    add("p", list(values), out)
    return [(e.low, e.high) for e in out]


def test_period_with_open_ends() -> None:
    assert entries({"start": "2024-01-01", "end": "2024-01-31"}) == [(us(2024, 1, 1), us(2024, 2, 1) - 1)]
    assert entries({"start": "2024"}) == [(us(2024, 1, 1), DATE_MAX)]
    assert entries({"end": "2023-06-30"}) == [(DATE_MIN, us(2023, 7, 1) - 1)]
    assert entries({}) == []


def test_timing_is_its_outer_limits() -> None:
    timing = {"event": ["2024-03-05T10:00:00Z", "2024-03-01"], "repeat": {"boundsPeriod": {"end": "2024-04"}}}
    assert entries(timing) == [(DATE_MIN, us(2024, 5, 1) - 1)]
    assert entries({"event": ["2024-03-05", "2024-03-01"]}) == [(us(2024, 3, 1), us(2024, 3, 6) - 1)]


def test_odd_data_is_skipped() -> None:
    assert entries("garbage", 2024, None, {"start": 5}, {"start": "x"}, "2024") == [
        (DATE_MIN, DATE_MAX),
        (us(2024, 1, 1), us(2025, 1, 1) - 1),
    ]
