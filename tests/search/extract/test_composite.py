"""Composite extraction: components paired within their element, every R4 shape, odd data.

https://hl7.org/fhir/R4/search.html#composite
"""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from lifeline.search.extract import extract_index, plan_for
from lifeline.search.registry import default_registry
from lifeline.storage.index_rows import (
    COMPOSITE_COLUMNS,
    CompositeEntry,
    NumberEntry,
    QuantityEntry,
    ReferenceEntry,
    TokenEntry,
)

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"


def _component(code: str, value: float) -> dict[str, Any]:
    return {
        "code": {"coding": [{"system": LOINC, "code": code}]},
        "valueQuantity": {"value": value, "system": UCUM, "code": "mm[Hg]"},
    }


BLOOD_PRESSURE: dict[str, Any] = {
    "resourceType": "Observation",
    "status": "final",
    "code": {"coding": [{"system": LOINC, "code": "85354-9"}], "text": "Blood pressure"},
    "component": [_component("8480-6", 120), _component("8462-4", 80)],
}


def pairs(resource: dict[str, Any], param: str) -> list[tuple[Any, ...]]:
    """(code, value) of each entry: a token's code, a quantity's or number's value."""
    return [
        tuple(c.code if isinstance(c, TokenEntry) else getattr(c, "value", None) for c in e.components)
        for e in extract_index(resource).composites
        if e.param == param
    ]


def test_components_pair_within_their_element() -> None:
    assert pairs(BLOOD_PRESSURE, "component-code-value-quantity") == [("8480-6", 120.0), ("8462-4", 80.0)]
    assert pairs(BLOOD_PRESSURE, "code-value-quantity") == []  # the panel itself has no value
    # combo-code-value-quantity is those two together: it is answered from their rows, has none
    assert pairs(BLOOD_PRESSURE, "combo-code-value-quantity") == []


def test_an_entry_keeps_the_typed_entries_of_its_components() -> None:
    heart_rate = {
        "resourceType": "Observation",
        "code": {"coding": [{"system": LOINC, "code": "8867-4"}]},
        "valueQuantity": {"value": 72, "unit": "beats/minute", "system": UCUM, "code": "/min"},
    }
    entries = [e for e in extract_index(heart_rate).composites if e.param == "code-value-quantity"]
    assert entries == [
        CompositeEntry(
            "code-value-quantity",
            (
                TokenEntry("code", LOINC, "8867-4"),
                QuantityEntry("value-quantity", 72.0, 71.5, 72.5, UCUM, "/min", "beats/minute"),
            ),
        )
    ]
    row = dict(zip(COMPOSITE_COLUMNS, entries[0].values(), strict=True))
    assert (row["c1_system"], row["c1_code"], row["c2_value"], row["c2_code"], row["c2_unit"]) == (
        LOINC,
        "8867-4",
        72.0,
        "/min",
        "beats/minute",
    )
    assert row["c2_date_low"] is None and row["c3_value"] is None


def test_every_combination_of_an_elements_values() -> None:
    two_codes = {
        "resourceType": "Observation",
        "code": {"coding": [{"system": LOINC, "code": "a"}, {"system": "http://x", "code": "b"}]},
        "valueQuantity": {"value": 1},
    }
    assert pairs(two_codes, "code-value-quantity") == [("a", 1.0), ("b", 1.0)]


def test_text_only_concepts_give_no_composite_entry() -> None:
    text_only = {"resourceType": "Observation", "code": {"text": "vitals"}, "valueQuantity": {"value": 1}}
    assert pairs(text_only, "code-value-quantity") == []


def test_document_reference_relationship_is_corrected() -> None:
    # R4 ships the two component expressions swapped (relatesto: `code`, relation: `target`).
    document = {
        "resourceType": "DocumentReference",
        "relatesTo": [{"code": "replaces", "target": {"reference": "DocumentReference/d0"}}],
    }
    [entry] = extract_index(document).composites
    assert entry.components == (
        ReferenceEntry("relatesto", "DocumentReference", "d0", None),
        TokenEntry("relation", None, "replaces"),
    )


def test_group_characteristic_values_are_concepts_and_booleans_only() -> None:
    group = {
        "resourceType": "Group",
        "characteristic": [
            {"code": {"coding": [{"code": "smoker"}]}, "valueBoolean": True},
            {"code": {"coding": [{"code": "weight"}]}, "valueQuantity": {"value": 80, "code": "kg"}},
        ],
    }
    assert pairs(group, "characteristic-value") == [("smoker", "true")]


def test_percent_resource_components_read_from_the_root() -> None:
    sequence = {
        "resourceType": "MolecularSequence",
        "referenceSeq": {"chromosome": {"coding": [{"code": "1"}]}, "windowStart": 1, "windowEnd": 9},
        "variant": [{"start": 2, "end": 3}, {"start": 5}],  # the second has no end: no entry
    }
    [entry] = [e for e in extract_index(sequence).composites if e.param == "chromosome-variant-coordinate"]
    assert entry.components == (
        TokenEntry("chromosome", None, "1"),
        NumberEntry("variant-start", 2.0, 1.5, 2.5),
        NumberEntry("variant-end", 3.0, 2.5, 3.5),
    )


def test_every_r4_composite_is_extracted() -> None:
    registry = default_registry()
    for resource_type in sorted(registry.resource_types):
        composites = {
            c for c, p in registry.params_for(resource_type).items() if p.type == "composite" and not p.stored
        }
        planned = {t.code for step in plan_for(registry, resource_type).composites for t in step.targets}
        assert planned == composites, resource_type


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=6),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3),
    max_leaves=10,
)
_fields = st.sampled_from(["code", "component", "valueQuantity", "valueString", "valueCodeableConcept", "relatesTo"])


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(["Observation", "DocumentReference", "Group"]), st.dictionaries(_fields, _json, max_size=4))
def test_odd_data_never_raises(resource_type: str, fields: dict[str, Any]) -> None:
    for entry in extract_index({"resourceType": resource_type, **fields}).composites:
        assert len(entry.values()) == len(COMPOSITE_COLUMNS)
