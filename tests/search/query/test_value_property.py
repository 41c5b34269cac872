"""Property: number and string searches in SQL agree with a brute-force Python filter.

The reference filters are written from the spec, independently of lifeline's parsers:
- number (https://hl7.org/fhir/R4/search.html#number): the search value's implicit range is half
  a unit of its last digit either side, computed with Decimal from the text; the prefixes as
  documented in lifeline/search/query/number.py;
- string (https://hl7.org/fhir/R4/search.html#string): starts-with and :contains compare
  case- and accent-folded text (a hand-written table for the alphabet used here, æ ø å kept as
  letters), :exact compares the text as written.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.search.query.database import IndexDatabase, sqlite_database

PREFIXES = ("eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap")
ALPHABET = "abeoøåæüéABEOÆØÅÜÉ -"
FOLD = {"Æ": "æ", "Ø": "ø", "Å": "å", "Ü": "u", "ü": "u", "É": "e", "é": "e"}


def _fold(text: str) -> str:
    return "".join(FOLD.get(ch, ch.lower()) for ch in text)


def _risk_assessments() -> list[tuple[str, str]]:
    rng = random.Random(21)
    return [
        (f"r{i}", f"{rng.randint(0, 1000) / 10 ** rng.choice((1, 2, 3)):.{rng.choice((1, 2, 3))}f}") for i in range(300)
    ]


def _patients() -> list[tuple[str, str]]:
    rng = random.Random(22)
    return [
        (f"p{i}", "".join(rng.choice(ALPHABET) for _ in range(rng.randint(1, 7))).strip() or "a") for i in range(300)
    ]


RISKS = _risk_assessments()
PATIENTS = _patients()


@pytest.fixture(scope="module")
def database() -> Iterator[IndexDatabase]:
    with sqlite_database() as db:
        for res_id, text in RISKS:
            db.insert(
                {
                    "resourceType": "RiskAssessment",
                    "id": res_id,
                    "status": "final",
                    "subject": {"reference": "Patient/x"},
                    "prediction": [{"probabilityDecimal": float(text)}],
                }
            )
        for res_id, family in PATIENTS:
            db.insert({"resourceType": "Patient", "id": res_id, "name": [{"family": family}]})
        yield db


def number_matches(prefix: str, text: str, stored: float) -> bool:
    exact = Decimal(text)
    half = Decimal(5).scaleb(exact.as_tuple().exponent - 1)  # type: ignore[operator]
    v, lo, hi = float(exact), float(exact - half), float(exact + half)
    if prefix == "eq":
        return lo <= stored < hi
    if prefix == "ne":
        return not lo <= stored < hi
    if prefix == "gt":
        return stored > v
    if prefix == "lt":
        return stored < v
    if prefix == "ge":
        return stored >= v
    if prefix == "le":
        return stored <= v
    if prefix == "sa":
        return stored >= hi
    if prefix == "eb":
        return stored < lo
    d = max(abs(v) / 10, (hi - lo) / 2)
    return v - d <= stored <= v + d


@settings(max_examples=200, deadline=None)
@given(
    prefix=st.sampled_from(PREFIXES),
    units=st.integers(0, 1000),
    decimals=st.integers(0, 3),
)
def test_number_search_agrees_with_brute_force(database: IndexDatabase, prefix: str, units: int, decimals: int) -> None:
    text = f"{units / 10**decimals:.{decimals}f}"
    # the stored value is what the JSON number parses to, as the write path sees it
    expected = {res_id for res_id, stored in RISKS if number_matches(prefix, text, float(stored))}
    assert database.search("RiskAssessment", [("probability", prefix + text)]) == expected


@settings(max_examples=200, deadline=None)
@given(
    modifier=st.sampled_from(["", ":contains", ":exact"]),
    query=st.one_of(
        st.text(alphabet=ALPHABET.strip(), min_size=1, max_size=3),
        st.sampled_from([family[:n] for _, family in PATIENTS for n in (1, 2, 4)]),
    ),
)
def test_string_search_agrees_with_brute_force(database: IndexDatabase, modifier: str, query: str) -> None:
    query = query.strip() or "a"
    if modifier == ":exact":
        expected = {res_id for res_id, family in PATIENTS if family == query}
    elif modifier == ":contains":
        expected = {res_id for res_id, family in PATIENTS if _fold(query) in _fold(family)}
    else:
        expected = {res_id for res_id, family in PATIENTS if _fold(family).startswith(_fold(query))}
    assert database.search("Patient", [("family" + modifier, query)]) == expected
