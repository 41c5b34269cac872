"""The compiled FHIRPath subset: each shape selects what FHIRPath would, the rest falls back."""

from __future__ import annotations

from typing import Any

import pytest

from lifeline.search.extract import plan_for
from lifeline.search.extract.paths import Unsupported, compile_path, root_keys
from lifeline.search.registry import default_registry

CHOICES = default_registry().choice_elements

OBSERVATION: dict[str, Any] = {
    "resourceType": "Observation",
    "code": {"coding": [{"code": "a"}]},
    "subject": {"reference": "Patient/1"},
    "performer": [
        {"reference": "Practitioner/2"},
        {"reference": "http://other.example/fhir/Patient/3/_history/1"},
        {"type": "Patient", "identifier": {"value": "x"}},
    ],
    "valueQuantity": {"value": 1},
    "effectivePeriod": {"start": "2024"},
    "component": [{"valueString": "s"}, {"valueQuantity": {"value": 2}}],
    "extension": [{"url": "http://x/a", "valueString": "A"}, {"url": "http://x/b", "valueString": "B"}],
}


def select(expression: str, resource: dict[str, Any] = OBSERVATION) -> list[Any]:
    return compile_path(expression, resource["resourceType"], CHOICES)(resource)


def test_dotted_path_flattens_arrays() -> None:
    assert select("Observation.code.coding.code") == ["a"]
    assert select("Observation.performer.reference")[0] == "Practitioner/2"
    assert select("Observation.nothing.here") == []


def test_resource_and_relative_roots() -> None:
    assert select("Resource.code.coding.code") == ["a"]
    assert select("code.coding.code") == ["a"]


def test_union() -> None:
    assert select("Observation.subject | Observation.valueQuantity") == [{"reference": "Patient/1"}, {"value": 1}]


def test_choice_elements() -> None:
    assert select("Observation.value") == [{"value": 1}]
    assert select("Observation.effective") == [{"start": "2024"}]
    assert select("Observation.component.value") == ["s", {"value": 2}]


def test_of_type_and_as() -> None:
    assert select("(Observation.value.ofType(Quantity))") == [{"value": 1}]
    assert select("Observation.value.as(Quantity)") == [{"value": 1}]
    assert select("(Observation.value as Quantity)") == [{"value": 1}]
    assert select("Observation.value.ofType(string)") == []
    assert select("(Observation.component.value.ofType(Quantity))") == [{"value": 2}]
    assert select("(Observation.component.value.ofType(string))") == ["s"]


def test_where_resolve_is() -> None:
    patients = select("Observation.performer.where(resolve() is Patient)")
    assert patients == OBSERVATION["performer"][1:]
    assert select("Observation.subject.where(resolve() is Group)") == []


def test_where_field_equals() -> None:
    patient = {
        "resourceType": "Patient",
        "telecom": [{"system": "phone", "value": "1"}, {"system": "email", "value": "2"}],
    }
    assert select("Patient.telecom.where(system='email')", patient) == [{"system": "email", "value": "2"}]


def test_extension_and_indexers() -> None:
    assert select("Observation.extension('http://x/b').value") == ["B"]
    assert select("Observation.performer[1].reference") == [OBSERVATION["performer"][1]["reference"]]
    assert select("Observation.performer.first().reference") == ["Practitioner/2"]


def test_exists_and_not_false_shape() -> None:
    expression = "Patient.deceased.exists() and Patient.deceased != false"
    assert select(expression, {"resourceType": "Patient"}) == [False]
    assert select(expression, {"resourceType": "Patient", "deceasedBoolean": False}) == [False]
    assert select(expression, {"resourceType": "Patient", "deceasedBoolean": True}) == [True]
    assert select(expression, {"resourceType": "Patient", "deceasedDateTime": "2020"}) == [True]


@pytest.mark.parametrize(
    "expression",
    [
        "Observation.code.coding.count()",
        "Patient.name.where(given.exists())",
        "Observation.subject.resolve()",
        "Encounter.subject",  # another type's term
        "(Observation.value).ofType(Quantity)",
        "Observation.interpretation.ofType(CodeableConcept)",  # not a choice element
        "Observation.code + 1",
    ],
)
def test_unsupported_shapes(expression: str) -> None:
    with pytest.raises(Unsupported):
        compile_path(expression, "Observation", CHOICES)


def test_every_r4_parameter_compiles_to_the_fast_path() -> None:
    registry = default_registry()
    fallbacks = [(t, plan_for(registry, t).fallback_codes) for t in sorted(registry.resource_types)]
    assert [f for f in fallbacks if f[1]] == []


def test_fast_path_agrees_with_fhirpathpy_on_sample_resources() -> None:
    from fhirpathpy import evaluate
    from fhirpathpy.models import models

    for expression in (
        "Observation.code | Observation.subject",
        "(Observation.component.value.ofType(Quantity))",
        "Observation.extension('http://x/a').value",
    ):
        expected = evaluate(OBSERVATION, expression, model=models["r4"])
        assert select(expression) == expected, expression


def keyed(*names: str) -> set[str]:
    """Each name with the keys it has as a choice element of any type (`value` → valueQuantity …)."""
    return {key for name in names for key in (name, *CHOICES.get(name, ()))}


@pytest.mark.parametrize(
    ("expression", "keys"),
    [
        ("Observation.code.coding.code", keyed("code")),
        ("Observation.subject.where(resolve() is Patient)", keyed("subject")),
        ("Observation.value", keyed("value")),
        ("(Observation.value as Quantity)", {"valueQuantity"}),
        ("Observation.code | Observation.subject", keyed("code", "subject")),
        ("(Observation.code | Observation.subject).coding", keyed("code", "subject")),
        ("Observation", None),  # the resource itself, whatever it holds
        ("Observation.code | Observation", None),
        ("Observation.extension('http://x/a').value", None),  # a function first
    ],
)
def test_root_keys_name_the_keys_a_walker_starts_from(expression: str, keys: set[str] | None) -> None:
    walker = compile_path(expression, "Observation", CHOICES)
    assert root_keys(walker) == (None if keys is None else frozenset(keys))
    if keys is not None:  # and without them it finds nothing
        assert walker({k: v for k, v in OBSERVATION.items() if k not in keys}) == []


def test_the_boolean_shape_runs_on_every_resource() -> None:
    # It gives [False] for a Patient without `deceased`: skipping it would lose that entry.
    walker = compile_path("Patient.deceased.exists() and Patient.deceased != false", "Patient", CHOICES)
    assert root_keys(walker) is None
