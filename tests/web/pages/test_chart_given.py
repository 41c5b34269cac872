"""Recording a dose given (web/pages/chart/given_form.py) on both backends: the active
prescriptions offered through the JSON form, the form started from the one chosen; a dose written
as a MedicationAdministration against its MedicationRequest, once however often the form is sent;
bad input and a stopped prescription refused beside the field with nothing written; a patient
outside care refused; the write on the trail; markup shown as text."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import orjson
import pytest
from starlette.testclient import TestClient

from lifeline.clock import COPENHAGEN
from lifeline.fhir.request import FhirRequest
from lifeline.fhir.service import FhirService
from lifeline.identity.principal import OPERATOR
from lifeline.web.pages.chart import form_key
from tests.web.pages.test_chart import Ward, admitted_patient, prescription, put, ref
from tests.web.pages.test_chart_notes import doctor
from tests.web.pages.test_chart_results import _about, _position

SNOMED = "http://snomed.info/sct"
ORAL = "26643006"


@pytest.fixture
def ward(service: FhirService) -> Ward:
    """The chart's ward, and an insulin prescribed with its dose and route in a structure."""
    ward = admitted_patient(service)
    insulin = {"coding": [{"system": "http://www.whocc.no/atc", "code": "A10AE04"}], "text": "Insulin glargin"}
    dose = {"value": 20, "unit": "IE", "system": "http://unitsofmeasure.org", "code": "[iU]"}
    route = {"coding": [{"system": SNOMED, "code": "34206005"}], "text": "Under huden"}
    dosage = {"route": route, "doseAndRate": [{"doseQuantity": dose}]}
    put(service, prescription(f"ins-{ward.tag}", ref(f"Patient/{ward.mine}"), "active", insulin,
                              dosageInstruction=[dosage]))  # fmt: skip
    return ward


def given_json(web: TestClient, patient: str, **params: str) -> dict[str, Any]:
    answer = web.get(f"/patients/{patient}/medication/give", params={**params, "_format": "json"})
    assert answer.status_code == 200, answer.text
    assert answer.headers["cache-control"] == "no-store"
    return answer.json()  # type: ignore[no-any-return]


def stored(service: FhirService, patient: str) -> list[dict[str, Any]]:
    asking = FhirRequest("search", "MedicationAdministration", params=[("patient", patient)], principal=OPERATOR)
    bundle = orjson.loads(orjson.dumps(service.handle(asking).resource))
    return [e["resource"] for e in bundle.get("entry", []) if e["search"]["mode"] == "match"]


def now_field(service: FhirService, back: timedelta = timedelta(0)) -> str:
    return (service.clock() - back).astimezone(COPENHAGEN).strftime("%Y-%m-%dT%H:%M")


def give(web: TestClient, service: FhirService, ward: Ward, csrf: str, patient: str = "", **fields: str) -> Any:
    form = {"csrf": csrf, "key": form_key.new_key(), "request": f"ins-{ward.tag}", "dose": "20", "unit": "[iU]",
            "route": "34206005", "when": now_field(service), **fields}  # fmt: skip
    return web.post(f"/patients/{patient or ward.mine}/medication/give", data=form)


def test_the_active_prescriptions_are_offered(service: FhirService, ward: Ward) -> None:
    web, _, _ = doctor(service, ward)
    shown = given_json(web, ward.mine)
    assert shown["showing"] == "medication" and shown["patient"]["name"] == "Karen Sørensen"
    offered = {p["id"]: p for p in shown["prescriptions"]}
    assert list(offered) == [f"med-{ward.tag}", f"ins-{ward.tag}", f"med2-{ward.tag}"]  # by name; not the stopped
    assert offered[f"ins-{ward.tag}"]["dose"] == {"value": "20", "unit": "[iU]", "shown": "IE"}
    assert offered[f"med-{ward.tag}"]["dosage"]["text"] == "5 mg 2 gange dagligt"
    form = shown["form"]
    assert form["request"] == "" and form["dose"] == "" and form["when"].startswith("2026-11-22T")  # three to choose
    chosen = given_json(web, ward.mine, request=f"ins-{ward.tag}")["form"]
    assert (chosen["request"], chosen["dose"], chosen["unit"], chosen["route"]) == (
        f"ins-{ward.tag}", "20", "[iU]", "34206005")  # fmt: skip
    page = web.get(f"/patients/{ward.mine}/medication/give", params={"request": f"med2-{ward.tag}"}).text
    assert f'<option value="med2-{ward.tag}" selected>Metoprolol — 50 mg, 1 time per day</option>' in page
    assert 'value="50"' in page


def test_a_dose_given_is_a_medication_administration(service: FhirService, ward: Ward) -> None:
    web, _, csrf = doctor(service, ward)
    key = given_json(web, ward.mine)["form"]["key"]
    when = now_field(service, timedelta(minutes=30))
    answer = give(web, service, ward, csrf, key=key, dose="18", when=when)
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == f"/patients/{ward.mine}/medication#given"
    [given] = stored(service, ward.mine)
    assert given["status"] == "completed" and given["subject"] == {"reference": f"Patient/{ward.mine}"}
    assert given["medicationCodeableConcept"]["text"] == "Insulin glargin"
    assert given["request"] == {"reference": f"MedicationRequest/ins-{ward.tag}"}
    assert given["performer"] == [{"actor": {"reference": f"Practitioner/{ward.doctor}"}}]
    assert given["context"] == {"reference": f"Encounter/enc-{ward.tag}"}
    assert given["effectiveDateTime"] == when + ":00+01:00"
    assert given["dosage"]["dose"] == {"value": 18, "unit": "IE", "system": "http://unitsofmeasure.org", "code": "[iU]"}
    assert given["dosage"]["route"]["coding"] == [
        {"system": SNOMED, "code": "34206005", "display": "Subcutaneous route"}
    ]
    assert given["identifier"] == [{"system": form_key.KEY_SYSTEM, "value": key}]


