"""Recording vital signs (web/pages/chart/vitals_form.py) on both backends: the form through its
JSON form; a set written as Observations coded as the generator codes them, in one transaction,
once however often the form is sent; the set shown in the flowsheet after the redirect;
implausible values and times refused beside the field with nothing written; a patient outside
care refused; the writes on the trail as the staff member's; markup shown as text."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import orjson
import pytest
from starlette.testclient import TestClient

from lifeline import jsontext
from lifeline.clock import COPENHAGEN
from lifeline.fhir.request import FhirRequest
from lifeline.fhir.service import FhirService
from lifeline.identity.principal import OPERATOR
from lifeline.web.pages.chart import form_key, vitals_form
from tests.web.pages.test_chart import Ward, admitted_patient
from tests.web.pages.test_chart_notes import doctor
from tests.web.pages.test_chart_results import _about, _position
from tests.web.test_login_pages import browser

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"


@pytest.fixture
def ward(service: FhirService) -> Ward:
    return admitted_patient(service)


def form_json(web: TestClient, patient: str) -> dict[str, Any]:
    answer = web.get(f"/patients/{patient}/vitals/record", params={"_format": "json"})
    assert answer.status_code == 200, answer.text
    assert answer.headers["cache-control"] == "no-store"
    return answer.json()  # type: ignore[no-any-return]


def stored(service: FhirService, patient: str) -> list[dict[str, Any]]:
    """The patient's vital signs as stored, those the form wrote (with a form key)."""
    params = [("patient", patient), ("category", "vital-signs"), ("_count", "500")]
    bundle = orjson.loads(orjson.dumps(service.handle(FhirRequest("search", "Observation", params=params,
                                                                  principal=OPERATOR)).resource))  # fmt: skip
    found = [e["resource"] for e in bundle.get("entry", []) if e["search"]["mode"] == "match"]
    return [o for o in found if any(i.get("system") == form_key.KEY_SYSTEM for i in o.get("identifier", []))]


def now_field(service: FhirService, back: timedelta = timedelta(0)) -> str:
    return (service.clock() - back).astimezone(COPENHAGEN).strftime("%Y-%m-%dT%H:%M")


def send(web: TestClient, patient: str, csrf: str, **fields: str) -> Any:
    return web.post(f"/patients/{patient}/vitals/record", data={"csrf": csrf, "key": form_key.new_key(), **fields})


def test_the_form_needs_a_staff_login(service: FhirService, ward: Ward) -> None:
    answer = browser(service).get(f"/patients/{ward.mine}/vitals/record")
    assert answer.status_code == 303 and answer.headers["location"].startswith("/login?next=")
    sent = browser(service).post(f"/patients/{ward.mine}/vitals/record", data={"pulse": "70"})
    assert sent.status_code in (303, 403) and "/vitals" not in sent.headers.get("location", "/login")  # to the login
    assert stored(service, ward.mine) == []


