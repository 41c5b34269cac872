"""Danish CPR numbers (personal identification numbers): birth date, sex and validity.

A CPR number is DDMMYY-SSSS, stored as 10 digits; the 7th digit with YY gives the century.
The modulus-11 check is deliberately never applied: since 1 October 2007 numbers without it are
issued and fully valid (the project's reference notes on the Danish setting, denmark.md).
FHIR identifier system (HL7 Denmark DK Core, https://hl7.dk/fhir/core/): ``urn:oid:1.2.208.176.1.2``.
"""

from __future__ import annotations

import datetime
from typing import Literal

CPR_SYSTEM = "urn:oid:1.2.208.176.1.2"


def _century(seventh: int, yy: int) -> int:
    """The century of the birth year, from the CPR office's table of the 7th digit."""
    if seventh <= 3:
        return 1900
    if seventh in (4, 9):
        return 2000 if yy <= 36 else 1900
    if yy <= 57:  # 7th digit 5-8
        return 2000
    return 1800


def birth_date(cpr: str) -> datetime.date:
    """The birth date encoded in a 10-digit CPR number; ValueError says why it has none.

    Messages never repeat the whole number: CPR numbers are personal data and errors get logged.
    """
    if not isinstance(cpr, str):
        raise ValueError(f"a CPR number is a string of 10 digits, got {type(cpr).__name__}")
    if len(cpr) != 10:
        raise ValueError(f"a CPR number is 10 digits without hyphen, got {len(cpr)} characters")
    if not (cpr.isascii() and cpr.isdecimal()):
        raise ValueError("a CPR number has only digits (no hyphen or spaces)")
    day, month, yy, seventh = int(cpr[0:2]), int(cpr[2:4]), int(cpr[4:6]), int(cpr[6])
    year = _century(seventh, yy) + yy
    try:
        return datetime.date(year, month, day)
    except ValueError:
        raise ValueError(f"the first six digits do not form a date (day {day}, month {month}, year {year})") from None


def is_valid_cpr(cpr: object) -> bool:
    """True for 10 digits whose first six are a real date (no modulus-11 check, by design)."""
    try:
        birth_date(cpr)  # type: ignore[arg-type]
    except ValueError:
        return False
    return True


def sex(cpr: str) -> Literal["male", "female"]:
    """Legal sex from the last digit: odd is male, even is female."""
    birth_date(cpr)
    return "male" if int(cpr[9]) % 2 else "female"


def format_cpr(cpr: str) -> str:
    """The written form DDMMYY-SSSS of a 10-digit CPR number."""
    birth_date(cpr)
    return f"{cpr[:6]}-{cpr[6:]}"