def test_the_same_form_sent_twice_records_one_dose(service: FhirService, ward: Ward) -> None:
    web, _, csrf = doctor(service, ward)
    form = {"csrf": csrf, "key": form_key.new_key(), "request": f"med2-{ward.tag}", "dose": "2,5", "unit": "mg",
            "route": ORAL, "when": now_field(service)}  # fmt: skip
    first = web.post(f"/patients/{ward.mine}/medication/give", data=form)
    again = web.post(f"/patients/{ward.mine}/medication/give", data=form)
    assert first.status_code == again.status_code == 303
    [given] = stored(service, ward.mine)
    assert given["dosage"]["dose"]["value"] == 2.5
    assert give(web, service, ward, csrf).status_code == 303 and len(stored(service, ward.mine)) == 2


@pytest.mark.parametrize(
    ("fields", "field", "said"),
    [
        ({"request": ""}, "request", "Choose the prescription the dose was given for."),
        ({"request": "stopped-{tag}"}, "request", "This prescription is no longer active."),
        ({"request": "nothing"}, "request", "This prescription is no longer active."),
        ({"dose": ""}, "dose", "Write the dose given."),
        ({"dose": "lots"}, "dose", "Write the dose in digits"),
        ({"dose": "0"}, "dose", "The dose must be more than 0."),
        ({"dose": "1.23456"}, "dose", "At most 3 decimals."),
        ({"unit": "bucket"}, "unit", "Choose a unit."),
        ({"route": ""}, "route", "Choose the route it was given by."),
        ({"when": "2026-11-23T12:00"}, "when", "The time is in the future."),
        ({"when": ""}, "when", "Write the date and time."),
        ({"key": "x"}, "key", "The form was not complete."),
    ],
    ids=[
        "no-request",
        "stopped",
        "unknown",
        "no-dose",
        "word",
        "zero",
        "decimals",
        "unit",
        "route",
        "future",
        "no-time",
        "key",
    ],  # fmt: skip
)
def test_bad_input_is_refused_beside_the_field(
    service: FhirService, ward: Ward, fields: dict[str, str], field: str, said: str
) -> None:
    web, _, csrf = doctor(service, ward)
    answer = give(web, service, ward, csrf, **{k: v.replace("{tag}", ward.tag) for k, v in fields.items()})
    assert answer.status_code == 400 and said in answer.text, answer.text[-3000:]
    assert f'id="give-{field}-error"' in answer.text
    if field != "key":
        assert f'aria-invalid="true" aria-describedby="give-{field}-error' in answer.text
    assert stored(service, ward.mine) == []


def test_a_patient_outside_care_is_refused(service: FhirService, ward: Ward) -> None:
    web, _, csrf = doctor(service, ward)
    page = web.get(f"/patients/{ward.theirs}/medication/give")
    assert page.status_code == 403 and ward.theirs_name not in page.text
    assert web.get(f"/patients/{ward.theirs}/medication/give", params={"_format": "json"}).status_code == 403
    for fields in ({}, {"dose": ""}):
        refused = give(web, service, ward, csrf, patient=ward.theirs, **fields)
        assert refused.status_code == 403 and ward.theirs_name not in refused.text
    assert stored(service, ward.theirs) == [] and stored(service, ward.mine) == []
    assert give(web, service, ward, csrf, patient="no-such-patient").status_code == 404
    assert give(web, service, ward, "wrong").status_code == 403 and stored(service, ward.mine) == []


def test_no_active_prescription_says_so(service: FhirService) -> None:
    ward = admitted_patient(service)
    for id_ in (f"med-{ward.tag}", f"med2-{ward.tag}"):
        put(service, prescription(id_, ref(f"Patient/{ward.mine}"), "stopped", {"text": "Ophørt"}))
    web, _, _ = doctor(service, ward)
    page = web.get(f"/patients/{ward.mine}/medication/give").text
    assert 'id="no-prescriptions"' in page and 'id="give-form"' not in page


def test_the_dose_is_on_the_trail_as_the_staff_members(service: FhirService, ward: Ward) -> None:
    web, username, csrf = doctor(service, ward)
    position = _position(service)
    assert give(web, service, ward, csrf).status_code == 303
    [given] = stored(service, ward.mine)
    assert any(
        any(s["code"] == "create" for s in e["subtype"])
        and any(
            x.get("what", {}).get("reference", "").startswith(f"MedicationAdministration/{given['id']}/")
            for x in e["entity"]
        )  # fmt: skip
        for e in _about(service, username, ward.mine, position)
    )


def test_markup_is_shown_as_text(service: FhirService, ward: Ward) -> None:
    put(service, prescription(f"x-{ward.tag}", ref(f"Patient/{ward.mine}"), "active", {"text": "<b>Drug</b>"},
                              dosageInstruction=[{"text": "<script>alert(1)</script>"}]))  # fmt: skip
    web, _, _ = doctor(service, ward)
    page = web.get(f"/patients/{ward.mine}/medication/give").text
    assert "<script>alert(1)" not in page and "<b>Drug" not in page and "&lt;b&gt;Drug&lt;/b&gt;" in page


def test_the_form_in_danish(service: FhirService, ward: Ward) -> None:
    web, _, csrf = doctor(service, ward, "da")
    page = web.get(f"/patients/{ward.mine}/medication/give", params={"request": f"ins-{ward.tag}"}).text
    for said in ("Registrér en given dosis", "Gem dosen", "Under huden"):
        assert said in page, said
    assert "Skriv dosen med tal" in give(web, service, ward, csrf, dose="meget").text
