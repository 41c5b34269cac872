"""Null and empty values: taken out with a warning each, or refused by the setting (validation/tidy.py)."""

from __future__ import annotations

import copy
import uuid
from dataclasses import replace
from typing import Any

import pytest

from lifeline.config import SettingError, from_environment
from lifeline.errors import InvalidResource
from lifeline.fhir.request import FhirRequest
from lifeline.fhir.service import FhirService
from lifeline.fhir.validation import Validator
from lifeline.fhir.validation.tidy import tidy
from lifeline.identity.principal import OPERATOR
from tests.conftest import TEST_SETTINGS, TickingClock, new_patient

FHIR = {"Content-Type": "application/fhir+json"}


def _patient(**extra: Any) -> dict[str, Any]:
    return {"resourceType": "Patient", "name": [{"family": "Holm", "given": ["Ida"]}], **extra}


def test_empty_values_are_taken_out_with_a_warning_each() -> None:
    resource = _patient(
        meta={},
        gender=None,
        birthDate="",
        telecom=[],
        address=[{}, {"city": "Roskilde", "line": []}],
        contact=[{"name": {"given": []}}],
    )
    warnings = tidy(resource, "Patient")
    assert resource == _patient(address=[{"city": "Roskilde"}])
    where = {w.expression[0]: w for w in warnings}
    assert set(where) == {
        "Patient.meta",
        "Patient.gender",
        "Patient.birthDate",
        "Patient.telecom",
        "Patient.address[0]",
        "Patient.address[1].line",
        "Patient.contact[0].name.given",
        "Patient.contact[0].name",
        "Patient.contact[0]",
        "Patient.contact",
    }
    assert all(w.severity == "warning" for w in warnings)
    assert "empty object" in where["Patient.meta"].diagnostics
    assert "null" in where["Patient.gender"].diagnostics
    assert "left empty" in where["Patient.contact"].diagnostics


def test_a_primitive_array_with_extensions_keeps_its_items_in_place() -> None:
    extension = {"extension": [{"url": "http://example.org/x", "valueString": "y"}]}
    resource = _patient(name=[{"given": ["Ida", None], "_given": [None, extension]}])
    before = copy.deepcopy(resource)
    assert tidy(resource, "Patient") == []
    assert resource == before


def test_what_changes_meaning_is_still_refused(validator: Validator) -> None:
    # An empty required element is then missing; a wrong type stays a wrong type.
    observation = {"resourceType": "Observation", "status": "", "code": {"text": "pulse"}}
    with pytest.raises(InvalidResource) as refused:
        validator.validate(observation, "Observation")
    codes = {(i.severity, i.code) for i in refused.value.issues}
    assert ("error", "required") in codes and ("warning", "structure") in codes
    with pytest.raises(InvalidResource):
        validator.validate(_patient(meta={}, gender=7), "Patient")


def test_the_refusing_setting_refuses_them(validator: Validator) -> None:
    refusing = Validator(invariants="off", empty_elements="refuse")
    with pytest.raises(InvalidResource, match="empty object"):
        refusing.validate(_patient(meta={}), "Patient")
    resource = _patient(meta={})
    assert ["Patient.meta"] in [w.expression for w in validator.validate(resource, "Patient")]
    assert "meta" not in resource


def test_a_create_with_empty_values_stores_the_resource_without_them(client) -> None:
    value = uuid.uuid4().hex
    body = new_patient(meta={}, identifier=[{"system": "urn:lifeline:test", "value": value}], telecom=[], gender=None)
    headers = {**FHIR, "Prefer": "return=OperationOutcome"}
    response = client.post("/fhir/Patient", json=body, headers=headers)
    assert response.status_code == 201, response.text
    issues = response.json()["issue"]
    assert {(i["severity"], i["expression"][0]) for i in issues} >= {
        ("warning", "Patient.meta"),
        ("warning", "Patient.telecom"),
        ("warning", "Patient.gender"),
    }
    stored = client.get("/fhir" + response.headers["Location"].split("/fhir", 1)[1].split("/_history")[0]).json()
    assert "telecom" not in stored and "gender" not in stored
    assert set(stored["meta"]) == {"versionId", "lastUpdated"}


def test_a_transaction_of_resources_with_empty_meta_is_taken_whole_with_warnings_per_entry(client) -> None:
    values = [uuid.uuid4().hex for _ in range(3)]
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "fullUrl": f"urn:uuid:{uuid.uuid4()}",
                "resource": new_patient(meta={}, identifier=[{"system": "urn:lifeline:test", "value": v}]),
                "request": {"method": "POST", "url": "Patient"},
            }
            for v in values
        ],
    }
    response = client.post("/fhir", json=bundle, headers=FHIR)
    assert response.status_code == 200, response.text
    for entry in response.json()["entry"]:
        assert entry["response"]["status"] == "201 Created"
        outcome = entry["response"]["outcome"]
        assert ("warning", "structure", ["Patient.meta"]) in [
            (i["severity"], i["code"], i["expression"]) for i in outcome["issue"]
        ]
        assert all(i["severity"] == "warning" for i in outcome["issue"])


def test_a_server_set_to_refuse_answers_400_and_writes_nothing(service: FhirService) -> None:
    refusing = FhirService(service.repo, replace(TEST_SETTINGS, empty_elements="refuse"), clock=TickingClock())
    value = uuid.uuid4().hex
    body = new_patient(meta={}, identifier=[{"system": "urn:lifeline:test", "value": value}])
    request = FhirRequest("create", "Patient", body=body, principal=OPERATOR)
    with pytest.raises(InvalidResource) as refused:
        refusing.handle(request)
    first = refused.value.issues[0]
    assert (first.severity, first.code, first.expression) == ("error", "structure", ["Patient.meta"])
    found = service.handle(
        FhirRequest("search", "Patient", params=[("identifier", f"urn:lifeline:test|{value}")], principal=OPERATOR)
    )
    assert found.resource["total"] == 0


def test_a_bad_setting_is_one_clear_line() -> None:
    with pytest.raises(SettingError, match="LIFELINE_EMPTY_ELEMENTS must be remove or refuse"):
        from_environment({"LIFELINE_EMPTY_ELEMENTS": "ignore"})
    with pytest.raises(ValueError, match="empty_elements must be one of"):
        Validator(empty_elements="ignore")
