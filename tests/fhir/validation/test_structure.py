"""Each structural error is caught, with its issue code and FHIRPath location."""

# ruff: noqa: E501 - one line per case keeps the table readable

from __future__ import annotations

from typing import Any

import pytest

from lifeline.errors import InvalidResource
from lifeline.fhir.validation import Validator
from tests.fhir.validation import samples
from tests.fhir.validation.samples import DROP, patched

Resource = dict[str, Any]
patient, observation, questionnaire = samples.patient, samples.observation, samples.questionnaire
contained, transaction, extended = samples.with_contained, samples.transaction, samples.primitive_extensions
WHEN, WHEN_AT = "item.0.item.1.enableWhen.0", "Questionnaire.item[0].item[1].enableWhen[0]"
EXTENSION = {"url": "http://example.org/x", "valueInteger": 1}
PARAMETERS = {
    "resourceType": "Parameters",
    "parameter": [{"name": "p", "resource": {"resourceType": "Patient", "gender": "x"}}],
}


def errors(validator: Validator, resource: Any) -> list[tuple[str, str, str]]:
    with pytest.raises(InvalidResource) as caught:
        validator.validate(resource)
    issues = caught.value.issues
    assert all(issue.severity == "error" for issue in issues)
    return [(issue.code, issue.expression[0], issue.diagnostics) for issue in issues]


