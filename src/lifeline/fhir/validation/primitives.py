"""Checks of FHIR primitive values in JSON: the JSON type, the R4 regex, ranges and real dates.

Each checker takes the JSON value and returns None when it is valid, else the reason.
See https://hl7.org/fhir/R4/datatypes.html#primitive and https://hl7.org/fhir/R4/json.html#primitive
"""

from __future__ import annotations

import datetime
import math
import re
from collections.abc import Callable
from typing import Any

from lifeline.jsontext import Decimal

Checker = Callable[[Any], str | None]

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
MAX_STRING = 1024 * 1024  # "FHIR strings SHALL NOT exceed 1MB in size"
# Types whose value starts with a calendar date, checked beyond the regex (2023-02-30 matches it).
DATE_TYPES = {"date", "dateTime", "instant"}
INTEGER_RANGES = {"integer": INT32_MIN, "unsignedInt": 0, "positiveInt": 1}
# "Strings SHALL NOT contain Unicode character points below 32, except for u0009, u000D and u000A"
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
# base64Binary has no 1 MB cap (only strings do): the server's body limit bounds it. R4's regex,
# `(\s*([0-9a-zA-Z\+/=]){4}\s*)+`, takes seconds and gigabytes on a 10 MB attachment in `re`; this
# is the same alphabet in groups of four, checked in one linear pass (whitespace between groups).
_BASE64 = re.compile(r"[0-9a-zA-Z+/=]*", re.ASCII)


def _control_character(value: str) -> str | None:
    found = _CONTROL.search(value)
    if found is None:
        return None
    return f"contains the control character U+{ord(found.group()):04X}; only tab, CR and LF are allowed below U+0020"


def _real_date(value: str) -> bool:
    if len(value) < 10:
        return True
    try:
        datetime.date(int(value[0:4]), int(value[5:7]), int(value[8:10]))
    except ValueError:
        return False
    return True


def _string_checker(name: str, regex: str | None) -> Checker:
    # ASCII mode: the published regexes follow XML Schema/Java, where \s and \S are ASCII-only.
    match = re.compile(regex, re.ASCII).fullmatch if regex else None
    is_date = name in DATE_TYPES

    def check(value: Any) -> str | None:
        if type(value) is not str:
            return f"must be a JSON string ({name}), got {_json_type(value)}"
        if not value or value.isspace():
            return "must not be empty or only whitespace"
        if len(value) > MAX_STRING:
            return "is longer than 1 MB"
        if (control := _control_character(value)) is not None:
            return control
        if match is not None and match(value) is None:
            return f"{_show(value)} is not a valid {name}"
        if is_date and not _real_date(value):
            return f"{_show(value)} is not a real calendar date"
        return None

    return check


def _base64(value: Any) -> str | None:
    if type(value) is not str:
        return f"must be a JSON string (base64Binary), got {_json_type(value)}"
    if not value or value.isspace():
        return "must not be empty or only whitespace"
    if len(value) % 4 == 0 and _BASE64.fullmatch(value):
        return None  # the usual shape: no whitespace, nothing copied
    if (control := _control_character(value)) is not None:
        return control
    packed = "".join(value.split())
    if len(packed) % 4 or not _BASE64.fullmatch(packed):
        return f"{_show(value)} is not valid base64Binary"
    return None


def _xhtml(value: Any) -> str | None:
    # Narrative.div: only the outer shape is checked here (txt-1/txt-2 need an XHTML parser).
    if type(value) is not str:
        return f"must be a JSON string (xhtml), got {_json_type(value)}"
    if not value.lstrip().startswith("<div"):
        return "xhtml must be a <div> element"
    if (control := _control_character(value)) is not None:
        return control
    return None


def _boolean(value: Any) -> str | None:
    return None if type(value) is bool else f"must be a JSON boolean, got {_json_type(value)}"


def _decimal(value: Any) -> str | None:
    # A Decimal (lifeline.jsontext) is a JSON decimal read with its digits; a float, one built in code.
    if type(value) is int or (type(value) in (float, Decimal) and math.isfinite(value)):
        return None
    return f"must be a JSON number (decimal), got {_json_type(value)}"


def _integer_checker(name: str) -> Checker:
    low = INTEGER_RANGES[name]

    def check(value: Any) -> str | None:
        if type(value) is not int:
            return f"must be a JSON integer ({name}), got {_json_type(value)}"
        if not low <= value <= INT32_MAX:
            return f"{value} is out of range for {name} ({low}..{INT32_MAX})"
        return None

    return check


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer number"
    if isinstance(value, float):
        return "a decimal number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _show(value: str) -> str:
    return repr(value if len(value) <= 40 else value[:40] + "...")


def build_checkers(primitives: dict[str, dict[str, str]]) -> dict[str, Checker]:
    """One checker per R4 primitive type, from the compiled definitions' ``primitives`` table."""
    checkers: dict[str, Checker] = {}
    for name, spec in primitives.items():
        if name == "boolean":
            checkers[name] = _boolean
        elif name == "decimal":
            checkers[name] = _decimal
        elif name in INTEGER_RANGES:
            checkers[name] = _integer_checker(name)
        elif name == "xhtml":
            checkers[name] = _xhtml
        elif name == "base64Binary":
            checkers[name] = _base64
        else:
            checkers[name] = _string_checker(name, spec.get("regex"))
    return checkers
