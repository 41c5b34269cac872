"""Property: date searches in SQL agree with a brute-force Python filter over the same resources.

The reference filter computes every range independently (datetime and relativedelta, not
lifeline's parser) and applies the prefix rules of https://hl7.org/fhir/R4/search.html#prefix
as sets of instants.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from dateutil.relativedelta import relativedelta
from hypothesis import given, settings
from hypothesis import strategies as st

from lifeline.storage.param_numbers import numbers_of_code
from tests.search.query.database import IndexDatabase, sqlite_database

NOW = datetime(2024, 6, 1, 12, tzinfo=UTC)
MICRO = timedelta(microseconds=1)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
PRECISIONS = ("year", "month", "day", "minute", "second", "milli")
PREFIXES = ("eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap")


def render(moment: datetime, precision: str, zone_minutes: int) -> str:
    """A FHIR date string of `moment` (UTC) at a precision, its time part shown in a time zone."""
    if precision == "year":
        return f"{moment.year:04d}"
    if precision == "month":
        return f"{moment.year:04d}-{moment.month:02d}"
    if precision == "day":
        return moment.strftime("%Y-%m-%d")
    local = moment + timedelta(minutes=zone_minutes)
    sign = "+" if zone_minutes >= 0 else "-"
    zone = "Z" if zone_minutes == 0 else f"{sign}{abs(zone_minutes) // 60:02d}:{abs(zone_minutes) % 60:02d}"
    text = local.strftime("%Y-%m-%dT%H:%M")
    if precision == "minute":
        return text + zone
    text += local.strftime(":%S")
    if precision == "milli":
        text += f".{local.microsecond // 1000:03d}"
    return text + zone


def reference_range(text: str) -> tuple[datetime, datetime]:
    """[start, end] (inclusive, to the microsecond) of a date string, computed independently."""
    if len(text) == 4:
        start = datetime(int(text), 1, 1, tzinfo=UTC)
        return start, start + relativedelta(years=1) - MICRO
    if len(text) == 7:
        start = datetime(int(text[:4]), int(text[5:7]), 1, tzinfo=UTC)
        return start, start + relativedelta(months=1) - MICRO
    if len(text) == 10:
        start = datetime.fromisoformat(text).replace(tzinfo=UTC)
        return start, start + timedelta(days=1) - MICRO
    start = datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)
    if len(text.split("T")[1]) in (6, 11):  # hh:mmZ or hh:mm+zz:zz
        return start, start + timedelta(minutes=1) - MICRO
    if "." in text:
        return start, start + timedelta(milliseconds=1) - MICRO
    return start, start + timedelta(seconds=1) - MICRO


def matches(prefix: str, search: tuple[datetime, datetime], target: tuple[datetime, datetime]) -> bool:
    (lo, hi), (low, high) = search, target
    contained = lo <= low and high <= hi
    if prefix == "eq":
        return contained
    if prefix == "ne":
        return not contained
    if prefix == "gt":
        return high > hi
    if prefix == "lt":
        return low < lo
    if prefix == "ge":
        return high > hi or contained
    if prefix == "le":
        return low < lo or contained
    if prefix == "sa":
        return low > hi
    if prefix == "eb":
        return high < lo
    gap = lo - NOW if NOW < lo else NOW - hi if NOW > hi else timedelta(0)
    widen = max(gap / 10, timedelta(days=1))
    return low <= hi + widen and high >= lo - widen


def _moment(rng: random.Random) -> datetime:
    return EPOCH + timedelta(microseconds=rng.randrange(1672531200_000000, 1767225600_000000))  # 2023..2025


def _observations() -> list[tuple[str, dict[str, object]]]:
    rng = random.Random(20240605)
    out: list[tuple[str, dict[str, object]]] = []
    for i in range(80):
        kind = rng.random()
        precision = rng.choice(PRECISIONS)
        zone = rng.choice([0, 60, 120, -300])
        if kind < 0.6:
            text = render(_moment(rng), precision, zone)
            out.append((f"o{i}", {"effectiveDateTime": text}))
        else:
            start, end = sorted([_moment(rng), _moment(rng)])
            period = {"start": render(start, precision, zone), "end": render(end, precision, zone)}
            if kind > 0.85:
                del period[rng.choice(["start", "end"])]
            out.append((f"o{i}", {"effectivePeriod": period}))
    return out


OBSERVATIONS = _observations()
FAR_PAST, FAR_FUTURE = datetime(1, 1, 1, tzinfo=UTC), datetime(9999, 12, 31, tzinfo=UTC)


def target_range(fields: dict[str, object]) -> tuple[datetime, datetime]:
    if "effectiveDateTime" in fields:
        return reference_range(str(fields["effectiveDateTime"]))
    period = fields["effectivePeriod"]
    assert isinstance(period, dict)
    low = reference_range(period["start"])[0] if "start" in period else FAR_PAST
    high = reference_range(period["end"])[1] if "end" in period else FAR_FUTURE
    return low, high


@pytest.fixture(scope="module")
def database() -> Iterator[IndexDatabase]:
    with sqlite_database() as db:
        for res_id, fields in OBSERVATIONS:
            db.insert({"resourceType": "Observation", "id": res_id, "status": "final", "code": {"text": "x"}, **fields})
        yield db


@settings(max_examples=250, deadline=None)
@given(
    prefix=st.sampled_from(PREFIXES),
    precision=st.sampled_from(PRECISIONS),
    micros=st.integers(1672531200_000000, 1767225600_000000),
    zone=st.sampled_from([0, 60, -300, 330]),
)
def test_date_search_agrees_with_brute_force(
    database: IndexDatabase, prefix: str, precision: str, micros: int, zone: int
) -> None:
    text = render(EPOCH + timedelta(microseconds=micros), precision, zone)
    search = reference_range(text)
    expected = {res_id for res_id, fields in OBSERVATIONS if matches(prefix, search, target_range(fields))}
    assert database.search("Observation", [("date", prefix + text)], now=NOW) == expected


# `_lastUpdated` is matched on the resource row's own instant text (date.instant_condition), not
# on index rows: instants of millisecond precision, some a millisecond apart, searched at and
# around them.
UPDATED = sorted(
    {(_moment(random.Random(seed)) + timedelta(milliseconds=step)).replace(microsecond=0) for seed in range(30)
     for step in (0, 1, 999, 1000)}
)  # fmt: skip


@pytest.fixture(scope="module")
def updated() -> Iterator[IndexDatabase]:
    with sqlite_database() as db:
        for n, moment in enumerate(UPDATED):
            stamp = moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
            db.insert({"resourceType": "Patient", "id": f"p{n}", "meta": {"lastUpdated": stamp}})
        yield db


@settings(max_examples=400, deadline=None)
@given(
    prefix=st.sampled_from(PREFIXES),
    precision=st.sampled_from(PRECISIONS),
    at=st.sampled_from(UPDATED),
    off=st.sampled_from([-1000, -999, -1, 0, 1, 999, 1000, 86_400_000_000]),
    zone=st.sampled_from([0, 60, -300]),
)
def test_last_updated_agrees_with_brute_force(
    updated: IndexDatabase, prefix: str, precision: str, at: datetime, off: int, zone: int
) -> None:
    text = render(at + timedelta(microseconds=off), precision, zone)
    search = reference_range(text)
    expected = {f"p{n}" for n, moment in enumerate(UPDATED) if matches(prefix, search, (moment, moment + 999 * MICRO))}
    assert updated.search("Patient", [("_lastUpdated", prefix + text)], now=NOW) == expected
    assert updated.search("Patient", [("_lastUpdated", prefix + text)], now=NOW, from_index=False) == expected


@pytest.mark.parametrize(
    ("value", "every"),
    [("lt0001", False), ("gt9999", False), ("ge0001", True), ("le9999-12-31", True), ("ne0001", True)],
)
def test_last_updated_at_the_ends_of_time(updated: IndexDatabase, value: str, every: bool) -> None:
    found = updated.search("Patient", [("_lastUpdated", value)], now=NOW)
    assert found == ({f"p{n}" for n in range(len(UPDATED))} if every else set())


def test_last_updated_has_no_index_rows(updated: IndexDatabase) -> None:
    numbers = numbers_of_code("_lastUpdated")
    marks = ", ".join("?" for _ in numbers)
    assert updated.execute(f"SELECT COUNT(*) FROM search_date WHERE pid IN ({marks})", numbers) == [(0,)]
