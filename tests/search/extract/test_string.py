"""String entries: every HumanName and Address part, normalized and exact (search.html#string)."""

from __future__ import annotations

from lifeline.search.extract.string import add
from lifeline.storage.index_rows import StringEntry


def entries(*values: object) -> list[tuple[str, str]]:
    out: list[StringEntry] = []
    add("p", list(values), out)
    return [(e.normalized, e.exact) for e in out]


def test_human_name_parts_are_separate_entries() -> None:
    name = {
        "use": "official",
        "family": "Müller",
        "given": ["Søren", "Åse"],
        "prefix": ["Dr."],
        "text": "Dr. Søren Müller",
    }
    assert entries(name) == [
        ("muller", "Müller"),
        ("søren", "Søren"),
        ("åse", "Åse"),
        ("dr.", "Dr."),
        ("dr. søren muller", "Dr. Søren Müller"),
    ]


def test_address_parts() -> None:
    address = {"line": ["Nørregade 1", "2. tv"], "city": "København K", "postalCode": "1165", "country": "DK"}
    assert entries(address) == [
        ("nørregade 1", "Nørregade 1"),
        ("2. tv", "2. tv"),
        ("københavn k", "København K"),
        ("1165", "1165"),
        ("dk", "DK"),
    ]


def test_plain_strings_and_odd_data() -> None:
    assert entries("Hæmatologi", "", None, 5, ["x"], {"family": 7, "given": [None, "Bo"]}) == [
        ("hæmatologi", "Hæmatologi"),
        ("bo", "Bo"),
    ]
