"""Each structural error is caught, with its issue code and FHIRPath location."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from lifeline.fhir.errors import InvalidResource
from lifeline.fhir.validation import Validator
from tests.fhir.validation import samples

Resource = dict[str, Any]


def changed(make: Callable[[], Resource], change: Callable[[Resource], Any]) -> Resource:
    resource = make()
    change(resource)
    return resource


def errors(validator: Validator, resource: Any) -> list[tuple[str, str, str]]:
    with pytest.raises(InvalidResource) as caught:
        validator.validate(resource)
    issues = caught.value.issues
    assert all(issue.severity == "error" for issue in issues)
    return [(issue.code, issue.expression[0], issue.diagnostics) for issue in issues]


# (case, resource, issue code, location, words the message must contain)
CASES: list[tuple[str, Resource, str, str, str]] = [
    # Unknown elements
    ("unknown element", changed(samples.patient, lambda r: r.update(nickname="Jensi")), "structure", "Patient.nickname", "nickname"),
    ("unknown nested", changed(samples.patient, lambda r: r["name"][0].update(title="Dr")), "structure", "Patient.name[0].title", "title"),
    ("choice stem", changed(samples.observation, lambda r: r.update(value=5)), "structure", "Observation.value", "valueQuantity"),
    ("choice type not allowed", changed(samples.observation, lambda r: r.update(valueDecimal=5)), "structure", "Observation.valueDecimal", "valueDecimal"),
    ("resourceType not at root", changed(samples.patient, lambda r: r["name"][0].update(resourceType="HumanName")), "structure", "Patient.name[0].resourceType", "resourceType"),
    ("fhir_comments", changed(samples.patient, lambda r: r.update(fhir_comments=["x"])), "structure", "Patient.fhir_comments", "fhir_comments"),
    ("_x of a complex element", changed(samples.patient, lambda r: r.update(_address=[{"id": "a"}])), "structure", "Patient._address", "_address"),
    ("unknown in _x", changed(samples.patient, lambda r: r.update(_birthDate={"value": "x"})), "structure", "Patient.birthDate.value", "value"),
    ("unknown in contained", changed(samples.with_contained, lambda r: r["contained"][0].update(form="tablet")), "structure", "MedicationRequest.contained[0].form", "form"),
    ("unknown in content reference", changed(samples.questionnaire, lambda r: r["item"][0]["item"][1]["item"][0].update(hint="x")), "structure", "Questionnaire.item[0].item[1].item[0].hint", "hint"),
    # Two variants of one choice element
    ("two choices", changed(samples.observation, lambda r: r.update(valueString="5.4")), "structure", "Observation.valueString", "valueQuantity"),
    ("two choices in backbone", changed(samples.questionnaire, lambda r: r["item"][0]["item"][1]["enableWhen"][0].update(answerString="y")), "structure", "Questionnaire.item[0].item[1].enableWhen[0].answerString", "answerBoolean"),
    # JSON types of primitives
    ("boolean as string", changed(samples.patient, lambda r: r.update(active="true")), "value", "Patient.active", "boolean"),
    ("date as number", changed(samples.patient, lambda r: r.update(birthDate=19720515)), "value", "Patient.birthDate", "string"),
    ("decimal as string", changed(samples.observation, lambda r: r["valueQuantity"].update(value="5.4")), "value", "Observation.valueQuantity.value", "number"),
    ("integer as decimal", changed(samples.questionnaire, lambda r: r["item"][0].update(maxLength=2.5)), "value", "Questionnaire.item[0].maxLength", "integer"),
    ("integer over 32 bits", changed(samples.questionnaire, lambda r: r["item"][0].update(maxLength=2**31)), "value", "Questionnaire.item[0].maxLength", "range"),
    ("string as object", changed(samples.patient, lambda r: r["name"][0].update(family={"text": "Hansen"})), "value", "Patient.name[0].family", "string"),
    ("object as string", changed(samples.observation, lambda r: r.update(code="glucose")), "structure", "Observation.code", "object"),
    # Regexes and calendar dates
    ("date format", changed(samples.patient, lambda r: r.update(birthDate="15-05-1972")), "value", "Patient.birthDate", "date"),
    ("date not in calendar", changed(samples.patient, lambda r: r.update(birthDate="1972-02-30")), "value", "Patient.birthDate", "calendar"),
    ("dateTime time without zone", changed(samples.observation, lambda r: r.update(effectiveDateTime="2024-03-01T08:30:00")), "value", "Observation.effectiveDateTime", "dateTime"),
    ("instant without time", changed(samples.observation, lambda r: r.update(issued="2024-03-01")), "value", "Observation.issued", "instant"),
    ("bad id", changed(samples.patient, lambda r: r.update(id="p_1!")), "value", "Patient.id", "id"),
    ("id too long", changed(samples.patient, lambda r: r.update(id="x" * 65)), "value", "Patient.id", "id"),
    ("code with spaces", changed(samples.patient, lambda r: r["telecom"][0].update(use="home ")), "value", "Patient.telecom[0].use", "code"),
    ("uri with space", changed(samples.observation, lambda r: r["code"]["coding"][0].update(system="http://loinc .org")), "value", "Observation.code.coding[0].system", "uri"),
    ("xhtml not a div", changed(samples.patient, lambda r: r["text"].update(div="<p>Jens</p>")), "value", "Patient.text.div", "div"),
    # Cardinality
    ("missing Observation.code", changed(samples.observation, lambda r: r.pop("code")), "required", "Observation.code", "code"),
    ("missing Observation.status", changed(samples.observation, lambda r: r.pop("status")), "required", "Observation.status", "status"),
    ("missing nested linkId", changed(samples.questionnaire, lambda r: r["item"][0]["item"][0].pop("linkId")), "required", "Questionnaire.item[0].item[0].linkId", "linkId"),
    ("missing required choice", changed(samples.questionnaire, lambda r: r["item"][0]["item"][1]["enableWhen"][0].pop("answerBoolean")), "required", "Questionnaire.item[0].item[1].enableWhen[0].answer", "answer"),
    ("missing Extension.url", changed(samples.patient, lambda r: r.update(extension=[{"valueString": "x"}])), "required", "Patient.extension[0].url", "url"),
    ("missing in content reference", changed(samples.transaction, lambda r: r["entry"][0].update(link=[{"url": "http://x"}])), "required", "Bundle.entry[0].link[0].relation", "relation"),
    ("array for max 1", changed(samples.patient, lambda r: r.update(gender=["male"])), "structure", "Patient.gender", "array"),
    ("array for max 1 complex", changed(samples.observation, lambda r: r.update(code=[r["code"]])), "structure", "Observation.code", "array"),
    ("single for max *", changed(samples.patient, lambda r: r.update(name=r["name"][0])), "structure", "Patient.name", "array"),
    ("single for max * primitive", changed(samples.patient, lambda r: r["name"][0].update(given="Jens")), "structure", "Patient.name[0].given", "array"),
    ("max 0 in SimpleQuantity", changed(samples.observation, lambda r: r["referenceRange"][0]["low"].update(comparator="<")), "structure", "Observation.referenceRange[0].low.comparator", "comparator"),
    # Empty and null values
    ("empty string", changed(samples.patient, lambda r: r["name"][0].update(family="")), "value", "Patient.name[0].family", "empty"),
    ("whitespace string", changed(samples.patient, lambda r: r["name"][0].update(family="   ")), "value", "Patient.name[0].family", "whitespace"),
    ("null", changed(samples.patient, lambda r: r.update(gender=None)), "structure", "Patient.gender", "null"),
    ("null in array", changed(samples.patient, lambda r: r["name"][0].update(given=["Jens", None])), "structure", "Patient.name[0].given[1]", "null"),
    ("null complex in array", changed(samples.patient, lambda r: r["telecom"].append(None)), "structure", "Patient.telecom[2]", "null"),
    ("empty object", changed(samples.patient, lambda r: r.update(meta={})), "structure", "Patient.meta", "empty"),
    ("empty array", changed(samples.patient, lambda r: r.update(telecom=[])), "structure", "Patient.telecom", "empty"),
    ("_x list misaligned", changed(samples.primitive_extensions, lambda r: r["name"][0]["_given"].append(None)), "structure", "Patient.name[0].given", "as many"),
    ("null in _x without value", changed(samples.primitive_extensions, lambda r: r["name"][0].update(given=[None, None])), "structure", "Patient.name[0].given[0]", "null"),
    # Required bindings
    ("gender robot", changed(samples.patient, lambda r: r.update(gender="robot")), "code-invalid", "Patient.gender", "robot"),
    ("Observation.status", changed(samples.observation, lambda r: r.update(status="done")), "code-invalid", "Observation.status", "done"),
    ("code in backbone", changed(samples.questionnaire, lambda r: r["item"][0].update(type="folder")), "code-invalid", "Questionnaire.item[0].type", "folder"),
    ("code in datatype", changed(samples.patient, lambda r: r["name"][0].update(use="nick")), "code-invalid", "Patient.name[0].use", "nick"),
    ("code in Bundle entry", changed(samples.transaction, lambda r: r["entry"][1]["resource"].update(status="done")), "code-invalid", "Bundle.entry[1].resource.status", "done"),
    ("Bundle.entry.request.method", changed(samples.transaction, lambda r: r["entry"][2]["request"].update(method="PATCHY")), "code-invalid", "Bundle.entry[2].request.method", "PATCHY"),
    # ele-1 and ext-1, natively
    ("ele-1 only id", changed(samples.patient, lambda r: r.update(maritalStatus={"id": "m"})), "invariant", "Patient.maritalStatus", "ele-1"),
    ("ele-1 _x without value", changed(samples.patient, lambda r: r.update(_gender={"id": "g"}, gender=None) or r.pop("gender")), "invariant", "Patient.gender", "ele-1"),
    ("ext-1 both", changed(samples.patient, lambda r: r.update(extension=[{"url": "http://x", "valueString": "a", "extension": [{"url": "y", "valueInteger": 1}]}])), "invariant", "Patient.extension[0]", "ext-1"),
    ("ext-1 neither", changed(samples.patient, lambda r: r.update(modifierExtension=[{"url": "http://x"}])), "invariant", "Patient.modifierExtension[0]", "ext-1"),
    ("extension value checked", changed(samples.patient, lambda r: r.update(extension=[{"url": "http://x", "valueDate": "2024-13-01"}])), "value", "Patient.extension[0].valueDate", "date"),
    # Resources and resourceType
    ("no resourceType", changed(samples.patient, lambda r: r.pop("resourceType")), "structure", "Resource", "resourceType"),
    ("unknown resourceType", changed(samples.patient, lambda r: r.update(resourceType="Patients")), "not-supported", "Patients", "Patients"),
    ("abstract resourceType", {"resourceType": "DomainResource"}, "not-supported", "DomainResource", "DomainResource"),
    ("unknown contained type", changed(samples.with_contained, lambda r: r["contained"][0].update(resourceType="Drug")), "not-supported", "MedicationRequest.contained[0]", "Drug"),
    ("entry resource without type", changed(samples.transaction, lambda r: r["entry"][0]["resource"].pop("resourceType")), "structure", "Bundle.entry[0].resource", "resourceType"),
    ("Parameters resource", {"resourceType": "Parameters", "parameter": [{"name": "p", "resource": {"resourceType": "Patient", "gender": "x"}}]}, "code-invalid", "Parameters.parameter[0].resource.gender", "x"),
]


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