def test_a_set_is_written_as_the_generator_writes_vital_signs(service: FhirService, ward: Ward) -> None:
    web, _, csrf = doctor(service, ward)
    shown = form_json(web, ward.mine)
    assert shown["showing"] == "vitals" and shown["patient"]["name"] == "Karen Sørensen"
    form = shown["form"]
    assert len(form["key"]) >= 16 and form["problems"] == {} and form["when"].startswith("2026-11-22T")
    assert form["kinds"]["pulse"] == {"value": "", "low": "20", "high": "300", "unit": "/min", "decimals": 0}
    fields = {"pulse": "72", "systolic": "128", "diastolic": "81", "resp": "16", "spo2": "97", "temp": "37,4",
              "weight": "71.25", "height": "168"}  # fmt: skip
    when = now_field(service, timedelta(minutes=10))
    answer = web.post(f"/patients/{ward.mine}/vitals/record",
                      data={"csrf": csrf, "key": form["key"], "when": when, **fields})  # fmt: skip
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == f"/patients/{ward.mine}/vitals#flowsheet"
    written = {o["code"]["coding"][0]["code"]: o for o in stored(service, ward.mine)}
    assert set(written) == {"8867-4", "85354-9", "9279-1", "59408-5", "8310-5", "29463-7", "8302-2"}
    pulse = written["8867-4"]
    assert pulse["status"] == "final" and pulse["subject"] == {"reference": f"Patient/{ward.mine}"}
    assert pulse["category"][0]["coding"][0]["code"] == "vital-signs"
    assert pulse["code"] == {"coding": [{"system": LOINC, "code": "8867-4", "display": "Heart rate"}], "text": "Puls"}
    assert pulse["valueQuantity"] == {"value": 72, "unit": "/min", "system": UCUM, "code": "/min"}
    assert pulse["encounter"] == {"reference": f"Encounter/enc-{ward.tag}"}
    assert pulse["performer"] == [{"reference": f"Practitioner/{ward.doctor}"}]
    assert pulse["identifier"] == [{"system": form_key.KEY_SYSTEM, "value": f"{form['key']}-8867-4"}]
    assert pulse["effectiveDateTime"] == when + ":00+01:00"  # Danish time, as typed
    assert written["8310-5"]["valueQuantity"] == {"value": 37.4, "unit": "°C", "system": UCUM, "code": "Cel"}
    assert written["29463-7"]["valueQuantity"]["value"] == 71.25
    pressure = written["85354-9"]
    assert "valueQuantity" not in pressure
    assert [(c["code"]["coding"][0]["code"], c["valueQuantity"]) for c in pressure["component"]] == [
        ("8480-6", {"value": 128, "unit": "mmHg", "system": UCUM, "code": "mm[Hg]"}),
        ("8462-4", {"value": 81, "unit": "mmHg", "system": UCUM, "code": "mm[Hg]"}),
    ]
    flowsheet = web.get(f"/patients/{ward.mine}/vitals", params={"_format": "json"}).json()
    rows = {r["code"]: r for r in flowsheet["rows"]}
    assert rows["85354-9"]["cells"][0]["value"] == "128/81" and rows["8867-4"]["cells"][0]["value"] == "72"
    assert rows["8302-2"]["cells"][0]["value"] == "168"


def test_the_same_form_sent_twice_writes_one_set(service: FhirService, ward: Ward) -> None:
    web, _, csrf = doctor(service, ward)
    form = {"csrf": csrf, "key": form_key.new_key(), "when": now_field(service), "pulse": "80", "temp": "38.1"}
    first = web.post(f"/patients/{ward.mine}/vitals/record", data=form)
    again = web.post(f"/patients/{ward.mine}/vitals/record", data=form)
    assert first.status_code == again.status_code == 303
    assert sorted(o["code"]["coding"][0]["code"] for o in stored(service, ward.mine)) == ["8310-5", "8867-4"]
    assert send(web, ward.mine, csrf, when=now_field(service), pulse="81").status_code == 303  # a new form
    assert len(stored(service, ward.mine)) == 3


