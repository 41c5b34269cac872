"""FHIRPath invariants: warnings in "warn" mode, Unprocessable in "strict" mode, skipped when unsupported."""

# ruff: noqa: E501 - one line per case keeps the table readable

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from lifeline.errors import Unprocessable
from lifeline.fhir.request import FhirRequest
from lifeline.fhir.service import FhirService
from lifeline.fhir.validation import Validator
from lifeline.fhir.validation.invariants import Invariants
from lifeline.fhir.validation.model import Constraint, Model
from lifeline.fhir.validation.structure import Target
from lifeline.identity.principal import OPERATOR
from tests.fhir.validation import samples
from tests.fhir.validation.samples import DROP, patched

Resource = dict[str, Any]
# Constraint keys that fhirpathpy cannot evaluate: htmlChecks() and resolve() are not implemented.
KNOWN_SKIPPED = {"txt-1", "txt-2", "ctm-1"}
SUBSTANCE = {"resourceType": "Substance", "code": {"text": "x"}}


# (case, resource, constraint key, location); each breaks one error-severity invariant.
BROKEN: list[tuple[str, Resource, str, str]] = [
    ("obs-6 value and dataAbsentReason", patched(samples.observation, {"dataAbsentReason": {"text": "lost"}}), "obs-6", "Observation"),
    ("obs-3 empty reference range", patched(samples.observation, {"referenceRange": [{"type": {"text": "normal"}}]}), "obs-3", "Observation.referenceRange[0]"),
    ("cpt-2 value without system", patched(samples.patient, {"telecom.0.system": DROP}), "cpt-2", "Patient.telecom[0]"),
    ("per-1 start after end", patched(samples.patient, {"identifier.0.period": {"start": "2024-02-01", "end": "2024-01-01"}}), "per-1", "Patient.identifier[0].period"),
    ("ref-1 dangling local reference", patched(samples.observation, {"subject": {"reference": "#nobody"}}), "ref-1", "Observation.subject"),
    ("dom-2 nested contained", patched(samples.with_contained, {"contained.0.contained": [SUBSTANCE]}), "dom-2", "MedicationRequest"),
    ("dom-3 unreferenced contained", patched(samples.with_contained, {"medicationReference.reference": "Medication/m"}), "dom-3", "MedicationRequest"),
    ("dom-4 contained versionId", patched(samples.with_contained, {"contained.0.meta": {"versionId": "2"}}), "dom-4", "MedicationRequest"),
    ("bdl-3 transaction entry without request", patched(samples.transaction, {"entry.0.request": DROP}), "bdl-3", "Bundle"),
    ("bdl-1 total in a transaction", patched(samples.transaction, {"total": 3}), "bdl-1", "Bundle"),
    ("bdl-7 duplicate fullUrl", patched(samples.transaction, {"entry.1.fullUrl": "urn:uuid:61ebe359-bfdc-4613-8bf2-c5e300945f0a"}), "bdl-7", "Bundle"),
    ("que-1 group without items", patched(samples.questionnaire, {"item.0.item.1.item": DROP}), "que-1", "Questionnaire.item[0].item[1]"),
    ("que-2 duplicate linkId", patched(samples.questionnaire, {"item.0.item.0.linkId": "1"}), "que-2", "Questionnaire"),
    ("pat-1 empty contact", patched(samples.patient, {"contact": [{"gender": "female"}]}), "pat-1", "Patient.contact[0]"),
]  # fmt: skip


def warnings_of(validator: Validator, resource: Resource) -> set[tuple[str, str]]:
    issues = validator.validate(resource)
    assert all((issue.severity, issue.code) == ("warning", "invariant") for issue in issues)
    return {(issue.diagnostics.split(":")[0], issue.expression[0]) for issue in issues}


@pytest.mark.parametrize(("resource", "key", "location"), [c[1:] for c in BROKEN], ids=[c[0] for c in BROKEN])
def test_broken_invariant_warns(validator: Validator, resource: Resource, key: str, location: str) -> None:
    assert (key, location) in warnings_of(validator, resource)


@pytest.mark.parametrize(("resource", "key", "location"), [c[1:] for c in BROKEN], ids=[c[0] for c in BROKEN])
def test_broken_invariant_raises_in_strict_mode(
    strict_validator: Validator, resource: Resource, key: str, location: str
) -> None:
    with pytest.raises(Unprocessable) as caught:
        strict_validator.validate(resource)
    errors = [i for i in caught.value.issues if i.severity == "error"]
    assert any(i.code == "invariant" and i.diagnostics.startswith(key) and i.expression == [location] for i in errors)
    assert caught.value.status == 422


def test_invariants_off(structural_validator: Validator) -> None:
    for _, resource, _, _ in BROKEN:
        assert structural_validator.validate(resource) == []


