"""Native guards agree with fhirpathpy whenever they decide, and decide the common cases."""

from __future__ import annotations

from collections import Counter
from typing import Any

import fhirpathpy
import pytest
from fhirpathpy.engine.nodes import ResourceNode
from fhirpathpy.models import models

from lifeline.fhir.validation.guards import EMPTY, FALSE, TRUE, UNKNOWN, Guards
from lifeline.fhir.validation.invariants import OPTIONS
from lifeline.fhir.validation.model import Model, definitions
from lifeline.fhir.validation.structure import StructureCheck, Target
from tests.fhir.validation import samples

ENGINE_RESULT = {TRUE: [True], FALSE: [False], EMPTY: []}


@pytest.fixture(scope="module")
def model() -> Model:
    return Model()


@pytest.fixture(scope="module")
def guards(model: Model) -> Guards:
    return Guards(model)


def corpus() -> list[dict[str, Any]]:
    """Valid samples and variants that make guards answer TRUE, FALSE and EMPTY."""
    resources = [make() for make in samples.VALID.values()]
    obs = samples.observation()
    obs.update(dataAbsentReason={"text": "lost"}, referenceRange=[{"type": {"text": "x"}}], subject={"reference": "#x"})
    resources.append(obs)
    patient = samples.patient()
    patient["telecom"][0].pop("system")
    patient["identifier"][0]["period"] = {"start": "2024-02-01", "end": "2024-01-01"}
    patient["contact"] = [{"gender": "female"}, {"name": {"family": "Hansen"}}]
    resources.append(patient)
    for bundle_type in ("batch", "history", "searchset", "document"):
        bundle = samples.transaction()
        bundle["type"] = bundle_type
        bundle["entry"][0].pop("request")
        bundle["entry"][1]["fullUrl"] = bundle["entry"][0]["fullUrl"]
        resources.append(bundle)
    contained = samples.with_contained()
    contained["contained"][0]["meta"] = {"versionId": "2", "security": [{"code": "R"}]}
    resources.append(contained)
    questionnaire = samples.questionnaire()
    questionnaire["item"][0]["item"][1].pop("item")
    questionnaire["item"][0]["item"].append({"linkId": "d", "type": "display", "code": [{"code": "x"}], "required": True})
    resources.append(questionnaire)
    return resources


def targets(model: Model, resource: dict[str, Any]) -> list[Target]:
    check = StructureCheck(model, collect_targets=True)
    check.resource(resource, resource["resourceType"])
    assert check.errors == []
    assert check.targets is not None
    return check.targets


def test_every_definition_expression_compiles(guards: Guards) -> None:
    compiled = [guards.compile(c["expression"]) for c in definitions()["constraints"]]
    assert sum(g is not None for g in compiled) > 150


def test_guards_agree_with_fhirpathpy(model: Model, guards: Guards) -> None:
    fhir_model = models["r4"]
    decided: Counter[int] = Counter()
    for resource in corpus():
        for target in targets(model, resource):
            for constraint in target.constraints:
                guard = guards.compile(constraint.expression)
                verdict = UNKNOWN if guard is None else guard(target.node, target.value, target)
                if verdict == UNKNOWN:
                    continue
                engine = fhirpathpy.compile(constraint.expression, fhir_model, OPTIONS)
                env = {"resource": target.resource, "rootResource": target.root}
                try:
                    result = engine(ResourceNode.create_node(target.value, target.base), env)
                except Exception:  # the engine cannot evaluate it: nothing to compare
                    continue
                assert result == ENGINE_RESULT[verdict], (constraint.key, target.loc, verdict, result)
                decided[verdict] += 1
    assert decided[TRUE] > 50 and decided[FALSE] >= 5, decided


@pytest.mark.parametrize(
    ("type_", "expression", "value", "verdict"),
    [
        ("ContactPoint", "value.empty() or system.exists()", {"value": "1"}, FALSE),
        ("ContactPoint", "value.empty() or system.exists()", {"system": "phone"}, TRUE),
        ("ContactPoint", "value.empty() or system.exists()", {"value": "1", "_system": {"extension": []}}, UNKNOWN),
        ("Reference", "reference.startsWith('#').not() or (reference.substring(1) in %rootResource.contained.id)", {"reference": "Patient/1"}, TRUE),
        ("Reference", "reference.startsWith('#').not() or (reference.substring(1) in %rootResource.contained.id)", {"reference": "#a"}, UNKNOWN),
        ("Reference", "reference.startsWith('#').not() or (reference.substring(1) in %rootResource.contained.id)", {"display": "x"}, UNKNOWN),
        ("Reference", "reference.startsWith('#').not()", {"display": "x"}, EMPTY),
        ("Period", "start.hasValue().not() or end.hasValue().not() or (start <= end)", {"start": "2020"}, TRUE),
        ("Period", "start.hasValue().not() or end.hasValue().not() or (start <= end)", {"start": "2020", "end": "2021"}, UNKNOWN),
        ("Period", "(start.exists() and end.exists()) xor start.exists()", {"start": "2020"}, TRUE),
        ("Period", "start.exists() = end.exists()", {"start": "2020"}, FALSE),
        ("Period", "start.exists() != end.exists()", {"start": "2020"}, TRUE),
        ("Period", "start.where(true).exists()", {}, FALSE),
        ("Period", "start.where(true).exists()", {"start": "2020"}, UNKNOWN),
        ("Period", "unknownName.exists()", {"start": "2020"}, UNKNOWN),
    ],
)
def test_three_valued_answers(
    guards: Guards, model: Model, type_: str, expression: str, value: Any, verdict: int
) -> None:
    node = model.node(type_)
    guard = guards.compile(expression)
    assert guard is not None
    env = Target((), node.path, node, value, node.path, {"resourceType": "Basic"}, {"resourceType": "Basic"})
    assert guard(node, value, env) == verdict


@pytest.mark.parametrize(
    "expression",
    ["htmlChecks()", "a or b xor c", "name.matches('[A-Z]')", "(a | b).exists()", "x implies y implies z", "count() > 1"],
)
def test_undecidable_expressions_get_no_guard(guards: Guards, expression: str) -> None:
    assert guards.compile(expression) is None
