"""Reference entries: local, versioned, absolute and canonical references (search.html#reference)."""

from __future__ import annotations

from lifeline.search.extract.reference import add, parse_reference, reference_type
from lifeline.storage.index_rows import ReferenceEntry


def entries(*values: object) -> list[tuple[str | None, str | None, str | None]]:
    out: list[ReferenceEntry] = []
    add("p", list(values), out)
    return [(e.target_type, e.target_id, e.url) for e in out]


def test_reference_forms() -> None:
    assert entries(
        {"reference": "Patient/123"},
        {"reference": "Patient/123/_history/4"},
        {"reference": "http://other.example/fhir/Patient/abc/_history/2"},
        {"reference": "urn:uuid:6a4a4a3c-7a4c-4a6e-9a0b-6f0e8b7c1d2e"},
        "http://hl7.org/fhir/ValueSet/example|4.0.1",
    ) == [
        ("Patient", "123", None),
        ("Patient", "123", None),
        ("Patient", "abc", "http://other.example/fhir/Patient/abc"),
        (None, None, "urn:uuid:6a4a4a3c-7a4c-4a6e-9a0b-6f0e8b7c1d2e"),
        (None, None, "http://hl7.org/fhir/ValueSet/example|4.0.1"),
    ]


def test_skipped_references() -> None:
    assert (
        entries(
            {"reference": "#contained-1"},
            {"identifier": {"system": "urn:oid:1.2.208.176.1.2", "value": "0101901234"}},
            {"display": "Dr. Hansen"},
            {"reference": "not a reference"},
            {"reference": 5},
            "#x",
            None,
        )
        == []
    )


def test_parse_and_type() -> None:
    assert parse_reference("Observation/o-1.2") == ("Observation", "o-1.2", None)
    assert reference_type("https://x.example/r4/Group/g1") == "Group"
    assert reference_type("Group") is None
    assert reference_type("foo/Patient/1") is None
