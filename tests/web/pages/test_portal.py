"""The patient portal's pages through their JSON (issue 25), on both backends: the record, results
with the flag in words and a test's trend, appointments with their place, the contact form (the
one write: phone and e-mail only, bad input beside its field, nothing else of the Patient). Every
read is on the audit trail as the patient's, and nothing anywhere answers about another patient."""

from __future__ import annotations

import uuid
from typing import Any

import orjson
import pytest
from starlette.testclient import TestClient

from lifeline.audit.store import events_after
from lifeline.errors import NotFound
from lifeline.fhir.request import FhirRequest
from lifeline.fhir.service import FhirService
from lifeline.identity.principal import SYSTEM, Principal
from lifeline.identity.scopes import ScopeSet
from lifeline.identity.sessions import PATIENT
from lifeline.web.pages.portal import contact, results
from tests.web.pages.test_chart import Ward, admitted_patient, observation, put, ref
from tests.web.test_login_pages import browser
from tests.web.test_middleware import logged_in_as

READER = Principal(SYSTEM, "portal-test", "tests", ScopeSet.parse("system/*.rs"))


def add_portal_data(service: FhirService, ward: Ward) -> None:
    """Results older than any hold on new results (potassium twice, so it has a trend; haemoglobin
    low; sodium without a range), a vaccination, and a result of the other patient's."""
    subject = ref(f"Patient/{ward.mine}")
    mmol = {"unit": "mmol/L"}
    potassium = [{"low": {"value": 3.5, **mmol}, "high": {"value": 4.6, **mmol}}]
    low = [{"coding": [{"code": "L"}]}]
    haemoglobin = [{"low": {"value": 7.3, **mmol}, "high": {"value": 9.5, **mmol}}]
    september, october = "2026-09-01T08:00:00+02:00", "2026-10-15T08:00:00+02:00"
    results = [
        observation(f"k0-{ward.tag}", subject, "laboratory", "2823-3", "Kalium", effectiveDateTime=september,
                    valueQuantity={"value": 4.1, **mmol}, referenceRange=potassium),
        observation(f"k1-{ward.tag}", subject, "laboratory", "2823-3", "Kalium", effectiveDateTime=october,
                    valueQuantity={"value": 5.8, **mmol}, referenceRange=potassium),
        observation(f"hb0-{ward.tag}", subject, "laboratory", "59260-0", "Hæmoglobin", effectiveDateTime=october,
                    valueQuantity={"value": 6.0, **mmol}, interpretation=low, referenceRange=haemoglobin),
        observation(f"na0-{ward.tag}", subject, "laboratory", "2951-2", "Natrium", effectiveDateTime=october,
                    valueQuantity={"value": 140, **mmol}),
    ]  # fmt: skip
    vaccine = {"coding": [{"system": "http://hl7.org/fhir/sid/cvx", "code": "140"}], "text": "Influenza"}
    immunization = {"resourceType": "Immunization", "id": f"imm-{ward.tag}", "status": "completed",
                    "patient": subject, "vaccineCode": vaccine, "occurrenceDateTime": "2025-10-15"}  # fmt: skip
    theirs = observation(
        f"theirs-k-{ward.tag}", ref(f"Patient/{ward.theirs}"), "laboratory", "2823-3", "Kalium",
        effectiveDateTime="2026-08-01T08:00:00+02:00", valueQuantity={"value": 9.9, **mmol},
    )  # fmt: skip
    for resource in (*results, immunization, theirs):
        put(service, resource)


@pytest.fixture
def ward(service: FhirService) -> Ward:
    ward = admitted_patient(service)
    add_portal_data(service, ward)
    return ward


def patient_browser(service: FhirService, patient: str) -> tuple[TestClient, str]:
    web = browser(service)
    return web, logged_in_as(service, web, PATIENT, fhir_user=f"Patient/{patient}", patient=patient)


def json_of(web: TestClient, path: str, **params: str) -> dict[str, Any]:
    answer = web.get(path, params={**params, "_format": "json"})
    assert answer.status_code == 200, answer.text
    assert answer.headers["cache-control"] == "no-store"
    return answer.json()  # type: ignore[no-any-return]


def stored_patient(service: FhirService, patient: str) -> dict[str, Any]:
    answer = service.as_user(READER, None, None).handle(FhirRequest("read", "Patient", patient))
    return dict(orjson.loads(answer.raw)) if answer.raw else dict(answer.resource or {})


