"""The chart's medication (web/pages/chart/medication.py) through the JSON form, on both backends:
current prescriptions and reported drugs before past ones, each with drug, ATC code (from the
concept or the Medication), dose, route, start and end, status and prescriber (the requester's
Practitioner); entries in error left out; the doses given newest first; a patient outside care
refused with nothing of theirs; every read on the trail naming the patient; markup shown as text."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient

from lifeline.fhir.service import FhirService
from tests.web.pages.test_chart import DAILY, Ward, admitted_patient, doctor_logged_in, prescription, put, ref
from tests.web.pages.test_chart_results import _about, _position
from tests.web.test_login_pages import browser
from tests.web.test_middleware import as_patient

ATC = "http://www.whocc.no/atc"
ORAL = {"coding": [{"system": "http://snomed.info/sct", "code": "26643006"}], "text": "Gennem munden"}


def atc(code: str, name: str) -> dict[str, Any]:
    return {"coding": [{"system": ATC, "code": code, "display": name}], "text": name}


def add_medication(service: FhirService, ward: Ward, name: str = "Paracetamol") -> None:
    """Beside the ward's prescriptions (apixaban and metoprolol active, ibuprofen stopped): a
    course of paracetamol ended, a drug on hold prescribed through a Medication resource, one
    reported by the patient, one in error, and two doses given, one of them not."""
    subject, tag = ref(f"Patient/{ward.mine}"), ward.tag
    doctor = ref(f"Practitioner/{ward.doctor}")
    put(service, {"resourceType": "Practitioner", "id": f"nurse-{tag}", "name": [{"text": "Sygeplejerske Bo"}]})
    put(service, {"resourceType": "Medication", "id": f"drug-{tag}", "code": atc("C07AB02", "Metoprolol")})
    dosage = {"text": "1 g 4 gange dagligt", "route": ORAL}
    for resource in (
        prescription(f"course-{tag}", subject, "completed", atc("N02BE01", name), requester=doctor,
                     authoredOn="2026-10-01T09:30:00+02:00", dosageInstruction=[dosage],
                     dispenseRequest={"validityPeriod": {"start": "2026-10-01", "end": "2026-10-15"}}),
        {**prescription(f"held-{tag}", subject, "on-hold", {}, requester=doctor,
                        dosageInstruction=[{"doseAndRate": [{"doseQuantity": {"value": 25, "unit": "mg"}}],
                                            "timing": {"repeat": DAILY}, "route": ORAL}],
                        statusReason={"text": "Lavt blodtryk"}),
         "medicationCodeableConcept": None, "medicationReference": ref(f"Medication/drug-{tag}")},
        prescription(f"wrong-{tag}", subject, "entered-in-error", {"text": "Forkert"}),
        {"resourceType": "MedicationStatement", "id": f"told-{tag}", "status": "active", "subject": subject,
         "medicationCodeableConcept": atc("A11CC05", "Colecalciferol"), "informationSource": subject,
         "effectivePeriod": {"start": "2025-01-01"}, "dosage": [{"text": "20 mikrogram dagligt"}]},
        {"resourceType": "MedicationAdministration", "id": f"gave-{tag}", "status": "completed", "subject": subject,
         "medicationCodeableConcept": atc("B01AF02", "Apixaban"), "effectiveDateTime": "2026-11-21T08:00:00+01:00",
         "performer": [{"actor": ref(f"Practitioner/nurse-{tag}")}],
         "dosage": {"dose": {"value": 5, "unit": "mg"}, "route": ORAL}},
        {"resourceType": "MedicationAdministration", "id": f"skipped-{tag}", "status": "not-done", "subject": subject,
         "medicationCodeableConcept": atc("C07AB02", "Metoprolol"), "effectiveDateTime": "2026-11-21T20:00:00+01:00",
         "statusReason": [{"text": "Patienten sov"}]},
    ):  # fmt: skip
        put(service, {k: v for k, v in resource.items() if v is not None})


@pytest.fixture
def ward(service: FhirService) -> Ward:
    ward = admitted_patient(service)
    add_medication(service, ward)
    return ward


def medication_json(web: TestClient, patient: str) -> dict[str, Any]:
    answer = web.get(f"/patients/{patient}/medication", params={"_format": "json"})
    assert answer.status_code == 200, answer.text
    assert answer.headers["cache-control"] == "no-store"
    return answer.json()  # type: ignore[no-any-return]


def test_current_then_past_with_dose_route_dates_and_prescriber(service: FhirService, ward: Ward) -> None:
    web, _ = doctor_logged_in(service, ward)
    shown = medication_json(web, ward.mine)
    assert shown["showing"] == "medication" and shown["patient"]["name"] == "Karen Sørensen"  # the header
    assert [(d["name"], d["status"], d["source"]) for d in shown["current"]] == [
        ("Apixaban", "active", "prescribed"),
        ("Metoprolol", "active", "prescribed"),
        ("Colecalciferol", "active", "reported"),
        ("Metoprolol", "on-hold", "prescribed"),
    ]
    held = shown["current"][3]
    assert (held["atc"], held["dose"]["amount"], held["dose"]["route"], held["reason"]) == (
        "C07AB02", "25 mg", "Gennem munden", "Lavt blodtryk",
    )  # fmt: skip
    assert held["prescriber"]["name"] == "Læge"  # the requester, included
    told = shown["current"][2]
    assert told["byPatient"] and told["start"]["text"] == "1 Jan 2025" and told["atc"] == "A11CC05"
    assert [(d["name"], d["status"]) for d in shown["past"]] == [("Paracetamol", "completed"), ("Ibuprofen", "stopped")]
    course = shown["past"][0]
    assert (course["start"]["text"], course["end"]["text"], course["dose"]["text"]) == (
        "1 Oct 2026", "15 Oct 2026", "1 g 4 gange dagligt",
    )  # fmt: skip
    assert "Forkert" not in str(shown)  # entered in error
    assert [(g["name"], g["status"]) for g in shown["given"]] == [("Metoprolol", "not-done"), ("Apixaban", "completed")]
    [skipped, gave] = shown["given"]
    assert skipped["reason"] == "Patienten sov" and skipped["givenBy"] == []
    assert (gave["dose"], gave["route"], gave["givenBy"][0]["name"]) == ("5 mg", "Gennem munden", "Sygeplejerske Bo")
    page = web.get(f"/patients/{ward.mine}/medication").text
    for words in ('id="current-table"', 'id="past-table"', 'id="given-table"', "paused", "not given", "B01AF02"):
        assert words in page, words
    assert f'href="/patients/{ward.mine}/medication"' in web.get(f"/patients/{ward.mine}").text  # the chart's tab


def test_no_medication_recorded(service: FhirService) -> None:
    ward = admitted_patient(service)
    web, _ = doctor_logged_in(service, ward)
    shown = medication_json(web, ward.mine)
    assert shown["given"] == [] and [d["name"] for d in shown["past"]] == ["Ibuprofen"]
    page = web.get(f"/patients/{ward.mine}/medication").text
    assert 'id="no-given"' in page and 'id="no-current"' not in page


def test_danish_words_and_dates(service: FhirService, ward: Ward) -> None:
    web, _ = doctor_logged_in(service, ward, language="da")
    shown = medication_json(web, ward.mine)
    assert shown["past"][0]["end"]["text"] == "15.10.2026"
    page = web.get(f"/patients/{ward.mine}/medication").text
    assert "Tidligere medicin" in page and "pauseret" in page and "ikke givet" in page


def test_a_patient_outside_care_is_refused(service: FhirService, ward: Ward) -> None:
    web, _ = doctor_logged_in(service, ward)
    page = web.get(f"/patients/{ward.theirs}/medication")
    assert page.status_code == 403 and "not in your care" in page.text and ward.theirs_name not in page.text
    answer = web.get(f"/patients/{ward.theirs}/medication", params={"_format": "json"})
    assert answer.status_code == 403 and [i["code"] for i in answer.json()["issue"]] == ["suppressed"]
    assert ward.theirs_name not in answer.text
    assert web.get(f"/patients/{'a' * 65}/medication").status_code == 404
    assert browser(service).get(f"/patients/{ward.mine}/medication").status_code == 303  # log in first
    with browser(service) as citizen:
        as_patient(service, citizen, ward.mine)  # staff only, even their own
        assert citizen.get(f"/patients/{ward.mine}/medication").status_code == 403


def test_the_reads_are_on_the_trail(service: FhirService, ward: Ward) -> None:
    web, username = doctor_logged_in(service, ward)
    position = _position(service)
    medication_json(web, ward.mine)
    events = _about(service, username, ward.mine, position)
    assert len(events) >= 8  # the header's reads and the three of medication
    subtypes = {s["code"] for e in events for s in e.get("subtype", [])}
    assert {"read", "search-type"} <= subtypes, subtypes


def test_markup_in_medication_is_shown_as_text(service: FhirService) -> None:
    ward = admitted_patient(service, name="<b>Karen</b>")
    add_medication(service, ward, name="<script>alert(1)</script>")
    web, _ = doctor_logged_in(service, ward)
    page = web.get(f"/patients/{ward.mine}/medication").text
    assert "<script>alert(1)" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<b>Karen" not in page
