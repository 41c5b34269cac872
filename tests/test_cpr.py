"""CPR numbers: the century table, real dates, sex, and no modulus-11 check."""

from __future__ import annotations

import datetime

import pytest

from lifeline.cpr import birth_date, format_cpr, is_valid_cpr, sex

# (CPR number, birth date): every cell and boundary of the 7th-digit century table.
CENTURIES = [
    ("0101000000", "1900-01-01"),  # 0-3: always 1900s
    ("0101993999", "1999-01-01"),
    ("0101364000", "2036-01-01"),  # 4: 00-36 -> 2000s
    ("0101374000", "1937-01-01"),  # 4: 37-57 -> 1900s
    ("0101574000", "1957-01-01"),
    ("0101584000", "1958-01-01"),  # 4: 58-99 -> 1900s
    ("0101009000", "2000-01-01"),  # 9 behaves like 4
    ("0101459000", "1945-01-01"),
    ("0101999000", "1999-01-01"),
    ("0101365000", "2036-01-01"),  # 5-8: 00-36 -> 2000s
    ("0101376000", "2037-01-01"),  # 5-8: 37-57 -> 2000s
    ("0101577000", "2057-01-01"),
    ("0101588000", "1858-01-01"),  # 5-8: 58-99 -> 1800s
    ("0101995000", "1899-01-01"),
]


@pytest.mark.parametrize(("cpr", "born"), CENTURIES)
def test_century_from_the_seventh_digit(cpr: str, born: str) -> None:
    assert birth_date(cpr) == datetime.date.fromisoformat(born)
    assert is_valid_cpr(cpr)


def test_leap_days_follow_the_century() -> None:
    assert birth_date("2902004000") == datetime.date(2000, 2, 29)  # 2000 is a leap year
    with pytest.raises(ValueError, match="date"):
        birth_date("2902001000")  # 1900 is not


@pytest.mark.parametrize(
    ("cpr", "reason"),
    [
        ("3102901234", "date"),
        ("0013901234", "date"),
        ("0001901234", "date"),
        ("150572345", "10 digits"),
        ("15057234570", "10 digits"),
        ("150572-3457", "10 digits"),
        ("15057234a7", "digits"),
        ("１５０５７２３４５７", "digits"),  # full-width digits are not ASCII digits
    ],
)
def test_invalid_numbers_say_why(cpr: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        birth_date(cpr)
    assert not is_valid_cpr(cpr)


@pytest.mark.parametrize("value", [None, 1505723457, b"1505723457"])
def test_non_strings_are_not_valid(value: object) -> None:
    assert not is_valid_cpr(value)


def test_modulus_11_is_never_checked() -> None:
    weights = (4, 3, 2, 7, 6, 5, 4, 3, 2, 1)
    failing = [f"010100{serial:04d}" for serial in range(1000, 1020)]
    failing = [c for c in failing if sum(int(d) * w for d, w in zip(c, weights, strict=True)) % 11]
    assert failing and all(is_valid_cpr(c) for c in failing)


def test_sex_from_the_last_digit() -> None:
    assert sex("1505723457") == "male"
    assert sex("1505723456") == "female"
    with pytest.raises(ValueError):
        sex("3102901235")


def test_format() -> None:
    assert format_cpr("1505723457") == "150572-3457"
    with pytest.raises(ValueError):
        format_cpr("150572-3457")