def test_the_record_in_plain_words(service: FhirService, ward: Ward) -> None:
    web, _ = patient_browser(service, ward.mine)
    shown = json_of(web, "/portal")
    assert shown["patient"]["name"] == "Karen Sørensen"
    assert [a["substance"] for a in shown["allergies"]["items"]] == ["Penicillin"]
    diagnoses = shown["diagnoses"]
    assert [d["text"] for d in diagnoses] == ["Atrieflimren"]  # the resolved sprain is not current
    medication = {m["name"]: m["dose"] for m in shown["medication"]}
    assert medication["Apixaban"]["text"] == "5 mg 2 gange dagligt" and medication["Metoprolol"]["amount"] == "50 mg"
    assert "Ibuprofen" not in medication  # stopped
    assert [v["vaccine"] for v in shown["vaccinations"]] == ["Influenza"]


def test_a_diagnosis_is_explained_by_its_code_systems_words() -> None:
    from lifeline.web.pages.portal.record import diagnoses

    code = {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10", "code": "I48.9", "display": "Atrial fibrillation"}]}
    shown = diagnoses([{"code": {**code, "text": "Atrieflimren"}}, {"code": code}], "en")
    assert [(d["text"], d["explained"]) for d in shown] == [
        ("Atrieflimren", "Atrial fibrillation"),
        ("Atrial fibrillation", None),
    ]


def test_results_with_range_flag_in_words_and_a_trend(service: FhirService, ward: Ward) -> None:
    web, _ = patient_browser(service, ward.mine)
    shown = json_of(web, "/portal/results")
    tests = {t["name"]: t for t in shown["tests"]}
    # The newest of each test: this October's, or the chart's November one where no hold hides it.
    assert tests["Kalium"]["value"] in ("5.8", "5.9") and tests["Kalium"]["range"] == "3.5–4.6 mmol/L"
    assert tests["Kalium"]["meaning"] == "above" and tests["Kalium"]["count"] >= 2 and tests["Kalium"]["chartable"]
    assert tests["Hæmoglobin"]["meaning"] == "below" and tests["Natrium"]["meaning"] == "no-range"
    assert shown["trend"] is None
    trend = json_of(web, "/portal/results", code="2823-3")["trend"]
    values = [p["value"] for p in trend["points"]]
    assert values[:2] == [4.1, 5.8] and 9.9 not in values  # their own only: not the other's 9.9
    assert [p["meaning"] for p in trend["points"]][:2] == ["normal", "above"]
    image = web.get(trend["chart"])
    assert image.status_code == 200 and image.headers["content-type"] == "image/svg+xml"
    assert b"<script" not in image.content and b": 9.9<" not in image.content and b": 5.8<" in image.content
    html = web.get("/portal/results").text
    assert "above the normal range" in html and 'href="/portal/results?code=2823-3#trend"' in html


@pytest.mark.parametrize("query", [{}, {"code": ["a", "b"]}, {"code": "<x>"}])
def test_a_chart_of_no_one_test_is_a_400(service: FhirService, ward: Ward, query: dict[str, Any]) -> None:
    web, _ = patient_browser(service, ward.mine)
    assert web.get("/portal/results/chart.svg", params=query).status_code == 400


def test_appointments_upcoming_and_past_with_place(service: FhirService, ward: Ward) -> None:
    clinic = {"resourceType": "Location", "id": f"clinic-{ward.tag}", "name": f"Ambulatorium K{ward.tag}"}
    put(service, clinic)
    coming = {
        "resourceType": "Appointment", "id": f"soon-{ward.tag}", "status": "booked", "description": "Kontrol",
        "start": "2099-01-05T09:00:00+01:00", "end": "2099-01-05T09:30:00+01:00",
        "participant": [{"actor": ref(f"Patient/{ward.mine}"), "status": "accepted"},
                        {"actor": ref(f"Location/{clinic['id']}"), "status": "accepted"}],
    }  # fmt: skip
    put(service, coming)
    web, _ = patient_browser(service, ward.mine)
    shown = json_of(web, "/portal/appointments")
    upcoming = {a["what"]: a for a in shown["upcoming"]}
    assert upcoming["Kontrol"]["where"] == f"Ambulatorium K{ward.tag}"
    assert "Forundersøgelse" in {a["what"] for a in shown["past"]}


def test_the_patient_changes_their_phone_and_email(service: FhirService, ward: Ward) -> None:
    web, csrf = patient_browser(service, ward.mine)
    before = stored_patient(service, ward.mine)
    answer = web.post("/portal/contact", data={"csrf": csrf, "phone": "+45 20 12 34 56", "email": "karen@example.dk"})
    assert (answer.status_code, answer.headers["location"]) == (303, "/portal/contact?saved=1")
    after = stored_patient(service, ward.mine)
    assert after["telecom"] == [
        {"system": "phone", "value": "+45 20 12 34 56", "use": "mobile"},
        {"system": "email", "value": "karen@example.dk", "use": "home"},
    ]
    assert {k: v for k, v in after.items() if k not in ("telecom", "meta")} == {
        k: v for k, v in before.items() if k not in ("telecom", "meta")
    }
    page = web.get("/portal/contact?saved=1").text
    assert 'id="saved"' in page and "+45 20 12 34 56" in page
    removed = web.post("/portal/contact", data={"csrf": csrf, "phone": "+45 20 12 34 56", "email": ""})
    assert removed.status_code == 303
    assert [t["system"] for t in stored_patient(service, ward.mine)["telecom"]] == ["phone"]


@pytest.mark.parametrize(
    ("phone", "email", "field"),
    [
        ("12", "", "phone"),
        ("call me", "", "phone"),
        ("", "not an address", "email"),
        ("", "a@" + "b" * 300 + ".dk", "email"),
    ],
)
def test_bad_input_is_shown_beside_its_field_and_nothing_is_written(
    service: FhirService, ward: Ward, phone: str, email: str, field: str
) -> None:
    web, csrf = patient_browser(service, ward.mine)
    before = stored_patient(service, ward.mine)
    answer = web.post("/portal/contact", data={"csrf": csrf, "phone": phone, "email": email})
    assert answer.status_code == 400 and f'id="{field}-error"' in answer.text
    assert "Traceback" not in answer.text
    assert stored_patient(service, ward.mine)["meta"] == before["meta"]


def test_a_form_without_its_token_is_refused(service: FhirService, ward: Ward) -> None:
    web, _ = patient_browser(service, ward.mine)
    before = stored_patient(service, ward.mine)
    assert web.post("/portal/contact", data={"phone": "20123456"}).status_code == 403
    assert stored_patient(service, ward.mine)["meta"] == before["meta"]


def test_another_patients_id_in_a_form_or_an_address_names_no_one(service: FhirService, ward: Ward) -> None:
    web, csrf = patient_browser(service, ward.mine)
    theirs_before = stored_patient(service, ward.theirs)
    fields = {"csrf": csrf, "phone": "20123456", "email": "", "id": ward.theirs, "patient": ward.theirs}
    assert web.post(f"/portal/contact?patient={ward.theirs}", data=fields).status_code == 303
    assert stored_patient(service, ward.theirs) == theirs_before  # only their own was changed
    assert stored_patient(service, ward.mine)["telecom"][0]["value"] == "20123456"
    for path in ("/portal", "/portal/results", "/portal/appointments", "/portal/contact"):
        answer = web.get(path, params={"patient": ward.theirs, "id": ward.theirs, "code": "2823-3"})
        assert answer.status_code == 200 and ward.theirs_name not in answer.text and ward.theirs not in answer.text
    # The core itself: the patient's handle answers 404 for the other patient, as if there were none.
    core = contact.writer(service, _user(ward.mine), None)
    with pytest.raises(NotFound):
        core.handle(FhirRequest("read", "Patient", ward.theirs))
    update = FhirRequest("update", "Patient", ward.theirs, body={**theirs_before, "telecom": []})
    with pytest.raises(NotFound):
        core.handle(update)
    assert stored_patient(service, ward.theirs) == theirs_before


def _user(patient: str) -> Any:
    from lifeline.web.layout import PageUser

    return PageUser(kind="patient", fhir_user=f"Patient/{patient}")


def test_nothing_else_of_the_patient_can_be_changed_through_the_write() -> None:
    values, errors = contact.checked(" 20 12  34 56 ", " karen@example.dk ")
    assert values == {"phone": "20 12 34 56", "email": "karen@example.dk"} and errors == {}
    assert results.flag_words("HH") == "far-above" and results.flag_words(None) == "normal"


def test_every_view_is_on_the_trail_as_the_patient(service: FhirService, ward: Ward) -> None:
    web, _ = patient_browser(service, ward.mine)
    for path in ("/portal", "/portal/results", "/portal/appointments", "/portal/contact"):
        json_of(web, path)
    events = [orjson.loads(r.content) for r in events_after(service.repo, service.settings.node_id, 0, 10_000_000)]
    mine = [
        e
        for e in events
        if f"Patient/{ward.mine}" in orjson.dumps(e.get("agent", [])).decode()
        and any(x.get("what", {}).get("reference") == f"Patient/{ward.mine}" for x in e.get("entity", []))
    ]
    subtypes = {s["code"] for e in mine for s in e.get("subtype", [])}
    assert {"read", "search-type"} <= subtypes, subtypes
    assert len(mine) >= 9
    assert not [e for e in mine if ward.theirs in orjson.dumps(e.get("entity", [])).decode()]


def test_a_fresh_id_is_no_page(service: FhirService) -> None:
    """A session for a Patient that does not exist sees a 404, not someone else's record."""
    web, _ = patient_browser(service, f"gone-{uuid.uuid4().hex[:8]}")
    assert web.get("/portal").status_code == 404
