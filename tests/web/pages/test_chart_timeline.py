"""The chart's timeline (web/pages/chart/timeline.py) through the JSON form and the overview's
image, on both backends: stays, visits, emergencies and operations by year, newest first, with
their department, place, reason, status, surgeon and length of stay; planned operations and
visits; the filter by kind; a patient outside care refused with nothing of theirs; every read on
the trail naming the patient; markup shown as text."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient

from lifeline.fhir.service import FhirService
from lifeline.web.pages.chart import timeline
from tests.web.pages.test_chart import ACT_CODE, Ward, admitted_patient, doctor_logged_in, location, put, ref
from tests.web.pages.test_chart_results import _about, _position
from tests.web.test_login_pages import browser
from tests.web.test_middleware import as_patient


def encounter(id_: str, ward: Ward, kind: str, start: str, end: str | None, **values: Any) -> dict[str, Any]:
    period = {"start": start, **({"end": end} if end else {})}
    resource = {"resourceType": "Encounter", "id": id_, "status": "finished" if end else "in-progress"}
    return {**resource, "class": {"system": ACT_CODE, "code": kind}, "subject": ref(f"Patient/{ward.mine}"),
            "period": period, "serviceProvider": ref(f"Organization/dep-{ward.tag}"), **values}  # fmt: skip


def add_history(service: FhirService, ward: Ward, name: str = "Hjertesvigt") -> None:
    """A stay in 2019 with an operation by a surgeon in a theatre, a clinic visit in 2024, an
    emergency visit in 2025 and an encounter entered in error."""
    tag, subject = ward.tag, ref(f"Patient/{ward.mine}")
    for resource in (
        location(f"theatre-{tag}", "Operationsstue 3", "ro"),
        location(f"clinic-{tag}", "Hjerteambulatoriet", "wa"),
        {"resourceType": "Practitioner", "id": f"surgeon-{tag}", "name": [{"given": ["Ib"], "family": "Kirurg"}]},
        {"resourceType": "PractitionerRole", "id": f"surgeon-role-{tag}",
         "practitioner": ref(f"Practitioner/surgeon-{tag}")},
        {"resourceType": "Condition", "id": f"hf-{tag}", "subject": subject, "code": {"text": name}},
        encounter(f"stay19-{tag}", ward, "IMP", "2019-03-12T10:00:00+01:00", "2019-03-18T11:00:00+01:00",
                  type=[{"text": "Indlæggelse"}], location=[{"location": ref(f"Location/ward-{tag}")}],
                  diagnosis=[{"condition": ref(f"Condition/hf-{tag}")}]),
        {"resourceType": "Procedure", "id": f"op19-{tag}", "status": "completed", "subject": subject,
         "code": {"text": "Pacemakeranlæggelse"}, "encounter": ref(f"Encounter/stay19-{tag}"),
         "performedPeriod": {"start": "2019-03-13T09:00:00+01:00", "end": "2019-03-13T10:30:00+01:00"},
         "performer": [{"actor": ref(f"PractitionerRole/surgeon-role-{tag}")}],
         "location": ref(f"Location/theatre-{tag}"), "reasonReference": [ref(f"Condition/hf-{tag}")]},
        encounter(f"visit24-{tag}", ward, "AMB", "2024-05-02T10:00:00+02:00", "2024-05-02T10:30:00+02:00",
                  type=[{"text": "Ambulant besøg"}], location=[{"location": ref(f"Location/clinic-{tag}")}],
                  reasonCode=[{"text": "Kontrol efter pacemaker"}]),
        encounter(f"er25-{tag}", ward, "EMER", "2025-08-30T22:10:00+02:00", "2025-08-31T03:00:00+02:00",
                  type=[{"text": "Akut besøg"}]),
        encounter(f"wrong-{tag}", ward, "AMB", "2023-01-01T10:00:00+01:00", None, status="entered-in-error"),
    ):  # fmt: skip
        put(service, resource)


@pytest.fixture
def ward(service: FhirService) -> Ward:
    ward = admitted_patient(service)
    add_history(service, ward)
    return ward


def timeline_json(web: TestClient, patient: str, **params: Any) -> dict[str, Any]:
    answer = web.get(f"/patients/{patient}/timeline", params={**params, "_format": "json"})
    assert answer.status_code == 200, answer.text
    assert answer.headers["cache-control"] == "no-store"
    return answer.json()  # type: ignore[no-any-return]


def test_the_history_by_year_newest_first(service: FhirService, ward: Ward) -> None:
    web, _ = doctor_logged_in(service, ward)
    shown = timeline_json(web, ward.mine)
    assert shown["showing"] == "timeline" and shown["patient"]["name"] == "Karen Sørensen"  # the header
    assert [y["year"] for y in shown["years"]] == [2026, 2025, 2024, 2019]
    assert shown["counts"] == {"stay": 2, "visit": 2, "emergency": 1, "operation": 2}
    assert (shown["planned"], shown["first"], shown["last"], shown["older"]) == (2, 2019, 2026, False)
    events = {e["id"].split("/")[1].rsplit("-", 1)[0]: e for y in shown["years"] for e in y["events"]}
    assert "wrong" not in events  # entered in error
    assert [e["id"].split("/")[0] for e in shown["years"][0]["events"]] == [
        "ServiceRequest",
        "Appointment",
        "Encounter",
    ]
    stay = events["stay19"]
    assert (stay["kind"], stay["type"], stay["days"], stay["status"]) == ("stay", "Indlæggelse", 6, "finished")
    assert (stay["start"]["text"], stay["end"]["text"]) == ("12 Mar 2019", "18 Mar 2019")
    assert stay["department"] == f"Kardiologisk Afdeling {ward.tag}" and stay["place"] == f"Sengeafsnit K{ward.tag}"
    assert stay["reasons"] == ["Hjertesvigt"]
    now = events["enc"]  # the stay going on: its days so far, its ward and not its bed
    assert (now["kind"], now["days"], now["end"], now["place"]) == ("stay", 2, None, f"Sengeafsnit K{ward.tag}")
    operation = events["op19"]
    assert (operation["kind"], operation["type"], operation["surgeon"]) == (
        "operation",
        "Pacemakeranlæggelse",
        "Ib Kirurg",
    )
    assert (operation["place"], operation["department"]) == ("Operationsstue 3", f"Kardiologisk Afdeling {ward.tag}")
    assert (operation["startTime"], operation["endTime"], operation["sameDay"]) == ("09:00", "10:30", True)
    visit = events["visit24"]
    assert (visit["kind"], visit["place"], visit["reasons"], visit["days"]) == (
        "visit", "Hjerteambulatoriet", ["Kontrol efter pacemaker"], None)  # fmt: skip
    emergency = events["er25"]
    assert (emergency["kind"], emergency["sameDay"], emergency["endTime"]) == ("emergency", False, "03:00")
    planned = events["op"]  # the ordered operation
    assert (planned["kind"], planned["planned"], planned["place"], planned["type"]) == (
        "operation", True, "Operationsstue 2", "Ablation")  # fmt: skip
    assert (events["appt"]["kind"], events["appt"]["planned"]) == ("visit", True)  # the booked clinic visit
    page = web.get(f"/patients/{ward.mine}/timeline").text
    assert 'id="timeline-chart"' in page and "6 days" in page and "Ib Kirurg" in page and "Timeline from 2019" in page
    assert f'href="/patients/{ward.mine}/timeline"' in web.get(f"/patients/{ward.mine}").text  # the chart's tab


def test_the_list_filtered_by_kind(service: FhirService, ward: Ward) -> None:
    web, _ = doctor_logged_in(service, ward)
    shown = timeline_json(web, ward.mine, kind="operation")
    assert [e["type"] for y in shown["years"] for e in y["events"]] == ["Ablation", "Pacemakeranlæggelse"]
    assert shown["counts"]["visit"] == 2 and shown["kind"] == "operation"  # the counts stay whole
    page = web.get(f"/patients/{ward.mine}/timeline", params={"kind": "emergency"}).text
    assert 'id="kind-emergency" class="kind-emergency" aria-current="page"' in page and "Akut besøg" in page
    assert "Indlæggelse" not in page.split('id="events"')[1]
    assert web.get(f"/patients/{ward.mine}/timeline", params={"kind": "x"}).status_code == 400


def test_danish_dates_and_words(service: FhirService, ward: Ward) -> None:
    web, _ = doctor_logged_in(service, ward, language="da")
    stay = timeline_json(web, ward.mine, kind="stay")["years"][-1]["events"][0]
    assert (stay["start"]["text"], stay["end"]["text"]) == ("12.03.2019", "18.03.2019")
    page = web.get(f"/patients/{ward.mine}/timeline").text
    assert "Tidslinje" in page and "6 dage" in page
    svg = web.get(f"/patients/{ward.mine}/timeline/chart.svg").text
    assert "Indlæggelser" in svg and "Operationer" in svg


def test_the_overview_draws_a_lane_per_kind(service: FhirService, ward: Ward) -> None:
    web, _ = doctor_logged_in(service, ward)
    chart = web.get(f"/patients/{ward.mine}/timeline/chart.svg")
    assert chart.status_code == 200 and chart.headers["content-type"].startswith("image/svg+xml")
    assert chart.headers["content-security-policy"].startswith("default-src 'none'")
    svg = chart.text
    assert svg.startswith("<svg") and "<script" not in svg
    for words in ("Stays", "Visits", "Emergencies", "Operations", "2019", "2026", "Indlæggelse"):
        assert words in svg, words
    small = web.get(f"/patients/{ward.mine}/timeline/chart.svg", params={"size": "small"}).text
    assert 'viewBox="0 0 360 260"' in small


def test_a_kind_with_none_says_so(service: FhirService) -> None:
    ward = admitted_patient(service)  # a stay now and planned ones; never an emergency
    web, _ = doctor_logged_in(service, ward)
    shown = timeline_json(web, ward.mine, kind="emergency")
    assert shown["years"] == [] and shown["counts"]["emergency"] == 0
    assert "No emergencies recorded." in web.get(f"/patients/{ward.mine}/timeline", params={"kind": "emergency"}).text


def test_a_patient_outside_care_is_refused_page_and_chart(service: FhirService, ward: Ward) -> None:
    web, _ = doctor_logged_in(service, ward)
    page = web.get(f"/patients/{ward.theirs}/timeline")
    assert page.status_code == 403 and "not in your care" in page.text and ward.theirs_name not in page.text
    answer = web.get(f"/patients/{ward.theirs}/timeline", params={"_format": "json"})
    assert answer.status_code == 403 and [i["code"] for i in answer.json()["issue"]] == ["suppressed"]
    chart = web.get(f"/patients/{ward.theirs}/timeline/chart.svg")
    assert chart.status_code == 403 and "<svg" not in chart.text and ward.theirs_name not in chart.text
    assert web.get(f"/patients/{'a' * 65}/timeline").status_code == 404
    assert web.get(f"/patients/{'a' * 65}/timeline/chart.svg").status_code == 404
    assert browser(service).get(f"/patients/{ward.mine}/timeline").status_code == 303  # log in first
    with browser(service) as citizen:
        as_patient(service, citizen, ward.mine)  # staff only, even their own
        assert citizen.get(f"/patients/{ward.mine}/timeline").status_code == 403
        assert citizen.get(f"/patients/{ward.mine}/timeline/chart.svg").status_code == 403


def test_the_page_and_the_overview_are_on_the_trail(service: FhirService, ward: Ward) -> None:
    web, username = doctor_logged_in(service, ward)
    position = _position(service)
    timeline_json(web, ward.mine)
    assert len(_about(service, username, ward.mine, position)) >= 9  # the header's reads and the timeline's
    position = _position(service)
    assert web.get(f"/patients/{ward.mine}/timeline/chart.svg").status_code == 200
    subtypes = {s["code"] for e in _about(service, username, ward.mine, position) for s in e.get("subtype", [])}
    assert {"read", "search-type"} <= subtypes, subtypes


def test_markup_in_the_history_is_shown_as_text(service: FhirService) -> None:
    ward = admitted_patient(service, name="<b>Karen</b>")
    add_history(service, ward, name='<img src=x onerror="alert(1)">')
    put(service, encounter(f"odd-{ward.tag}", ward, "AMB", "2024-06-01T10:00:00+02:00", "2024-06-01T11:00:00+02:00",
                           type=[{"text": "<script>alert(2)</script>"}]))  # fmt: skip
    web, _ = doctor_logged_in(service, ward)
    page = web.get(f"/patients/{ward.mine}/timeline").text
    assert "<script>alert(2)" not in page and "&lt;script&gt;alert(2)&lt;/script&gt;" in page
    assert "<img src=x" not in page and "<b>Karen" not in page
    svg = web.get(f"/patients/{ward.mine}/timeline/chart.svg").text
    assert "<script>alert(2)" not in svg and "<b>" not in svg


def test_a_long_life_is_read_newest_first_and_says_older_exist(
    service: FhirService, ward: Ward, monkeypatch: pytest.MonkeyPatch
) -> None:
    undated = encounter(f"undated-{ward.tag}", ward, "AMB", "2020-01-01", "2020-01-01")
    put(service, {k: v for k, v in undated.items() if k != "period"})
    monkeypatch.setattr(timeline, "READ", 2)
    web, _ = doctor_logged_in(service, ward)
    shown = timeline_json(web, ward.mine, kind="visit")
    assert shown["older"] is True and shown["read"] == 2
    assert [e["type"] for y in shown["years"] for e in y["events"]] == ["Ambulant kontrol, kardiologi"]  # booked
    page = web.get(f"/patients/{ward.mine}/timeline").text
    assert 'id="older"' in page and "Only the newest 2 encounters and operations were read" in page
    monkeypatch.setattr(timeline, "READ", 500)
    last = timeline_json(web, ward.mine)["years"][-1]
    assert last["year"] is None and last["events"][0]["id"] == f"Encounter/undated-{ward.tag}"  # the undated last
    assert "Date not recorded" in web.get(f"/patients/{ward.mine}/timeline").text