@pytest.mark.parametrize(
    ("fields", "field", "said"),
    [
        ({}, "set", "Write at least one value."),
        ({"pulse": "17"}, "pulse", "Not plausible: between 20 and 300 /min."),
        ({"pulse": "72.5"}, "pulse", "Write a whole number."),
        ({"pulse": "fast"}, "pulse", "Write the value in digits"),
        ({"temp": "48"}, "temp", "Not plausible: between 25 and 45 °C."),
        ({"temp": "37.25"}, "temp", "At most 1 decimal."),
        ({"spo2": "101"}, "spo2", "between 50 and 100 %"),
        ({"resp": "2"}, "resp", "between 3 and 80 /min"),
        ({"weight": "0.2"}, "weight", "between 0.3 and 400 kg"),
        ({"height": "300"}, "height", "between 20 and 250 cm"),
        ({"systolic": "120"}, "diastolic", "Write both the systolic and the diastolic pressure."),
        ({"diastolic": "80"}, "systolic", "Write both the systolic and the diastolic pressure."),
        ({"systolic": "80", "diastolic": "90"}, "systolic", "The systolic pressure must be higher"),
        ({"pulse": "70", "when": ""}, "when", "Write the date and time."),
        ({"pulse": "70", "when": "yesterday"}, "when", "Write the date and the time"),
        ({"pulse": "70", "when": "2026-11-22T23:59"}, "when", "The time is in the future."),
        ({"pulse": "70", "when": "2026-11-01T10:00"}, "when", "more than 7 days ago"),
        ({"pulse": "70", "key": "short"}, "key", "The form was not complete."),
    ],
    ids=[
        "empty",
        "low",
        "whole",
        "word",
        "high",
        "decimals",
        "spo2",
        "resp",
        "weight",
        "height",
        "no-diastolic",
        "no-systolic",
        "order",
        "no-time",
        "bad-time",
        "future",
        "old",
        "bad-key",
    ],  # fmt: skip
)
def test_bad_values_are_refused_beside_the_field_with_nothing_written(
    service: FhirService, ward: Ward, fields: dict[str, str], field: str, said: str
) -> None:
    web, _, csrf = doctor(service, ward)
    form = {"csrf": csrf, "key": form_key.new_key(), "when": now_field(service), "resp": "", **fields}
    answer = web.post(f"/patients/{ward.mine}/vitals/record", data=form)
    assert answer.status_code == 400 and said in answer.text, answer.text[-4000:]
    assert f'id="vitals-{field}-error"' in answer.text and "Nothing was saved." in answer.text
    if field not in ("set", "key"):
        assert f'aria-invalid="true" aria-describedby="vitals-{field}-error' in answer.text
    for name, value in fields.items():
        if name in vitals_form.KINDS:
            assert f'name="{name}" value="{value}"' in answer.text  # kept as typed
    assert stored(service, ward.mine) == []


def test_a_patient_outside_care_is_refused(service: FhirService, ward: Ward) -> None:
    web, _, csrf = doctor(service, ward)
    page = web.get(f"/patients/{ward.theirs}/vitals/record")
    assert page.status_code == 403 and ward.theirs_name not in page.text
    assert web.get(f"/patients/{ward.theirs}/vitals/record", params={"_format": "json"}).status_code == 403
    for fields in ({"pulse": "70"}, {"pulse": "7000"}):
        refused = send(web, ward.theirs, csrf, when=now_field(service), **fields)
        assert refused.status_code == 403 and ward.theirs_name not in refused.text
    assert stored(service, ward.theirs) == []
    assert web.get("/patients/no-such-patient/vitals/record").status_code == 404
    assert send(web, "no-such-patient", csrf, when=now_field(service), pulse="70").status_code == 404
    for token in ("", "wrong"):
        assert send(web, ward.mine, token, when=now_field(service), pulse="70").status_code == 403
    assert stored(service, ward.mine) == []


def test_the_set_is_on_the_trail_as_the_staff_members_transaction(service: FhirService, ward: Ward) -> None:
    web, username, csrf = doctor(service, ward)
    position = _position(service)
    fields = {"pulse": "70", "systolic": "120", "diastolic": "70"}
    assert send(web, ward.mine, csrf, when=now_field(service), **fields).status_code == 303
    ids = {o["id"] for o in stored(service, ward.mine)}
    [event] = [
        e
        for e in _about(service, username, ward.mine, position)
        if any(s["code"] == "transaction" for s in e["subtype"])
    ]
    named = {x["what"]["reference"] for x in event["entity"] if "what" in x}
    assert {f"Observation/{i}/_history/1" for i in ids} | {f"Patient/{ward.mine}"} <= named and len(ids) == 2
    assert event["outcome"] == "0"
    [person] = [a for a in event["agent"] if a.get("requestor")]
    assert person["who"] == {"reference": f"Practitioner/{ward.doctor}"}


