"""FHIRPath invariants: warnings in "warn" mode, Unprocessable in "strict" mode, skipped when unsupported."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from lifeline.fhir.errors import Unprocessable
from lifeline.fhir.validation import Validator
from tests.fhir.validation import samples

Resource = dict[str, Any]
# Constraint keys that fhirpathpy cannot evaluate: htmlChecks() and resolve() are not implemented.
KNOWN_SKIPPED = {"txt-1", "txt-2", "ctm-1"}


def changed(make: Callable[[], Resource], change: Callable[[Resource], Any]) -> Resource:
    resource = make()
    change(resource)
    return resource


def period(start: str, end: str) -> Callable[[Resource], Any]:
    return lambda r: r["identifier"][0].update(period={"start": start, "end": end})


# (case, resource, constraint key, location); each breaks one error-severity invariant.
BROKEN: list[tuple[str, Resource, str, str]] = [
    ("obs-6 value and dataAbsentReason", changed(samples.observation, lambda r: r.update(dataAbsentReason={"text": "lost"})), "obs-6", "Observation"),
    ("obs-3 empty reference range", changed(samples.observation, lambda r: r.update(referenceRange=[{"type": {"text": "normal"}}])), "obs-3", "Observation.referenceRange[0]"),
    ("cpt-2 value without system", changed(samples.patient, lambda r: r["telecom"][0].pop("system")), "cpt-2", "Patient.telecom[0]"),
    ("per-1 start after end", changed(samples.patient, period("2024-02-01", "2024-01-01")), "per-1", "Patient.identifier[0].period"),
    ("ref-1 dangling local reference", changed(samples.observation, lambda r: r.update(subject={"reference": "#nobody"})), "ref-1", "Observation.subject"),
    ("dom-2 nested contained", changed(samples.with_contained, lambda r: r["contained"][0].update(contained=[{"resourceType": "Substance", "code": {"text": "x"}}])), "dom-2", "MedicationRequest"),
    ("dom-3 unreferenced contained", changed(samples.with_contained, lambda r: r.update(medicationReference={"reference": "Medication/m"})), "dom-3", "MedicationRequest"),
    ("dom-4 contained versionId", changed(samples.with_contained, lambda r: r["contained"][0].update(meta={"versionId": "2"})), "dom-4", "MedicationRequest"),
    ("bdl-3 transaction entry without request", changed(samples.transaction, lambda r: r["entry"][0].pop("request")), "bdl-3", "Bundle"),
    ("bdl-1 total in a transaction", changed(samples.transaction, lambda r: r.update(total=3)), "bdl-1", "Bundle"),
    ("bdl-7 duplicate fullUrl", changed(samples.transaction, lambda r: r["entry"][1].update(fullUrl=r["entry"][0]["fullUrl"])), "bdl-7", "Bundle"),
    ("que-1 group without items", changed(samples.questionnaire, lambda r: r["item"][0]["item"][1].pop("item")), "que-1", "Questionnaire.item[0].item[1]"),
    ("que-2 duplicate linkId", changed(samples.questionnaire, lambda r: r["item"][0]["item"][0].update(linkId="1")), "que-2", "Questionnaire"),
    ("pat-1 empty contact", changed(samples.patient, lambda r: r.update(contact=[{"gender": "female"}])), "pat-1", "Patient.contact[0]"),
]


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


def test_engine_errors_never_escape(validator: Validator) -> None:
    # ras-2 casts with "as", which fhirpathpy rejects on some inputs; a failure must be a skip.
    assessment = {
        "resourceType": "RiskAssessment",
        "status": "final",
        "subject": {"reference": "Patient/p-1"},
        "prediction": [{"probabilityDecimal": 101}, {"probabilityRange": {"low": {"value": 1, "code": "%"}}}],
    }
    validator.validate(assessment)
