"""The chart's vital signs (web/pages/chart/vitals.py) through the JSON form and the curves'
images, on both backends: the flowsheet's times and kinds, blood pressure as two numbers, flags
from the data's ranges, older times on a later screen, the curves' points, a patient outside care
refused with nothing of theirs, every read on the trail naming the patient, markup shown as text."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient

from lifeline.fhir.service import FhirService
from lifeline.web.pages.chart import vitals
from tests.web.pages.test_chart import Ward, admitted_patient, doctor_logged_in, observation, put, ref
from tests.web.pages.test_chart_results import _about, _position
from tests.web.test_login_pages import browser
from tests.web.test_middleware import as_patient

PULSE, BLOOD_PRESSURE, TEMPERATURE = "8867-4", "85354-9", "8310-5"
LOINC = "http://loinc.org"


def mmhg(value: float) -> dict[str, Any]:
    return {"value": value, "unit": "mmHg", "system": "http://unitsofmeasure.org", "code": "mm[Hg]"}


def pressure(id_: str, subject: dict[str, str], taken: str, systolic: float, diastolic: float) -> dict[str, Any]:
    """A blood pressure as the generator writes it: a panel with its two components."""
    parts = [
        {"code": {"coding": [{"system": LOINC, "code": vitals.SYSTOLIC}]}, "valueQuantity": mmhg(systolic),
         "referenceRange": [{"low": mmhg(90), "high": mmhg(140)}]},
        {"code": {"coding": [{"system": LOINC, "code": vitals.DIASTOLIC}]}, "valueQuantity": mmhg(diastolic)},
    ]  # fmt: skip
    resource = observation(id_, subject, "vital-signs", BLOOD_PRESSURE, "Blodtryk", effectiveDateTime=taken)
    return {**resource, "component": parts}


def add_vitals(service: FhirService, ward: Ward, name: str = "Temperatur") -> None:
    """Blood pressures at the two times the ward's pulses were taken, and a temperature with a
    range, high, at the later."""
    subject = ref(f"Patient/{ward.mine}")
    for hour, systolic, diastolic in (("08", 132, 79), ("09", 151, 88)):
        put(service, pressure(f"bp{hour}-{ward.tag}", subject, f"2026-11-21T{hour}:00:00+01:00", systolic, diastolic))
    celsius = {"value": 38.6, "unit": "°C"}
    usual = [{"low": {"value": 36, "unit": "°C"}, "high": {"value": 38, "unit": "°C"}}]
    put(service, observation(f"temp-{ward.tag}", subject, "vital-signs", TEMPERATURE, name,
                             effectiveDateTime="2026-11-21T09:00:00+01:00", valueQuantity=celsius,
                             referenceRange=usual))  # fmt: skip


@pytest.fixture
def ward(service: FhirService) -> Ward:
    ward = admitted_patient(service)
    add_vitals(service, ward)
    return ward


def vitals_json(web: TestClient, patient: str, **params: Any) -> dict[str, Any]:
    answer = web.get(f"/patients/{patient}/vitals", params={**params, "_format": "json"})
    assert answer.status_code == 200, answer.text
    assert answer.headers["cache-control"] == "no-store"
    return answer.json()  # type: ignore[no-any-return]


def test_the_flowsheet_has_times_in_columns_and_kinds_in_rows(service: FhirService, ward: Ward) -> None:
    web, _ = doctor_logged_in(service, ward)
    shown = vitals_json(web, ward.mine)
    assert shown["showing"] == "vitals" and shown["patient"]["name"] == "Karen Sørensen"  # the header
    assert [c["when"]["text"] for c in shown["columns"]] == ["21 Nov 2026, 09:00", "21 Nov 2026, 08:00"]
    rows = {r["code"]: r for r in shown["rows"]}
    assert [r["code"] for r in shown["rows"]] == [PULSE, BLOOD_PRESSURE, TEMPERATURE]  # the flowsheet's order
    assert [(c["value"], c["unit"], c["flag"]) for c in rows[PULSE]["cells"]] == [
        ("71", "/min", None),
        ("88", "/min", None),
    ]
    [later, earlier] = rows[BLOOD_PRESSURE]["cells"]
    assert (later["value"], later["unit"], later["numbers"], later["flag"]) == ("151/88", "mmHg", [151, 88], "H")
    assert (earlier["value"], earlier["numbers"], earlier["flag"]) == ("132/79", [132, 79], None)
    assert [c and (c["value"], c["flag"]) for c in rows[TEMPERATURE]["cells"]] == [("38.6", "H"), None]
    assert rows[TEMPERATURE]["chart"] is None  # one measurement: no curve
    assert rows[BLOOD_PRESSURE]["chart"] == f"/patients/{ward.mine}/vitals/chart.svg?code={BLOOD_PRESSURE}"
    page = web.get(f"/patients/{ward.mine}/vitals").text
    assert "<strong>151/88</strong>" in page and "High" in page and 'class="vitals-chart"' in page
    assert f'href="/patients/{ward.mine}/vitals"' in web.get(f"/patients/{ward.mine}").text  # the chart's tab


def test_danish_numbers_and_dates_in_danish(service: FhirService, ward: Ward) -> None:
    web, _ = doctor_logged_in(service, ward, language="da")
    shown = vitals_json(web, ward.mine)
    assert shown["columns"][0]["when"]["text"] == "21.11.2026 09:00"
    assert [c and c["value"] for c in {r["code"]: r for r in shown["rows"]}[TEMPERATURE]["cells"]] == ["38,6", None]
    assert "Observationsskema" in web.get(f"/patients/{ward.mine}/vitals").text


def test_older_times_on_a_later_screen(service: FhirService, ward: Ward) -> None:
    subject = ref(f"Patient/{ward.mine}")
    for day in range(1, vitals.COLUMNS + 1):
        put(service, observation(f"old{day}-{ward.tag}", subject, "vital-signs", PULSE, "Puls",
                                 effectiveDateTime=f"2026-10-{day:02}T08:00:00+02:00",
                                 valueQuantity={"value": 60 + day, "unit": "/min"}))  # fmt: skip
    web, _ = doctor_logged_in(service, ward)
    first = vitals_json(web, ward.mine)
    assert (len(first["columns"]), first["pages"], first["measured"]) == (vitals.COLUMNS, 2, vitals.COLUMNS + 2)
    second = vitals_json(web, ward.mine, page=1)
    assert [c["when"]["at"] for c in second["columns"]] == ["2026-10-02T08:00:00+02:00", "2026-10-01T08:00:00+02:00"]
    assert {r["code"] for r in second["rows"]} >= {PULSE, BLOOD_PRESSURE}  # the kinds stay, empty here
    assert 'id="older"' in web.get(f"/patients/{ward.mine}/vitals").text
    assert web.get(f"/patients/{ward.mine}/vitals", params={"page": "x"}).status_code == 400


def test_the_curve_of_blood_pressure_draws_both_numbers(service: FhirService, ward: Ward) -> None:
    web, _ = doctor_logged_in(service, ward)
    chart = web.get(f"/patients/{ward.mine}/vitals/chart.svg", params={"code": BLOOD_PRESSURE})
    assert chart.status_code == 200 and chart.headers["content-type"].startswith("image/svg+xml")
    svg = chart.text
    assert svg.startswith("<svg") and "<script" not in svg
    for value in ("Systolic 132 mmHg, 21 Nov 2026, 08:00", "Systolic 151 mmHg", "Diastolic 79 mmHg", "Diastolic 88"):
        assert value in svg, value
    pulse = web.get(f"/patients/{ward.mine}/vitals/chart.svg", params={"code": PULSE, "size": "small"}).text
    assert "Puls 88 /min" in pulse and "Puls 71 /min" in pulse and 'viewBox="0 0 360 360"' in pulse
    assert web.get(f"/patients/{ward.mine}/vitals/chart.svg").status_code == 400


def test_a_patient_outside_care_is_refused_page_and_chart(service: FhirService, ward: Ward) -> None:
    web, _ = doctor_logged_in(service, ward)
    page = web.get(f"/patients/{ward.theirs}/vitals")
    assert page.status_code == 403 and "not in your care" in page.text and ward.theirs_name not in page.text
    answer = web.get(f"/patients/{ward.theirs}/vitals", params={"_format": "json"})
    assert answer.status_code == 403 and [i["code"] for i in answer.json()["issue"]] == ["suppressed"]
    chart = web.get(f"/patients/{ward.theirs}/vitals/chart.svg", params={"code": PULSE})
    assert chart.status_code == 403 and "<svg" not in chart.text and ward.theirs_name not in chart.text
    assert web.get(f"/patients/{'a' * 65}/vitals").status_code == 404
    assert browser(service).get(f"/patients/{ward.mine}/vitals").status_code == 303  # log in first
    with browser(service) as citizen:
        as_patient(service, citizen, ward.mine)  # staff only, even their own
        assert citizen.get(f"/patients/{ward.mine}/vitals").status_code == 403
        assert citizen.get(f"/patients/{ward.mine}/vitals/chart.svg", params={"code": PULSE}).status_code == 403


def test_the_page_and_the_curve_are_on_the_trail(service: FhirService, ward: Ward) -> None:
    web, username = doctor_logged_in(service, ward)
    position = _position(service)
    vitals_json(web, ward.mine)
    assert len(_about(service, username, ward.mine, position)) >= 6  # the header's reads and the flowsheet's
    position = _position(service)
    assert web.get(f"/patients/{ward.mine}/vitals/chart.svg", params={"code": PULSE}).status_code == 200
    subtypes = {s["code"] for e in _about(service, username, ward.mine, position) for s in e.get("subtype", [])}
    assert {"read", "search-type"} <= subtypes, subtypes


def test_markup_in_vital_signs_is_shown_as_text(service: FhirService) -> None:
    ward = admitted_patient(service, name="<b>Karen</b>")
    add_vitals(service, ward, name='<img src=x onerror="alert(1)">')
    put(service, observation(f"temp2-{ward.tag}", ref(f"Patient/{ward.mine}"), "vital-signs", TEMPERATURE,
                             "<i>Temp</i>", effectiveDateTime="2026-11-21T10:00:00+01:00",
                             valueString="<script>alert(2)</script>"))  # fmt: skip
    web, _ = doctor_logged_in(service, ward)
    page = web.get(f"/patients/{ward.mine}/vitals").text
    assert "<script>alert(2)" not in page and "&lt;script&gt;alert(2)&lt;/script&gt;" in page
    assert "<img src=x" not in page and "<b>Karen" not in page and "<i>Temp" not in page
    svg = web.get(f"/patients/{ward.mine}/vitals/chart.svg", params={"code": PULSE}).text
    assert "<b>" not in svg
