"""The chart's results (web/pages/chart/results.py, trend.py) through the JSON form and the chart
image, on both backends: results by report with flags and ranges, the tests and their trends, the
chart's points and reference band, bad choices explained, a patient outside care refused with
nothing of theirs, every read on the trail naming the patient, markup shown as text."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from starlette.testclient import TestClient

from lifeline.audit.store import drain_outbox, events_after, head
from lifeline.fhir.service import FhirService
from tests.web.pages.test_chart import (
    Ward,
    admitted_patient,
    doctor_logged_in,
    mmol,
    observation,
    put,
    ref,
)
from tests.web.test_login_pages import browser
from tests.web.test_middleware import as_patient

POTASSIUM, CREATININE, HAEMOGLOBIN = "2823-3", "14682-9", "59260-0"
KBA = "Klinisk Biokemisk Afdeling"


def umol(value: float) -> dict[str, Any]:
    return {"value": value, "unit": "µmol/L"}


def add_reports(service: FhirService, ward: Ward, name: str = "Kreatinin") -> None:
    """Two earlier blood samples of the ward's patient, each with its report: potassium and
    creatinine (one high by the laboratory's flag, one by the range alone)."""
    subject = ref(f"Patient/{ward.mine}")
    k_range = [{"low": mmol(3.5), "high": mmol(4.6)}]
    creat_range = [{"low": umol(60), "high": umol(105)}]
    for day, potassium, creatinine, flag in (("19", 4.1, 88, "N"), ("20", 4.8, 130, "H")):
        taken = f"2026-11-{day}T08:00:00+01:00"
        k_id, creat_id = f"k{day}-{ward.tag}", f"creat{day}-{ward.tag}"
        put(service, observation(k_id, subject, "laboratory", POTASSIUM, "Kalium", effectiveDateTime=taken,
                                 valueQuantity=mmol(potassium), referenceRange=k_range))  # fmt: skip
        put(service, observation(creat_id, subject, "laboratory", CREATININE, name, effectiveDateTime=taken,
                                 valueQuantity=umol(creatinine), referenceRange=creat_range,
                                 interpretation=[{"coding": [{"code": flag}]}]))  # fmt: skip
        report = {"resourceType": "DiagnosticReport", "id": f"rep{day}-{ward.tag}", "status": "final"}
        put(service, {**report, "code": {"text": "Blodprøvesvar"}, "subject": subject, "effectiveDateTime": taken,
                      "issued": f"2026-11-{day}T09:30:00+01:00", "performer": [{"display": KBA}],
                      "result": [ref(f"Observation/{k_id}"), ref(f"Observation/{creat_id}")]})  # fmt: skip


@pytest.fixture
def ward(service: FhirService) -> Ward:
    ward = admitted_patient(service)
    add_reports(service, ward)
    return ward


def results_json(web: TestClient, patient: str, **params: Any) -> dict[str, Any]:
    answer = web.get(f"/patients/{patient}/results", params={**params, "_format": "json"})
    assert answer.status_code == 200, answer.text
    assert answer.headers["cache-control"] == "no-store"
    return answer.json()  # type: ignore[no-any-return]


def test_results_by_report_with_flags_and_ranges(service: FhirService, ward: Ward) -> None:
    web, _ = doctor_logged_in(service, ward)
    shown = results_json(web, ward.mine)
    assert shown["showing"] == "results" and shown["patient"]["name"] == "Karen Sørensen"  # the header
    panels = shown["panels"]
    assert [(p["when"]["at"], p["name"], p["performer"]) for p in panels] == [
        ("2026-11-21T07:45:00+01:00", "", None),  # taken together, in no report
        ("2026-11-20T08:00:00+01:00", "Blodprøvesvar", KBA),
        ("2026-11-19T08:00:00+01:00", "Blodprøvesvar", KBA),
    ]
    rows = {(r["name"], r["value"], r["unit"], r["flag"], r["range"]) for p in panels for r in p["rows"]}
    assert ("Kalium", "5.9", "mmol/L", "H", "3.5–4.6 mmol/L") in rows  # high by its range alone
    assert ("Hæmoglobin", "6.1", "mmol/L", "L", "7.3–9.5 mmol/L") in rows  # the laboratory's flag
    assert ("Natrium", "140", "mmol/L", None, "") in rows
    assert [(r["name"], r["flag"]) for r in panels[1]["rows"]] == [("Kalium", "H"), ("Kreatinin", "H")]
    assert [(r["name"], r["flag"]) for r in panels[2]["rows"]] == [("Kalium", None), ("Kreatinin", None)]
    assert (panels[0]["abnormal"], panels[1]["abnormal"], panels[2]["abnormal"]) == (2, 2, 0)
    tests = {t["name"]: t for t in shown["tests"]}
    assert sorted(tests) == ["Hæmoglobin", "Kalium", "Kreatinin", "Natrium"]
    assert (tests["Kalium"]["count"], tests["Kalium"]["value"], tests["Kalium"]["chartable"]) == (3, "5.9", True)
    assert (tests["Hæmoglobin"]["chartable"], tests["Kreatinin"]["code"]) == (False, CREATININE)
    assert shown["trend"] is None and shown["older"] is False
    page = web.get(f"/patients/{ward.mine}/results")
    assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
    for said in ("Results by report", "Blodprøvesvar", "↑</span> High", "3.5–4.6 mmol/L", 'aria-current="page"'):
        assert said in page.text, said
    assert f'href="/patients/{ward.mine}/results?code={POTASSIUM}#trend"' in page.text
    assert [p for p in results_json(web, ward.mine)["parts"] if p["id"] == "results"][0]["available"]
    summary = web.get(f"/patients/{ward.mine}", params={"_format": "json"}).json()
    assert {p["id"]: p["available"] for p in summary["parts"]}["results"] is True  # the chart links here


def test_no_results_says_so(service: FhirService, ward: Ward) -> None:
    lonely = f"lonely-{ward.tag}"
    visit = {"status": "in-progress", "class": {"code": "AMB"}, "serviceProvider": ref(f"Organization/dep-{ward.tag}")}
    put(service, {"resourceType": "Patient", "id": lonely, "name": [{"text": "Ene Enesen"}]})
    put(service, {"resourceType": "Encounter", "id": f"enc-{lonely}", "subject": ref(f"Patient/{lonely}"), **visit})
    web, _ = doctor_logged_in(service, ward)
    shown = results_json(web, lonely, code="<x>")
    assert (shown["panels"], shown["tests"], shown["older"]) == ([], [], False)
    assert shown["trend"]["unknown"] == [{"code": "<x>", "known": False}] and shown["trend"]["older"] is False
    assert "No laboratory results recorded." in web.get(f"/patients/{lonely}/results").text


def test_a_trend_and_its_chart(service: FhirService, ward: Ward) -> None:
    web, _ = doctor_logged_in(service, ward)
    trend = results_json(web, ward.mine, code=POTASSIUM)["trend"]
    [series] = trend["series"]
    assert (series["name"], series["unit"], trend["units"], trend["unknown"]) == ("Kalium", "mmol/L", 1, [])
    assert [(p["shown"], p["flag"]) for p in series["points"]] == [("4.1", None), ("4.8", "H"), ("5.9", "H")]
    assert trend["chart"] == f"/patients/{ward.mine}/results/chart.svg?code={POTASSIUM}"
    chart = web.get(trend["chart"])
    assert chart.status_code == 200 and chart.headers["content-type"].startswith("image/svg+xml")
    assert chart.headers["cache-control"] == "no-store"
    svg = chart.text
    assert svg.startswith("<svg") and "<script" not in svg and "<?xml" not in svg
    for value in ("Kalium 4.1 mmol/L, 19 Nov 2026, 08:00", "Kalium 5.9 mmol/L, 21 Nov 2026, 07:45"):
        assert f"<title>{value}</title>" in svg, value  # the points, their values on hover
    assert "Reference range: Kalium" in svg and 'class="line reactive"' in svg  # the band, filled
    assert 'class="line reactive nofill"' in svg  # the line through the points
    small = web.get(trend["chartSmall"])  # a phone's
    assert small.status_code == 200 and 'viewBox="0 0 360 360"' in small.text and "Kalium 5.9" in small.text
    page = web.get(f"/patients/{ward.mine}/results", params={"code": POTASSIUM}).text
    assert 'id="trend-chart"' in page and f'src="/patients/{ward.mine}/results/chart.svg?code={POTASSIUM}"' in page
    assert "Trend: Kalium" in page and "19 Nov 2026, 08:00" in page  # the values' table beside it


def test_two_tests_on_one_time_axis_say_their_units(service: FhirService, ward: Ward) -> None:
    web, _ = doctor_logged_in(service, ward)
    trend = results_json(web, ward.mine, code=[CREATININE, POTASSIUM])["trend"]
    assert [(s["name"], s["unit"]) for s in trend["series"]] == [("Kreatinin", "µmol/L"), ("Kalium", "mmol/L")]
    assert trend["units"] == 2
    svg = web.get(trend["chart"]).text
    assert "Kreatinin (µmol/L, left axis)" in svg and "Kalium (mmol/L, right axis)" in svg
    assert "<title>Kreatinin 130 µmol/L, 20 Nov 2026, 08:00</title>" in svg
    assert svg.count("dasharray:6,4") == 2 and "Reference range:" not in svg  # each one's limits, dashed
    page = web.get(f"/patients/{ward.mine}/results", params={"code": [CREATININE, POTASSIUM]}).text
    assert 'id="trend-units"' in page and page.count('class="chart-table results trend-table"') == 2


def test_danish_numbers_and_dates_in_the_trend(service: FhirService, ward: Ward) -> None:
    web, _ = doctor_logged_in(service, ward, "da")
    trend = results_json(web, ward.mine, code=POTASSIUM)["trend"]
    assert [p["shown"] for p in trend["series"][0]["points"]] == ["4,1", "4,8", "5,9"]
    svg = web.get(trend["chart"]).text
    assert "<title>Kalium 5,9 mmol/L, 21.11.2026 07:45</title>" in svg and "Referenceinterval: Kalium" in svg
    assert "Svar pr. prøvetagning" in web.get(f"/patients/{ward.mine}/results").text


def test_bad_choices_are_explained(service: FhirService, ward: Ward) -> None:
    web, _ = doctor_logged_in(service, ward)
    trend = results_json(web, ward.mine, code=["no-such-test", POTASSIUM])["trend"]
    assert trend["unknown"] == [{"code": "no-such-test", "known": False}] and len(trend["series"]) == 1
    page = web.get(f"/patients/{ward.mine}/results", params={"code": "no-such-test"}).text
    assert "No results for this test: no-such-test" in page and 'id="trend-chart"' not in page
    assert web.get(f"/patients/{ward.mine}/results", params={"code": "a|b,<c>"}).status_code == 200
    five = ["1", "2", "3", "4", POTASSIUM]
    assert results_json(web, ward.mine, code=five)["trend"]["refused"] == "too-many"
    page = web.get(f"/patients/{ward.mine}/results", params={"code": five}).text
    assert "Choose at most 4 tests" in page and 'id="trend-chart"' not in page
    chart = f"/patients/{ward.mine}/results/chart.svg"
    assert web.get(chart, params={"code": five}).status_code == 400
    assert web.get(chart).status_code == 400
    assert "No results for this test" in web.get(chart, params={"code": "no-such-test"}).text


def test_a_patient_outside_care_is_refused_page_and_chart(service: FhirService, ward: Ward) -> None:
    web, _ = doctor_logged_in(service, ward)
    page = web.get(f"/patients/{ward.theirs}/results")
    assert page.status_code == 403 and "not in your care" in page.text and ward.theirs_name not in page.text
    answer = web.get(f"/patients/{ward.theirs}/results", params={"_format": "json"})
    assert answer.status_code == 403 and [i["code"] for i in answer.json()["issue"]] == ["suppressed"]
    chart = web.get(f"/patients/{ward.theirs}/results/chart.svg", params={"code": POTASSIUM})
    assert chart.status_code == 403 and "<svg" not in chart.text and ward.theirs_name not in chart.text
    assert web.get(f"/patients/{'a' * 65}/results/chart.svg", params={"code": POTASSIUM}).status_code == 404
    assert browser(service).get(f"/patients/{ward.mine}/results/chart.svg").status_code == 303  # log in first
    with browser(service) as citizen:
        as_patient(service, citizen, ward.mine)  # staff only, even their own
        assert citizen.get(f"/patients/{ward.mine}/results/chart.svg", params={"code": POTASSIUM}).status_code == 403
        assert citizen.get(f"/patients/{ward.mine}/results").status_code == 403


def test_the_page_and_the_chart_are_on_the_trail(service: FhirService, ward: Ward) -> None:
    web, username = doctor_logged_in(service, ward)
    position = _position(service)
    results_json(web, ward.mine)
    page_events = _about(service, username, ward.mine, position)
    assert len(page_events) >= 6  # the header's reads and the results' search, each on the trail
    position = _position(service)
    assert web.get(f"/patients/{ward.mine}/results/chart.svg", params={"code": POTASSIUM}).status_code == 200
    chart_events = _about(service, username, ward.mine, position)
    subtypes = {s["code"] for e in chart_events for s in e.get("subtype", [])}
    assert {"read", "search-type"} <= subtypes, subtypes


def _position(service: FhirService) -> int:
    drain_outbox(service.repo)
    return (head(service.repo, service.settings.node_id) or (0, ""))[0]


def _about(service: FhirService, username: str, patient: str, after: int) -> list[dict[str, Any]]:
    events = [orjson.loads(r.content) for r in events_after(service.repo, service.settings.node_id, after, 1_000_000)]
    return [
        e
        for e in events
        if any(a.get("altId") == username for a in e["agent"])
        and any(x.get("what", {}).get("reference") == f"Patient/{patient}" for x in e.get("entity", []))
    ]


def test_markup_in_results_is_shown_as_text(service: FhirService) -> None:
    ward = admitted_patient(service, name="<b>Karen</b>")
    add_reports(service, ward, name='<img src=x onerror="alert(1)">')
    subject = ref(f"Patient/{ward.mine}")
    put(service, observation(f"text-{ward.tag}", subject, "laboratory", "X-1", "Dyrkning",
                             effectiveDateTime="2026-11-21T10:00:00+01:00",
                             valueString="<script>alert(2)</script>"))  # fmt: skip
    web, _ = doctor_logged_in(service, ward)
    page = web.get(f"/patients/{ward.mine}/results", params={"code": [CREATININE, "<script>"]}).text
    assert "<script>alert(2)" not in page and "&lt;script&gt;alert(2)&lt;/script&gt;" in page
    assert "<img src=x" not in page and "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;" in page
    assert "<b>Karen" not in page and "<script>" not in page.split("<body", 1)[1].replace("<script src=", "")
    svg = web.get(f"/patients/{ward.mine}/results/chart.svg", params={"code": CREATININE}).text
    assert "<img src=x" not in svg and "&lt;img src=x" in svg
