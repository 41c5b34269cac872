"""Token entries per the R4 mapping table (https://hl7.org/fhir/R4/search.html#token)."""

from __future__ import annotations

from lifeline.search.extract.token import add
from lifeline.storage.index_rows import TokenEntry

CPR = "urn:oid:1.2.208.176.1.2"


def entries(*values: object) -> list[tuple[str | None, str | None, str | None]]:
    out: list[TokenEntry] = []
    add("p", list(values), out)
    return [(e.system, e.code, e.text) for e in out]


def test_codeable_concept_codings_and_text() -> None:
    concept = {
        "coding": [
            {"system": "http://loinc.org", "code": "8867-4", "display": "Heart rate"},
            {"system": "http://snomed.info/sct", "code": "364075005"},
        ],
        "text": "Puls (hjertefrekvens)",
    }
    assert entries(concept) == [
        ("http://loinc.org", "8867-4", "heart rate"),
        ("http://snomed.info/sct", "364075005", None),
        (None, None, "puls (hjertefrekvens)"),
    ]


def test_text_only_concept() -> None:
    assert entries({"text": "Hæmoglobin"}) == [(None, None, "hæmoglobin")]


def test_coding() -> None:
    assert entries({"system": "s", "code": "c", "display": "Ærlig"}) == [("s", "c", "ærlig")]


def test_cpr_identifier_with_type_text() -> None:
    identifier = {"use": "official", "system": CPR, "value": "0101901234", "type": {"text": "CPR-nummer"}}
    assert entries(identifier) == [(CPR, "0101901234", "cpr-nummer")]
    coded_type = {"system": CPR, "value": "1506851234", "type": {"coding": [{"display": "Personnummer"}]}}
    assert entries(coded_type) == [(CPR, "1506851234", "personnummer")]


def test_contact_point_is_its_value_without_system() -> None:
    assert entries({"system": "phone", "value": "+45 12 34 56 78", "use": "mobile"}) == [
        (None, "+45 12 34 56 78", None)
    ]
    assert entries({"value": "x@y.dk", "rank": 1}) == [(None, "x@y.dk", None)]


def test_primitives() -> None:
    assert entries("final", True, False, 3) == [
        (None, "final", None),
        (None, "true", None),
        (None, "false", None),
        (None, "3", None),
    ]


def test_odd_data_is_skipped() -> None:
    assert entries(None, "", {}, {"coding": [None, 5, {}]}, {"value": 5}, 1.5, [1]) == []