def test_warning_severity_stays_a_warning_in_strict_mode(strict_validator: Validator) -> None:
    resource = samples.questionnaire()
    resource["name"] = "smoking questions"  # que-0 (warning): name should be machine-friendly
    issues = strict_validator.validate(resource)
    assert ("warning", "invariant") in {(i.severity, i.code) for i in issues}
    assert any(i.diagnostics.startswith("que-0") for i in issues)
    assert any(i.diagnostics.startswith("dom-6") for i in issues)  # no narrative


def test_valid_resources_hold_their_error_invariants(validator: Validator) -> None:
    for make in samples.VALID.values():
        keys = {key for key, _ in warnings_of(validator, make())}
        assert keys <= {"dom-6"}, (make.__name__, keys)


def test_unsupported_expressions_are_skipped_and_counted() -> None:
    validator = Validator()
    validator.validate(samples.patient())  # has a narrative: txt-1 and txt-2 need htmlChecks()
    care_team = {
        "resourceType": "CareTeam",
        "participant": [{"member": {"reference": "Practitioner/a"}, "onBehalfOf": {"reference": "Organization/b"}}],
    }
    validator.validate(care_team)  # ctm-1 needs resolve()
    assert set(validator.skipped_invariants) == KNOWN_SKIPPED
    assert validator.skipped_invariants["txt-1"] == 1


@pytest.mark.parametrize(
    "expression",
    ["name.family.as(string) = 'a'", "name.substring(1)", "htmlChecks()", "name.where("],
    ids=["raises while evaluating", "wrong arity", "unknown function", "does not parse"],
)
def test_engine_failures_are_skipped_never_raised(expression: str) -> None:
    model = Model()
    invariants = Invariants(model)
    patient = {"resourceType": "Patient", "name": [{"family": "a"}, {"family": "b"}]}
    node = model.node("Patient")
    target = Target((), node.base, node, patient, "Patient", patient, patient)
    assert invariants.holds(Constraint("tst-x", "error", "test", expression), target) is None
    assert invariants.skipped == {"tst-x": 1}


# que-7 is `operator = 'exists' implies (answer is Boolean)`: `Boolean` is the System type, which a
# FHIR boolean's value has (https://hl7.org/fhir/R4/fhirpath.html#types).
EXISTS_BOOLEAN = {"item.0.item.1.enableWhen.0": {"question": "1.1", "operator": "exists", "answerBoolean": True}}
EXISTS_STRING = {"item.0.item.1.enableWhen.0": {"question": "1.1", "operator": "exists", "answerString": "yes"}}


def test_que_7_holds_for_exists_with_a_boolean_answer(strict_validator: Validator) -> None:
    issues = strict_validator.validate(patched(samples.questionnaire, EXISTS_BOOLEAN))
    assert not any(i.diagnostics.startswith("que-7") for i in issues)
    assert "que-7" not in strict_validator.skipped_invariants  # evaluated, not skipped


def test_que_7_still_refuses_exists_with_a_string_answer(strict_validator: Validator) -> None:
    with pytest.raises(Unprocessable) as caught:
        strict_validator.validate(patched(samples.questionnaire, EXISTS_STRING))
    assert any(
        i.diagnostics.startswith("que-7") and i.expression == ["Questionnaire.item[0].item[1].enableWhen[0]"]
        for i in caught.value.issues
    )


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("active is Boolean", True),
        ("active is boolean", True),
        ("active is String", False),
        ("birthDate is Date", True),
        ("birthDate is DateTime", False),
        ("name.family is String", True),
        ("multipleBirthInteger is Integer", True),
        ("true is Boolean", True),
        ("'x' is Boolean", False),
    ],
)
def test_fhir_primitives_are_their_system_types(expression: str, expected: bool) -> None:
    model = Model()
    invariants = Invariants(model)
    patient = {
        "resourceType": "Patient",
        "active": True,
        "birthDate": "1980-01-01",
        "name": [{"family": "a"}],
        "multipleBirthInteger": 2,
    }
    node = model.node("Patient")
    target = Target((), node.base, node, patient, "Patient", patient, patient)
    assert invariants.holds(Constraint("tst-x", "error", "test", f"({expression}) = true"), target) is expected
    assert not invariants.skipped


def test_a_questionnaire_with_exists_and_a_boolean_answer_is_stored_in_strict_mode(service: FhirService) -> None:
    """The same, through the core's write path on each backend."""
    strict = FhirService(service.repo, dataclasses.replace(service.settings, invariants="strict"), clock=service.clock)
    questionnaire = patched(samples.questionnaire, EXISTS_BOOLEAN)
    response = strict.handle(FhirRequest("create", "Questionnaire", body=questionnaire, principal=OPERATOR))
    assert response.status == 201
    with pytest.raises(Unprocessable):
        strict.handle(
            FhirRequest(
                "create", "Questionnaire", body=patched(samples.questionnaire, EXISTS_STRING), principal=OPERATOR
            )
        )
