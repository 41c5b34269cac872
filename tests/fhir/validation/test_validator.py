"""The Validator's interface: valid resources pass, expected types, resource types, CPR numbers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from lifeline.cpr import is_valid_cpr
from lifeline.errors import InvalidResource
from lifeline.fhir.validation import Validator
from tests.fhir.validation import samples


@pytest.mark.parametrize("make", samples.VALID.values(), ids=samples.VALID.keys())
@pytest.mark.parametrize("mode", ["off", "warn", "strict"])
def test_valid_resources_pass(make: Callable[[], dict[str, Any]], mode: str, request: pytest.FixtureRequest) -> None:
    fixture = {"off": "structural_validator", "warn": "validator", "strict": "strict_validator"}[mode]
    validator: Validator = request.getfixturevalue(fixture)
    warnings = validator.validate(make())
    assert all(issue.severity == "warning" and issue.code == "invariant" for issue in warnings)
    if mode == "off":
        assert warnings == []


def test_validate_does_not_change_the_resource(validator: Validator) -> None:
    resource = samples.transaction()
    validator.validate(resource)
    assert resource == samples.transaction()


def test_expected_type_must_match(structural_validator: Validator) -> None:
    structural_validator.validate(samples.patient(), expected_type="Patient")
    with pytest.raises(InvalidResource) as caught:
        structural_validator.validate(samples.patient(), expected_type="Observation")
    [issue] = caught.value.issues
    assert (issue.severity, issue.code, issue.expression) == ("error", "invalid", ["Patient"])
    assert "Observation" in issue.diagnostics and "Patient" in issue.diagnostics
    assert caught.value.status == 400


def test_unknown_resource_type_message_is_clear(structural_validator: Validator) -> None:
    with pytest.raises(InvalidResource) as caught:
        structural_validator.validate({"resourceType": "Patientt"}, expected_type="Patient")
    messages = [issue.diagnostics for issue in caught.value.issues]
    assert any("Unknown resourceType 'Patientt'" in message for message in messages)


def test_resource_types_are_the_concrete_r4_resources(validator: Validator) -> None:
    assert len(validator.resource_types) == 146
    for name in ("Patient", "Observation", "Bundle", "Parameters", "Binary", "MedicinalProduct"):
        assert validator.is_resource_type(name)
    # Abstract bases, datatypes, logical models and the R4B backport are not resource types.
    for name in ("Resource", "DomainResource", "MetadataResource", "SubscriptionStatus", "HumanName", "patient"):
        assert not validator.is_resource_type(name)


def test_invariants_mode_is_checked() -> None:
    with pytest.raises(ValueError, match="invariants"):
        Validator(invariants="loud")


def mod11(cpr: str) -> bool:
    return sum(int(d) * w for d, w in zip(cpr, (4, 3, 2, 7, 6, 5, 4, 3, 2, 1), strict=True)) % 11 == 0


def patient_with_cpr(value: str) -> dict[str, Any]:
    resource = samples.patient()
    resource["identifier"] = [{"use": "official", "system": samples.CPR, "value": value}]
    return resource


def test_cpr_failing_modulus_11_is_accepted(structural_validator: Validator) -> None:
    cpr = samples.CPR_WITHOUT_MOD11
    assert not mod11(cpr) and is_valid_cpr(cpr)
    structural_validator.validate(patient_with_cpr(cpr))


@pytest.mark.parametrize(
    "value",
    ["3102901234", "150572345", "15057234570", "150572-3457", "1513723457", "abcdefghij"],
    ids=["31 February", "9 digits", "11 digits", "hyphen", "month 13", "letters"],
)
def test_invalid_cpr_is_an_error(structural_validator: Validator, value: str) -> None:
    with pytest.raises(InvalidResource) as caught:
        structural_validator.validate(patient_with_cpr(value))
    [issue] = caught.value.issues
    assert (issue.code, issue.expression) == ("value", ["Patient.identifier[0].value"])
    assert "CPR" in issue.diagnostics and value not in issue.diagnostics  # no personal data in logs


def test_cpr_checked_in_every_identifier(structural_validator: Validator) -> None:
    bad = {"system": samples.CPR, "value": "3102901234"}
    bundle = samples.transaction()
    bundle["entry"][0]["resource"]["identifier"] = [{"system": "urn:oid:1.2.208.176.1.1", "value": "x"}, bad]
    bundle["entry"][1]["resource"]["contained"] = [{"resourceType": "Patient", "id": "c", "identifier": [bad]}]
    bundle["entry"][1]["resource"]["performer"] = [{"reference": "#c"}, {"identifier": bad}]
    with pytest.raises(InvalidResource) as caught:
        structural_validator.validate(bundle)
    assert sorted(loc for issue in caught.value.issues for loc in issue.expression) == [
        "Bundle.entry[0].resource.identifier[1].value",
        "Bundle.entry[1].resource.contained[0].identifier[0].value",
        "Bundle.entry[1].resource.performer[1].identifier.value",
    ]


def test_other_identifier_systems_are_not_cpr_checked(structural_validator: Validator) -> None:
    resource = samples.patient()
    resource["identifier"] = [{"system": "urn:oid:1.2.208.176.1.6.1.1", "value": "3102901234"}]
    structural_validator.validate(resource)