def test_markup_is_shown_as_text(service: FhirService) -> None:
    ward = admitted_patient(service, name="<b>Karen</b>")
    web, _, csrf = doctor(service, ward)
    answer = send(web, ward.mine, csrf, when=now_field(service), pulse="<script>alert(1)</script>")
    assert answer.status_code == 400 and "<script>alert(1)" not in answer.text and "<b>Karen" not in answer.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in answer.text


def test_the_form_in_danish(service: FhirService, ward: Ward) -> None:
    web, _, csrf = doctor(service, ward, "da")
    page = web.get(f"/patients/{ward.mine}/vitals/record").text
    for said in ("Registrér vitale værdier", "Gem de vitale værdier", "Blodtryk"):
        assert said in page, said
    refused = send(web, ward.mine, csrf, when=now_field(service), weight="500")
    assert "mellem 0,3 og 400 kg" in refused.text


def test_the_times_read_as_danish() -> None:
    now = datetime(2026, 7, 1, 10, 0, tzinfo=COPENHAGEN)
    assert vitals_form.typed_moment("2026-07-01T10:01", now) == (datetime(2026, 7, 1, 10, 1, tzinfo=COPENHAGEN), None)
    assert vitals_form.typed_moment("2026-07-01T10:03", now) == (None, "future")
    assert vitals_form.field_time(now) == "2026-07-01T10:00"


def test_a_set_the_core_refuses_is_not_saved_at_all_and_its_words_shown(
    service: FhirService, ward: Ward, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One Observation of the set invalid (as a bug here would make it): the core's validation
    refuses the transaction, the form says so in the core's words, and none of the set is written."""
    made = vitals_form.observations

    def one_bad(*args: Any) -> list[tuple[dict[str, Any], str]]:
        good, bad = made(*args)
        return [good, ({**bad[0], "status": "bogus"}, bad[1])]

    monkeypatch.setattr(vitals_form, "observations", one_bad)
    web, _, csrf = doctor(service, ward)
    answer = send(web, ward.mine, csrf, when=now_field(service), pulse="70", temp="37")
    assert answer.status_code in (400, 422), answer.status_code
    assert 'id="vitals-refused"' in answer.text and "The vital signs were not saved:" in answer.text
    assert "&#39;bogus&#39; is not a valid code" in answer.text and 'name="pulse" value="70"' in answer.text
    assert stored(service, ward.mine) == []


def test_a_value_is_stored_with_the_digits_typed(service: FhirService, ward: Ward) -> None:
    # 37,0 °C is a reading to a tenth: its zero is kept (R4 decimals are never binary floats).
    web, _, csrf = doctor(service, ward)
    key = form_json(web, ward.mine)["form"]["key"]
    when = now_field(service, timedelta(minutes=5))
    answer = web.post(f"/patients/{ward.mine}/vitals/record",
                      data={"csrf": csrf, "key": key, "when": when, "temp": "37,0", "weight": "70.50"})  # fmt: skip
    assert answer.status_code == 303, answer.text
    written = {o["code"]["coding"][0]["code"]: o for o in stored(service, ward.mine)}
    for code, text in (("8310-5", "37.0"), ("29463-7", "70.50")):
        read = service.handle(FhirRequest("read", "Observation", written[code]["id"], principal=OPERATOR))
        assert f'"value":{text},' in (read.raw or jsontext.dumps(read.resource).decode()).replace(" ", "")
    flowsheet = web.get(f"/patients/{ward.mine}/vitals", params={"_format": "json"}).json()
    assert {r["code"]: r for r in flowsheet["rows"]}["8310-5"]["cells"][0]["value"] == "37.0"  # English, its zero shown
