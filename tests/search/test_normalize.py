"""normalize: case-folded, accents removed, Danish æ ø å kept (https://hl7.org/fhir/R4/search.html#string)."""

from __future__ import annotations

import pytest

from lifeline.search.normalize import normalize


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Müller", "muller"),
        ("Søren", "søren"),
        ("Åse", "åse"),
        ("ÆRØ", "ærø"),
        ("Zoë", "zoe"),
        ("José", "jose"),
        ("Straße", "strasse"),
        ("ﬁle", "file"),
        ("Hansen", "hansen"),
        ("", ""),
    ],
)
def test_normalize(text: str, expected: str) -> None:
    assert normalize(text) == expected


def test_normalize_is_idempotent() -> None:
    for text in ("Müller", "Søren Åse Ærø", "Ångström"):
        assert normalize(normalize(text)) == normalize(text)
