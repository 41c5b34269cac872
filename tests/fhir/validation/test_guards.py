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
    questionnaire["item"][0]["item"].append(
        {"linkId": "d", "type": "display", "code": [{"code": "x"}], "required": True}
    )
    resources.append(questionnaire)
    resources.extend(EXTRA)
    return resources


CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
VERIFICATION = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
WHEN = {"question": "1", "operator": "exists", "answerBoolean": True}
EXTRA: list[dict[str, Any]] = [
    {
        "resourceType": "Questionnaire",
        "status": "draft",
        "name": "Smoking",
        "item": [
            {"linkId": "1", "type": "string", "initial": [{"valueString": "a"}, {"valueString": "b"}]},
            {"linkId": "2", "type": "string", "repeats": True, "initial": [{"valueString": "a"}, {"valueString": "b"}]},
            {"linkId": "3", "type": "boolean", "enableWhen": [WHEN, WHEN, WHEN], "maxLength": 3},
            {"linkId": "4", "type": "display", "enableWhen": [WHEN, WHEN, WHEN], "enableBehavior": "any"},
        ],
    },
    {
        "resourceType": "Encounter",
        "status": "finished",
        "class": {"code": "IMP"},
        # One zone: fhirpathpy 2.2 ignores zone offsets when it compares dateTimes (the guard does not).
        "period": {"start": "2024-03-01T08:00:00+01:00", "end": "2024-03-01T07:30:00+01:00"},
        "length": {"value": -5, "unit": "min", "system": samples.UCUM, "code": "min"},
        "participant": [{"period": {"start": "2024-03-02", "end": "2024-03-01"}}, {"period": {"start": "2024"}}],
    },
    {
        "resourceType": "Condition",
        "subject": {"reference": "Patient/p-1"},
        "onsetAge": {"value": -1, "unit": "a", "system": samples.UCUM, "code": "a"},
        "abatementAge": {"value": 3, "unit": "years"},
    },
    *(
        {
            "resourceType": "Condition",
            "subject": {"reference": "Patient/p-1"},
            "abatementDateTime": "2024-03-01",
            "clinicalStatus": {"coding": [{"system": CLINICAL, "code": clinical}, {"code": "resolved"}]},
            "verificationStatus": {"coding": [{"system": VERIFICATION, "code": verification}]},
        }
        for clinical, verification in (("resolved", "confirmed"), ("active", "entered-in-error"))
    ),
    {
        "resourceType": "Task",
        "status": "draft",
        "intent": "order",
        "authoredOn": "2024-03-02T10:00:00Z",
        "lastModified": "2024-03-01T10:00:00Z",
    },
    {
        "resourceType": "MedicationRequest",
        "status": "active",
        "intent": "order",
        "medicationCodeableConcept": {"text": "x"},
        "subject": {"reference": "Patient/p-1"},
        "dosageInstruction": [
            {"timing": {"repeat": {"duration": 2, "period": -1, "periodUnit": "d", "countMax": 3}}},
            {"timing": {"repeat": {"duration": 2, "durationUnit": "h", "count": 1, "countMax": 3, "offset": 5}}},
        ],
    },
]


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


CPT_2 = "value.empty() or system.exists()"
REF_1 = "reference.startsWith('#').not() or (reference.substring(1) in %rootResource.contained.id)"
CODED = "coding.where(system = 'x' and (code = 'y' or code = 'z')).exists()"
PER_1 = "start.hasValue().not() or end.hasValue().not() or (start <= end)"


@pytest.mark.parametrize(
    ("type_", "expression", "value", "verdict"),
    [
        ("ContactPoint", CPT_2, {"value": "1"}, FALSE),
        ("ContactPoint", CPT_2, {"system": "phone"}, TRUE),
        ("ContactPoint", CPT_2, {"value": "1", "_system": {"extension": []}}, UNKNOWN),
        ("Reference", REF_1, {"reference": "Patient/1"}, TRUE),
        ("Reference", REF_1, {"reference": "#a"}, UNKNOWN),
        ("Reference", REF_1, {"display": "x"}, UNKNOWN),
        ("Reference", "reference.startsWith('#').not()", {"display": "x"}, EMPTY),
        ("Period", PER_1, {"start": "2020"}, TRUE),
        ("Period", PER_1, {"start": "2020", "end": "2021"}, TRUE),
        ("Period", PER_1, {"start": "2021-02-01", "end": "2021-01-31"}, FALSE),
        ("Period", PER_1, {"start": "2021-01-01T10:00:00+01:00", "end": "2021-01-01T09:30:00Z"}, TRUE),
        ("Period", PER_1, {"start": "2021-01-01T10:00:00+01:00", "end": "2021-01-01T08:30:00Z"}, FALSE),
        ("Period", PER_1, {"start": "2021", "end": "2021-01"}, UNKNOWN),
        ("Period", PER_1, {"start": "2021-01-01T10:00:00.1234567Z", "end": "2021-01-01T10:00:00.1234568Z"}, UNKNOWN),
        ("Period", "start.count() > 0 and end.count() = 0", {"start": "2020"}, TRUE),
        ("Period", "start.matches('[0-9]+')", {}, EMPTY),
        ("Period", "start.matches('[0-9]+')", {"start": "2020"}, UNKNOWN),
        ("Period", "(start.exists() and end.exists()) xor start.exists()", {"start": "2020"}, TRUE),
        ("Period", "start.exists() = end.exists()", {"start": "2020"}, FALSE),
        ("Period", "start.exists() != end.exists()", {"start": "2020"}, TRUE),
        ("Period", "start.where(true).exists()", {}, FALSE),
        ("Period", "start.where(true).exists()", {"start": "2020"}, UNKNOWN),
        ("Period", "unknownName.exists()", {"start": "2020"}, UNKNOWN),
        ("CodeableConcept", CODED, {"coding": [{"system": "x", "code": "b"}, {"system": "x", "code": "y"}]}, TRUE),
        ("CodeableConcept", CODED, {"coding": [{"system": "x", "code": "b"}, {"code": "y"}]}, FALSE),
        ("CodeableConcept", CODED, {"text": "t"}, FALSE),
        ("CodeableConcept", CODED, {"coding": [{"system": "x", "_code": {"extension": []}}]}, UNKNOWN),
        ("CodeableConcept", f"{CODED[: -len('.exists()')]}.empty()", {"coding": [{"system": "x", "code": "y"}]}, FALSE),
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
    [
        "htmlChecks()",
        "a or b xor c",
        "name.substring(1) = 'x'",
        "(a | b).exists()",
        "x implies y implies z",
        "count() > 1",
    ],
)
def test_undecidable_expressions_get_no_guard(guards: Guards, expression: str) -> None:
    assert guards.compile(expression) is None
