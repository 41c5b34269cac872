"""Property: composite searches in SQL agree with a brute-force filter over the same components.

https://hl7.org/fhir/R4/search.html#composite — `component-code-value-quantity=[code]$[prefix][value]`
matches an Observation with one component having both that code and such a value; the reference
filter checks exactly that, component by component, with integer values (for which the number
ranges of https://hl7.org/fhir/R4/search.html#number reduce to plain comparisons).
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lifeline.storage.migrations import INDEX_TABLES
from tests.search.query.database import IndexDatabase, sqlite_database

CODES = ("a", "b", "c")
COMPARE: dict[str, Callable[[int, int], bool]] = {
    "eq": operator.eq,
    "ne": operator.ne,
    "gt": operator.gt,
    "lt": operator.lt,
    "ge": operator.ge,
    "le": operator.le,
    "sa": operator.gt,
    "eb": operator.lt,
}

_components = st.lists(st.tuples(st.sampled_from(CODES), st.integers(0, 9)), min_size=1, max_size=3)


@pytest.fixture(scope="module")
def database() -> Iterator[IndexDatabase]:
    with sqlite_database() as db:
        yield db


def observation(res_id: str, components: list[tuple[str, int]]) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": res_id,
        "code": {"coding": [{"code": "panel"}]},
        "component": [{"code": {"coding": [{"code": c}]}, "valueQuantity": {"value": v}} for c, v in components],
    }


@settings(max_examples=60, deadline=None)
@given(
    st.lists(_components, min_size=1, max_size=6),
    st.sampled_from(CODES),
    st.sampled_from(sorted(COMPARE)),
    st.integers(0, 9),
)
def test_components_match_within_one_component(
    database: IndexDatabase, observations: list[list[tuple[str, int]]], code: str, prefix: str, value: int
) -> None:
    for table in ("resource", *INDEX_TABLES):
        database.execute(f"DELETE FROM {table}")
    for i, components in enumerate(observations):
        database.insert(observation(f"o{i}", components))
    expected = {
        f"o{i}"
        for i, components in enumerate(observations)
        if any(c == code and COMPARE[prefix](v, value) for c, v in components)
    }
    found = database.search("Observation", [("component-code-value-quantity", f"{code}${prefix}{value}")])
    assert found == expected