# (case, resource, issue code, location, words the message must contain)
CASES: list[tuple[str, Resource, str, str, str]] = [
    # Unknown elements
    ("unknown element", patched(patient, {"nickname": "Jensi"}), "structure", "Patient.nickname", "nickname"),
    ("unknown nested", patched(patient, {"name.0.title": "Dr"}), "structure", "Patient.name[0].title", "title"),
    ("choice stem", patched(observation, {"value": 5}), "structure", "Observation.value", "valueQuantity"),
    ("choice type not allowed", patched(observation, {"valueDecimal": 5}), "structure", "Observation.valueDecimal", "valueDecimal"),
    ("resourceType not at root", patched(patient, {"name.0.resourceType": "HumanName"}), "structure", "Patient.name[0].resourceType", "root"),
    ("fhir_comments", patched(patient, {"fhir_comments": ["x"]}), "structure", "Patient.fhir_comments", "fhir_comments"),
    ("_x of a complex element", patched(patient, {"_address": [{"id": "a"}]}), "structure", "Patient._address", "_address"),
    ("unknown in _x", patched(patient, {"_birthDate": {"value": "x"}}), "structure", "Patient.birthDate.value", "value"),
    ("unknown in contained", patched(contained, {"contained.0.form": "tablet"}), "structure", "MedicationRequest.contained[0].form", "form"),
    ("unknown in content reference", patched(questionnaire, {"item.0.item.1.item.0.hint": "x"}), "structure", "Questionnaire.item[0].item[1].item[0].hint", "hint"),
    # Two variants of one choice element
    ("two choices", patched(observation, {"valueString": "5.4"}), "structure", "Observation.valueString", "valueQuantity"),
    ("two choices in backbone", patched(questionnaire, {f"{WHEN}.answerString": "y"}), "structure", f"{WHEN_AT}.answerString", "answerBoolean"),
    # JSON types of primitives
    ("boolean as string", patched(patient, {"active": "true"}), "value", "Patient.active", "boolean"),
    ("date as number", patched(patient, {"birthDate": 19720515}), "value", "Patient.birthDate", "string"),
    ("decimal as string", patched(observation, {"valueQuantity.value": "5.4"}), "value", "Observation.valueQuantity.value", "number"),
    ("integer as decimal", patched(questionnaire, {"item.0.maxLength": 2.5}), "value", "Questionnaire.item[0].maxLength", "integer"),
    ("integer over 32 bits", patched(questionnaire, {"item.0.maxLength": 2**31}), "value", "Questionnaire.item[0].maxLength", "range"),
    ("string as object", patched(patient, {"name.0.family": {"text": "H"}}), "value", "Patient.name[0].family", "string"),
    ("object as string", patched(observation, {"code": "glucose"}), "structure", "Observation.code", "object"),
    # Regexes and calendar dates
    ("date format", patched(patient, {"birthDate": "15-05-1972"}), "value", "Patient.birthDate", "date"),
    ("date not in calendar", patched(patient, {"birthDate": "1972-02-30"}), "value", "Patient.birthDate", "calendar"),
    ("dateTime without zone", patched(observation, {"effectiveDateTime": "2024-03-01T08:30:00"}), "value", "Observation.effectiveDateTime", "dateTime"),
    ("instant without time", patched(observation, {"issued": "2024-03-01"}), "value", "Observation.issued", "instant"),
    ("bad id", patched(patient, {"id": "p_1!"}), "value", "Patient.id", "id"),
    ("id too long", patched(patient, {"id": "x" * 65}), "value", "Patient.id", "id"),
    ("code with spaces", patched(patient, {"telecom.0.use": "home "}), "value", "Patient.telecom[0].use", "code"),
    ("uri with space", patched(observation, {"code.coding.0.system": "http://loinc .org"}), "value", "Observation.code.coding[0].system", "uri"),
    ("xhtml not a div", patched(patient, {"text.div": "<p>Jens</p>"}), "value", "Patient.text.div", "div"),
    # Cardinality
    ("missing Observation.code", patched(observation, {"code": DROP}), "required", "Observation.code", "code"),
    ("missing Observation.status", patched(observation, {"status": DROP}), "required", "Observation.status", "status"),
    ("missing nested linkId", patched(questionnaire, {"item.0.item.0.linkId": DROP}), "required", "Questionnaire.item[0].item[0].linkId", "linkId"),
    ("missing required choice", patched(questionnaire, {f"{WHEN}.answerBoolean": DROP}), "required", f"{WHEN_AT}.answer", "answer"),
    ("missing Extension.url", patched(patient, {"extension": [{"valueString": "x"}]}), "required", "Patient.extension[0].url", "url"),
    ("missing in content reference", patched(transaction, {"entry.0.link": [{"url": "http://x"}]}), "required", "Bundle.entry[0].link[0].relation", "relation"),
    ("array for max 1", patched(patient, {"gender": ["male"]}), "structure", "Patient.gender", "array"),
    ("array for max 1 complex", patched(observation, {"code": lambda code: [code]}), "structure", "Observation.code", "array"),
    ("single for max *", patched(patient, {"name": lambda names: names[0]}), "structure", "Patient.name", "array"),
    ("single for max * primitive", patched(patient, {"name.0.given": "Jens"}), "structure", "Patient.name[0].given", "array"),
    ("max 0 in SimpleQuantity", patched(observation, {"referenceRange.0.low.comparator": "<"}), "structure", "Observation.referenceRange[0].low.comparator", "comparator"),
    # Empty and null values
    ("empty string", patched(patient, {"name.0.family": ""}), "value", "Patient.name[0].family", "empty"),
    ("whitespace string", patched(patient, {"name.0.family": "   "}), "value", "Patient.name[0].family", "whitespace"),
    ("null", patched(patient, {"gender": None}), "structure", "Patient.gender", "null"),
    ("null in array", patched(patient, {"name.0.given.1": None}), "structure", "Patient.name[0].given[1]", "null"),
    ("null complex in array", patched(patient, {"telecom.2": None}), "structure", "Patient.telecom[2]", "null"),
    ("empty object", patched(patient, {"meta": {}}), "structure", "Patient.meta", "empty"),
    ("empty array", patched(patient, {"telecom": []}), "structure", "Patient.telecom", "empty"),
    ("_x list misaligned", patched(extended, {"name.0._given.2": None}), "structure", "Patient.name[0].given", "as many"),
    ("null in _x without value", patched(extended, {"name.0.given.1": None, "name.0._given.1": None}), "structure", "Patient.name[0].given[1]", "null"),
    # Required bindings
    ("gender robot", patched(patient, {"gender": "robot"}), "code-invalid", "Patient.gender", "robot"),
    ("Observation.status", patched(observation, {"status": "done"}), "code-invalid", "Observation.status", "done"),
    ("code in backbone", patched(questionnaire, {"item.0.type": "folder"}), "code-invalid", "Questionnaire.item[0].type", "folder"),
    ("code in datatype", patched(patient, {"name.0.use": "nick"}), "code-invalid", "Patient.name[0].use", "nick"),
    ("code in Bundle entry", patched(transaction, {"entry.1.resource.status": "done"}), "code-invalid", "Bundle.entry[1].resource.status", "done"),
    ("Bundle.entry.request", patched(transaction, {"entry.2.request.method": "PATCHY"}), "code-invalid", "Bundle.entry[2].request.method", "PATCHY"),
    # ele-1 and ext-1, natively
    ("ele-1 only id", patched(patient, {"maritalStatus": {"id": "m"}}), "invariant", "Patient.maritalStatus", "ele-1"),
    ("ele-1 _x without value", patched(patient, {"gender": DROP, "_gender": {"id": "g"}}), "invariant", "Patient.gender", "ele-1"),
    ("ext-1 both", patched(patient, {"extension": [{**EXTENSION, "extension": [EXTENSION]}]}), "invariant", "Patient.extension[0]", "ext-1"),
    ("ext-1 neither", patched(patient, {"modifierExtension": [{"url": "http://x"}]}), "invariant", "Patient.modifierExtension[0]", "ext-1"),
    ("extension value checked", patched(patient, {"extension": [{**EXTENSION, "valueString": ""}]}), "value", "Patient.extension[0].valueString", "empty"),
    # Resources and resourceType
    ("no resourceType", patched(patient, {"resourceType": DROP}), "structure", "Resource", "resourceType"),
    ("unknown resourceType", patched(patient, {"resourceType": "Patients"}), "not-supported", "Patients", "Patients"),
    ("abstract resourceType", {"resourceType": "DomainResource"}, "not-supported", "DomainResource", "DomainResource"),
    ("unknown contained type", patched(contained, {"contained.0.resourceType": "Drug"}), "not-supported", "MedicationRequest.contained[0]", "Drug"),
    ("entry resource without type", patched(transaction, {"entry.0.resource.resourceType": DROP}), "structure", "Bundle.entry[0].resource", "resourceType"),
    ("Parameters resource", PARAMETERS, "code-invalid", "Parameters.parameter[0].resource.gender", "x"),
]  # fmt: skip


@pytest.mark.parametrize(("resource", "code", "location", "words"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_error_is_caught_at_its_location(
    structural_validator: Validator, resource: Resource, code: str, location: str, words: str
) -> None:
    found = errors(structural_validator, resource)
    matching = [message for c, loc, message in found if (c, loc) == (code, location)]
    assert matching, f"expected {code} at {location}, got {found}"
    assert any(words.lower() in message.lower() for message in matching), matching


@pytest.mark.parametrize("body", [[samples.patient()], "Patient", None, 42], ids=["array", "string", "null", "number"])
def test_body_must_be_a_json_object(structural_validator: Validator, body: Any) -> None:
    assert errors(structural_validator, body) == [("structure", "Resource", "A resource must be a JSON object")]


def test_all_errors_are_reported_not_just_the_first(structural_validator: Validator) -> None:
    resource = samples.patient()
    resource.update(gender="robot", birthDate="1972-13-01", nickname="J")
    resource["name"][0]["given"] = "Jens"
    found = {(code, loc) for code, loc, _ in errors(structural_validator, resource)}
    assert found == {
        ("code-invalid", "Patient.gender"),
        ("value", "Patient.birthDate"),
        ("structure", "Patient.nickname"),
        ("structure", "Patient.name[0].given"),
    }
