"""Parameters answered from other parameters' rows (SearchParameter.stored, issue 27).

`combo-code` is `code | component-code`, `combo-value-quantity` is `value-quantity |
component-value-quantity`, `combo-code-value-quantity` the composites of both, Patient's
`phonetic` is `name` again: none has rows of its own, each reads those of its parts, and finds
exactly what its own rows found (https://hl7.org/fhir/R4/observation.html#search), with every
modifier and on both backends.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from lifeline.storage.param_numbers import parameter
from tests.search.query.database import IndexDatabase, filled_database, search_cases

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"


def _quantity(value: float) -> dict[str, Any]:
    return {"value": value, "unit": "mm[Hg]", "system": UCUM, "code": "mm[Hg]"}


RESOURCES: list[dict[str, Any]] = [
    {  # a panel: its code, and two components with codes and values of their own
        "resourceType": "Observation",
        "id": "bp",
        "status": "final",
        "code": {"coding": [{"system": LOINC, "code": "85354-9"}]},
        "component": [
            {"code": {"coding": [{"system": LOINC, "code": "8480-6"}]}, "valueQuantity": _quantity(120)},
            {"code": {"coding": [{"system": LOINC, "code": "8462-4"}]}, "valueQuantity": _quantity(80)},
        ],
    },
    {  # a single value under its own code
        "resourceType": "Observation",
        "id": "systolic",
        "status": "final",
        "code": {"coding": [{"system": LOINC, "code": "8480-6"}]},
        "valueQuantity": _quantity(135),
    },
    {  # a coded value, and a component without a value
        "resourceType": "Observation",
        "id": "coded",
        "status": "final",
        "code": {"coding": [{"system": LOINC, "code": "72166-2"}]},
        "valueCodeableConcept": {"coding": [{"system": LOINC, "code": "LA18978-9"}]},
        "component": [{"code": {"coding": [{"system": LOINC, "code": "8867-4"}]}, "dataAbsentReason": {"text": "x"}}],
    },
    {"resourceType": "Observation", "id": "bare", "status": "final"},
    {"resourceType": "Patient", "id": "p1", "name": [{"family": "Sørensen", "given": ["Åse"]}]},
    {"resourceType": "Patient", "id": "p2", "name": [{"family": "Hansen"}]},
    {"resourceType": "Patient", "id": "p3"},
]

CASES: list[tuple[str, list[tuple[str, str]], set[str]]] = [
    ("Observation", [("combo-code", f"{LOINC}|85354-9")], {"bp"}),  # the code
    ("Observation", [("combo-code", "8480-6")], {"bp", "systolic"}),  # a component's, and a code
    ("Observation", [("combo-code", "8462-4,72166-2")], {"bp", "coded"}),
    ("Observation", [("combo-code", "8867-4")], {"coded"}),
    ("Observation", [("combo-code:not", "8480-6")], {"coded", "bare"}),
    ("Observation", [("combo-code:missing", "true")], {"bare"}),
    ("Observation", [("combo-code:missing", "false")], {"bp", "systolic", "coded"}),
    ("Observation", [("combo-value-quantity", "gt100")], {"bp", "systolic"}),
    ("Observation", [("combo-value-quantity", f"80|{UCUM}|mm[Hg]")], {"bp"}),
    ("Observation", [("combo-value-quantity", "lt50")], set()),
    ("Observation", [("combo-value-quantity:missing", "true")], {"coded", "bare"}),
    ("Observation", [("combo-code-value-quantity", f"{LOINC}|8480-6$gt125")], {"systolic"}),
    ("Observation", [("combo-code-value-quantity", "8480-6$120")], {"bp"}),
    ("Observation", [("combo-code-value-quantity", "8462-4$120")], set()),  # paired within an element
    ("Observation", [("combo-value-concept", "LA18978-9")], {"coded"}),
    ("Observation", [("combo-data-absent-reason:text", "x")], {"coded"}),
    ("Observation", [("combo-code", "8480-6"), ("combo-value-quantity", "gt130")], {"systolic"}),
    ("Patient", [("phonetic", "søre")], {"p1"}),
    ("Patient", [("phonetic", "hansen,åse")], {"p1", "p2"}),
    ("Patient", [("phonetic:exact", "Hansen")], {"p2"}),
    ("Patient", [("phonetic:missing", "true")], {"p3"}),
]


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest) -> Iterator[IndexDatabase]:
    with filled_database(request.param, RESOURCES) as db:
        yield db


@search_cases(CASES)
def test_found_from_the_rows_of_their_parts(
    database: IndexDatabase, resource_type: str, params: list[tuple[str, str]], expected: set[str]
) -> None:
    assert database.search_every_way(resource_type, params) == expected


def test_they_have_no_rows_of_their_own(database: IndexDatabase) -> None:
    for table in ("search_token", "search_quantity", "search_composite", "search_string"):
        stored = {parameter(row[0])[1] for row in database.execute(f"SELECT DISTINCT pid FROM {table}")}
        assert not {p for p in stored if p.startswith("combo-") or p == "phonetic"}, table
    # while their parts have theirs
    tokens = {parameter(row[0])[1] for row in database.execute("SELECT DISTINCT pid FROM search_token")}
    assert {"code", "component-code", "value-concept", "component-data-absent-reason"} <= tokens
