"""Primitive values: JSON type, R4 regex, range, real calendar dates."""

from __future__ import annotations

from typing import Any

import pytest

from lifeline.fhir.validation.model import definitions
from lifeline.fhir.validation.primitives import build_checkers

CHECKERS = build_checkers(definitions()["primitives"])

# (type, value, valid)
TABLE: list[tuple[str, Any, bool]] = [
    ("boolean", True, True),
    ("boolean", "true", False),
    ("boolean", 1, False),
    ("integer", 0, True),
    ("integer", -(2**31), True),
    ("integer", 2**31, False),
    ("integer", 1.0, False),
    ("integer", True, False),
    ("integer", "1", False),
    ("positiveInt", 1, True),
    ("positiveInt", 0, False),
    ("unsignedInt", 0, True),
    ("unsignedInt", -1, False),
    ("decimal", 5.4, True),
    ("decimal", 5, True),
    ("decimal", float("inf"), False),
    ("decimal", "5.4", False),
    ("decimal", False, False),
    ("string", "Jens", True),
    ("string", "", False),
    ("string", " \n", False),
    ("string", "x" * (1024 * 1024 + 1), False),
    ("markdown", "**bold**", True),
    ("id", "a-Z.9", True),
    ("id", "a" * 64, True),
    ("id", "a" * 65, False),
    ("id", "a_b", False),
    ("code", "final", True),
    ("code", "two words", True),
    ("code", " final", False),
    ("code", "a  b", False),
    ("uri", "urn:oid:1.2.208.176.1.2", True),
    ("uri", "http://x y", False),
    ("url", "https://example.org/fhir", True),
    ("canonical", "http://hl7.org/fhir/ValueSet/x|4.0.1", True),
    ("oid", "urn:oid:1.2.208.176.1.2", True),
    ("oid", "1.2.208", False),
    ("uuid", "urn:uuid:61ebe359-bfdc-4613-8bf2-c5e300945f0a", True),
    ("uuid", "urn:uuid:61EBE359-BFDC-4613-8BF2-C5E300945F0A", False),
    ("base64Binary", "aGVsbG8=", True),
    ("base64Binary", "not base64!", False),
    ("date", "2024", True),
    ("date", "2024-02", True),
    ("date", "2024-02-29", True),
    ("date", "2023-02-29", False),
    ("date", "2024-13", False),
    ("date", "24-01-01", False),
    ("date", "2024-01-01T10:00:00Z", False),
    ("dateTime", "2024-01-01T10:00:00+01:00", True),
    ("dateTime", "2024-01-01T10:00:00.123Z", True),
    ("dateTime", "2024-01-01", True),
    ("dateTime", "2024-01-01T10:00:00", False),
    ("dateTime", "2024-01-01T25:00:00Z", False),
    ("dateTime", "2024-04-31T10:00:00Z", False),
    ("instant", "2024-01-01T10:00:00.000Z", True),
    ("instant", "2024-01-01", False),
    ("time", "08:30:00", True),
    ("time", "8:30", False),
    ("xhtml", '<div xmlns="http://www.w3.org/1999/xhtml">x</div>', True),
    ("xhtml", "plain text", False),
]


@pytest.mark.parametrize(("type_", "value", "valid"), TABLE, ids=[f"{t}-{str(v)[:20]!r}" for t, v, _ in TABLE])
def test_primitive(type_: str, value: Any, valid: bool) -> None:
    problem = CHECKERS[type_](value)
    assert (problem is None) == valid, problem


def test_every_r4_primitive_has_a_checker() -> None:
    assert set(CHECKERS) == {
        "base64Binary", "boolean", "canonical", "code", "date", "dateTime", "decimal", "id", "instant",
        "integer", "markdown", "oid", "positiveInt", "string", "time", "unsignedInt", "uri", "url", "uuid",
        "xhtml",
    }  # fmt: skip


def test_base64_binary_has_no_string_cap_and_is_checked_in_one_pass() -> None:
    """An attachment is bounded by the body limit, not the 1 MB of a string; R4's regex is kept:
    groups of four from its alphabet, whitespace between groups (issue 26)."""
    check = CHECKERS["base64Binary"]
    assert check("QUJD" * (3 * 1024 * 1024)) is None  # 12 MB of base64, a scanned letter
    assert check("aGVs bG8=\n") is None
    for bad in ("aGVsbG8", "aGVs*G8=", "aGVs\x0bbG8=", "", 7):
        assert check(bad) is not None, bad
