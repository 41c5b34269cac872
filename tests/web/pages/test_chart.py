"""The chart of one patient (web/pages/chart/): its header and summary through the JSON form (the
same data function as the page), on both backends; a patient outside care refused with nothing of
theirs shown; an unknown or malformed id a 404; every read on the audit trail as the clinician's;
markup in the record shown as text."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import orjson
import pytest
from starlette.testclient import TestClient

from lifeline.audit.store import events_after
from lifeline.clock import today
from lifeline.cpr import CPR_SYSTEM
from lifeline.fhir.request import FhirRequest
from lifeline.fhir.service import FhirService
from lifeline.identity.principal import OPERATOR
from lifeline.identity.sessions import STAFF
from lifeline.web import i18n
from lifeline.web.pages.chart.page import PARTS
from tests.web.test_login_pages import add_user, browser
from tests.web.test_middleware import as_patient, logged_in_as

LOINC = "http://loinc.org"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
CONDITION_CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
PHYSICAL_TYPE = "http://terminology.hl7.org/CodeSystem/location-physical-type"
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
DAILY = {"frequency": 1, "period": 1, "periodUnit": "d"}
EMPTY = (
    "No allergies recorded",
    "No active problems recorded.",
    "No current medication recorded.",
    "No vital signs recorded.",
    "No abnormal results recorded.",
    "No coming appointments or operations.",
)


@dataclass
class Ward:
    """A department, its doctor, a patient admitted there with a full record, one outside care."""

    tag: str
    doctor: str
    mine: str
    theirs: str
    theirs_name: str


def put(service: FhirService, resource: dict[str, Any]) -> None:
    request = FhirRequest("update", resource["resourceType"], resource["id"], body=resource, principal=OPERATOR)
    assert service.handle(request).status in (200, 201)


def ref(reference: str, display: str | None = None) -> dict[str, str]:
    return {"reference": reference, **({"display": display} if display else {})}


def category(code: str) -> list[dict[str, Any]]:
    return [{"coding": [{"system": OBSERVATION_CATEGORY, "code": code}]}]


def location(id_: str, name: str, kind: str) -> dict[str, Any]:
    physical = {"coding": [{"system": PHYSICAL_TYPE, "code": kind}]}
    return {"resourceType": "Location", "id": id_, "name": name, "physicalType": physical}


def observation(id_: str, subject: dict[str, str], kind: str, loinc: str, text: str, **values: Any) -> dict[str, Any]:
    code = {"coding": [{"system": LOINC, "code": loinc}], "text": text}
    resource = {"resourceType": "Observation", "id": id_, "status": "final", "category": category(kind)}
    return {**resource, "subject": subject, "code": code, **values}


def mmol(value: float) -> dict[str, Any]:
    return {"value": value, "unit": "mmol/L"}


def condition(id_: str, subject: dict[str, str], status: str, code: dict[str, Any], **values: Any) -> dict[str, Any]:
    clinical = {"coding": [{"system": CONDITION_CLINICAL, "code": status}]}
    return {
        "resourceType": "Condition",
        "id": id_,
        "subject": subject,
        "clinicalStatus": clinical,
        "code": code,
        **values,
    }


def prescription(id_: str, subject: dict[str, str], status: str, drug: dict[str, Any], **values: Any) -> dict[str, Any]:
    resource = {"resourceType": "MedicationRequest", "id": id_, "status": status, "intent": "order"}
    return {**resource, "subject": subject, "medicationCodeableConcept": drug, **values}


def appointment(id_: str, subject: dict[str, str], status: str, what: str, start: str) -> dict[str, Any]:
    resource = {"resourceType": "Appointment", "id": id_, "status": status, "description": what, "start": start}
    end = (datetime.fromisoformat(start) + timedelta(minutes=30)).isoformat()  # an appointment ends after it starts
    return {**resource, "end": end, "participant": [{"actor": subject, "status": "accepted"}]}


def admitted_patient(service: FhirService, name: str = "Karen Sørensen", problem: str = "Atrieflimren") -> Ward:
    """A department and its doctor; a patient admitted there (ward and bed), with an allergy, an
    isolation flag, a care team, problems, prescriptions, vital signs, laboratory results, an
    appointment and an ordered operation; and a patient with no care there."""
    tag = uuid.uuid4().hex[:8]
    # Booked while its day is ahead; under a clock past it (a real one), it happened: a booking in
    # the past is refused (fhir/rules/scheduling.py).
    coming = "booked" if today(service.clock) <= date(2026, 12, 3) else "fulfilled"
    dep, doctor, mine, theirs = f"dep-{tag}", f"doc-{tag}", f"mine-{tag}", f"theirs-{tag}"
    subject = ref(f"Patient/{mine}")
    role = {"practitioner": ref(f"Practitioner/{doctor}"), "organization": ref(f"Organization/{dep}")}
    cpr = [{"system": CPR_SYSTEM, "value": "2507582065"}]
    theirs_name = f"Fremmed{tag}"
    other = {
        "name": [{"family": theirs_name, "given": ["Ole"]}],
        "identifier": [{"system": CPR_SYSTEM, "value": "0101701235"}],
    }
    stay = {"status": "in-progress", "class": {"system": ACT_CODE, "code": "IMP"}, "subject": subject}
    where = [{"location": ref(f"Location/{place}-{tag}"), "status": "active"} for place in ("ward", "bed")]
    admitter = {
        "individual": ref(f"PractitionerRole/role-{tag}", "Asta Møller"),
        "type": [{"text": "Indlæggende læge"}],
    }
    nurse = {"role": [{"text": "Kontaktsygeplejerske"}], "member": ref(f"PractitionerRole/nurse-{tag}", "Bo Hansen")}
    reaction = {"manifestation": [{"text": "Urticaria"}], "severity": "severe"}
    icd10 = {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10", "code": "I48.9"}], "text": problem}
    apixaban = {"coding": [{"system": "http://www.whocc.no/atc", "code": "B01AF02"}], "text": "Apixaban"}
    daily = {"doseAndRate": [{"doseQuantity": {"value": 50, "unit": "mg"}}], "timing": {"repeat": DAILY}}
    morning = "2026-11-21T07:45:00+01:00"
    for resource in (
        {"resourceType": "Organization", "id": dep, "name": f"Kardiologisk Afdeling {tag}"},
        {"resourceType": "Practitioner", "id": doctor, "name": [{"family": "Læge"}]},
        {"resourceType": "PractitionerRole", "id": f"role-{tag}", "active": True, **role},
        location(f"ward-{tag}", f"Sengeafsnit K{tag}", "wa"),
        location(f"bed-{tag}", f"Seng 7, Sengeafsnit K{tag}", "bd"),
        {"resourceType": "Patient", "id": mine, "name": [{"use": "official", "text": name}], "identifier": cpr,
         "gender": "female", "birthDate": "1958-07-25"},
        {"resourceType": "Patient", "id": theirs, "gender": "male", **other},
        {"resourceType": "Encounter", "id": f"enc-{tag}", **stay, "serviceProvider": ref(f"Organization/{dep}"),
         "period": {"start": "2026-11-20T08:00:00+01:00"}, "location": where, "participant": [admitter]},
        {"resourceType": "CareTeam", "id": f"team-{tag}", "status": "active", "subject": subject,
         "participant": [nurse]},
        {"resourceType": "AllergyIntolerance", "id": f"allergy-{tag}", "patient": subject, "criticality": "high",
         "clinicalStatus": {"coding": [{"code": "active"}]}, "code": {"text": "Penicillin"}, "reaction": [reaction]},
        {"resourceType": "Flag", "id": f"flag-{tag}", "status": "active", "subject": subject,
         "code": {"text": "Isolation: MRSA"}},
        condition(f"cond-{tag}", subject, "active", icd10, onsetDateTime="2024-04-07"),
        condition(f"old-{tag}", subject, "resolved", {"text": "Forstuvet ankel"}),
        prescription(f"med-{tag}", subject, "active", apixaban, authoredOn="2024-04-08T09:30:00+02:00",
                     dosageInstruction=[{"text": "5 mg 2 gange dagligt"}]),
        prescription(f"med2-{tag}", subject, "active", {"text": "Metoprolol"}, dosageInstruction=[daily]),
        prescription(f"stopped-{tag}", subject, "stopped", {"text": "Ibuprofen"}),
        observation(f"pulse1-{tag}", subject, "vital-signs", "8867-4", "Puls",
                    effectiveDateTime="2026-11-21T08:00:00+01:00", valueQuantity={"value": 88, "unit": "/min"}),
        observation(f"pulse2-{tag}", subject, "vital-signs", "8867-4", "Puls",
                    effectiveDateTime="2026-11-21T09:00:00+01:00", valueQuantity={"value": 71, "unit": "/min"}),
        observation(f"k-{tag}", subject, "laboratory", "2823-3", "Kalium", effectiveDateTime=morning,
                    valueQuantity=mmol(5.9), referenceRange=[{"low": mmol(3.5), "high": mmol(4.6)}]),
        observation(f"hb-{tag}", subject, "laboratory", "59260-0", "Hæmoglobin", effectiveDateTime=morning,
                    valueQuantity=mmol(6.1), interpretation=[{"coding": [{"code": "L"}]}],
                    referenceRange=[{"low": mmol(7.3), "high": mmol(9.5)}]),
        observation(f"na-{tag}", subject, "laboratory", "2951-2", "Natrium", effectiveDateTime=morning,
                    valueQuantity=mmol(140), interpretation=[{"coding": [{"code": "N"}]}]),
        appointment(f"appt-{tag}", subject, coming, "Ambulant kontrol, kardiologi", "2026-12-03T10:00:00+01:00"),
        appointment(f"past-{tag}", subject, "fulfilled", "Forundersøgelse", "2026-01-03T10:00:00+01:00"),
        {"resourceType": "ServiceRequest", "id": f"op-{tag}", "status": "active", "intent": "order",
         "subject": subject, "code": {"text": "Ablation"}, "occurrenceDateTime": "2026-12-10T08:00:00+01:00",
         "locationReference": [ref(f"Location/theatre-{tag}", "Operationsstue 2")]},
    ):  # fmt: skip
        put(service, resource)
    return Ward(tag, doctor, mine, theirs, theirs_name)


def doctor_logged_in(service: FhirService, ward: Ward, language: str | None = None) -> tuple[TestClient, str]:
    web = browser(service)
    staff = add_user(service, practitioner=ward.doctor)
    logged_in_as(service, web, STAFF, username=staff.username, fhir_user=f"Practitioner/{ward.doctor}")
    if language:
        web.cookies.set(i18n.COOKIE, language)
    return web, staff.username


@pytest.fixture
def ward(service: FhirService) -> Ward:
    return admitted_patient(service)


def chart_json(web: TestClient, patient: str) -> dict[str, Any]:
    answer = web.get(f"/patients/{patient}", params={"_format": "json"})
    assert answer.status_code == 200, answer.text
    assert answer.headers["cache-control"] == "no-store"
    return answer.json()  # type: ignore[no-any-return]


def test_the_chart_needs_a_staff_login(service: FhirService, ward: Ward) -> None:
    answer = browser(service).get("/patients/anyone")
    assert (answer.status_code, answer.headers["location"]) == (303, "/login?next=%2Fpatients%2Fanyone")
    with browser(service) as web:
        as_patient(service, web, ward.mine)  # even their own: a patient's record is the portal's
        refused = web.get(f"/patients/{ward.mine}")
        # The top bar names who is logged in (Karen herself); the page shows nothing of the chart.
        assert refused.status_code == 403 and "Karen" not in refused.text.split("<main", 1)[1]


def test_the_header_says_who_the_patient_is_and_what_not_to_miss(service: FhirService, ward: Ward) -> None:
    web, _ = doctor_logged_in(service, ward)
    chart = chart_json(web, ward.mine)
    patient = chart["patient"]
    assert (patient["name"], patient["cpr"], patient["sex"]) == ("Karen Sørensen", "250758-2065", "female")
    assert patient["age"] == {"years": 68}  # on 22 November 2026, the tests' clock
    assert patient["birthDate"] == {"at": "1958-07-25", "text": "25 Jul 1958"}
    assert chart["allergies"]["status"] == "recorded"
    [allergy] = chart["allergies"]["items"]
    assert (allergy["substance"], allergy["criticality"], allergy["severity"]) == ("Penicillin", "high", "severe")
    assert allergy["reactions"] == ["Urticaria"]
    assert [(f["kind"], f["text"]) for f in chart["flags"]] == [("isolation", "Isolation: MRSA")]
    stay = chart["stay"]
    assert (stay["ward"], stay["bed"], stay["class"]) == (f"Sengeafsnit K{ward.tag}", "Seng 7", "IMP")
    assert stay["department"] == f"Kardiologisk Afdeling {ward.tag}"
    assert chart["team"] == [
        {"name": "Bo Hansen", "role": "Kontaktsygeplejerske"},
        {"name": "Asta Møller", "role": "Indlæggende læge"},
    ]


def test_the_summary_shows_what_is_current(service: FhirService, ward: Ward) -> None:
    web, _ = doctor_logged_in(service, ward)
    chart = chart_json(web, ward.mine)
    assert [(p["text"], p["code"], p["onset"]["at"]) for p in chart["problems"]] == [
        ("Atrieflimren", "I48.9", "2024-04-07")
    ]
    drugs = {m["name"]: m for m in chart["medication"]}
    assert sorted(drugs) == ["Apixaban", "Metoprolol"]  # not the stopped one
    assert drugs["Apixaban"]["dose"]["text"] == "5 mg 2 gange dagligt" and drugs["Apixaban"]["atc"] == "B01AF02"
    assert drugs["Metoprolol"]["dose"] == {
        "text": "",
        "amount": "50 mg",
        "frequency": 1,
        "period": 1,
        "periodUnit": "d",
    }
    [pulse] = chart["vitals"]  # the newest of each kind
    assert (pulse["name"], pulse["value"], pulse["unit"]) == ("Puls", "71", "/min")
    assert pulse["when"]["text"] == "21 Nov 2026, 09:00"
    abnormal = {r["name"]: r for r in chart["abnormal"]}
    assert sorted(abnormal) == ["Hæmoglobin", "Kalium"]  # sodium is normal
    assert (abnormal["Kalium"]["value"], abnormal["Kalium"]["flag"]) == ("5.9", "H")  # from the range alone
    assert abnormal["Kalium"]["range"] == "3.5–4.6 mmol/L"
    assert abnormal["Hæmoglobin"]["flag"] == "L"
    assert [(c["kind"], c["what"]) for c in chart["coming"]] == [
        ("appointment", "Ambulant kontrol, kardiologi"),
        ("order", "Ablation"),
    ]
    assert [p["id"] for p in chart["parts"]] == list(PARTS)
    assert PARTS == ("results", "vitals", "notes", "imaging", "timeline", "medication", "orders")
    page = web.get(f"/patients/{ward.mine}")
    assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
    for shown in (
        "250758-2065",
        "Penicillin",
        "Seng 7",
        "Apixaban",
        "↑</span> High",
        "↓</span> Low",
        'id="part-results"',
    ):
        assert shown in page.text, shown
    assert "Isolation: MRSA" in page.text and "Isolation: Isolation" not in page.text  # the flag's words once


def test_danish_dates_and_numbers_in_danish(service: FhirService, ward: Ward) -> None:
    web, _ = doctor_logged_in(service, ward, "da")
    chart = chart_json(web, ward.mine)
    assert chart["patient"]["birthDate"]["text"] == "25.07.1958"
    assert chart["vitals"][0]["when"]["text"] == "21.11.2026 09:00"
    assert {r["name"]: r["value"] for r in chart["abnormal"]}["Kalium"] == "5,9"
    page = web.get(f"/patients/{ward.mine}").text
    assert "Aktuelle problemer" in page and "68 år" in page


def test_empty_sections_say_so(service: FhirService, ward: Ward) -> None:
    lonely = f"lonely-{ward.tag}"
    visit = {"status": "in-progress", "class": {"code": "AMB"}, "serviceProvider": ref(f"Organization/dep-{ward.tag}")}
    put(service, {"resourceType": "Patient", "id": lonely, "name": [{"text": "Ene Enesen"}]})
    put(service, {"resourceType": "Encounter", "id": f"enc-{lonely}", "subject": ref(f"Patient/{lonely}"), **visit})
    web, _ = doctor_logged_in(service, ward)
    chart = chart_json(web, lonely)
    assert chart["allergies"] == {"status": "none-recorded", "items": []}
    assert chart["problems"] == chart["medication"] == chart["vitals"] == chart["abnormal"] == chart["coming"] == []
    assert chart["patient"]["age"] is None and chart["patient"]["cpr"] is None
    page = web.get(f"/patients/{lonely}").text
    for said in EMPTY:
        assert said in page, said
    no_known_allergy = {"coding": [{"system": "http://snomed.info/sct", "code": "716186003"}]}
    nka = {"resourceType": "AllergyIntolerance", "id": f"nka-{lonely}", "code": no_known_allergy}
    put(service, {**nka, "patient": ref(f"Patient/{lonely}")})
    assert chart_json(web, lonely)["allergies"] == {"status": "none-known", "items": []}
    assert "No known allergies" in web.get(f"/patients/{lonely}").text


def test_a_patient_outside_care_is_refused_with_nothing_of_theirs(service: FhirService, ward: Ward) -> None:
    web, _ = doctor_logged_in(service, ward)
    page = web.get(f"/patients/{ward.theirs}")
    assert page.status_code == 403 and page.headers["content-type"].startswith("text/html")
    assert "not in your care" in page.text and f"/break-the-glass?patient={ward.theirs}" in page.text
    assert ward.theirs_name not in page.text and "0101701235" not in page.text and "010170" not in page.text
    answer = web.get(f"/patients/{ward.theirs}", params={"_format": "json"})
    assert answer.status_code == 403 and ward.theirs_name not in answer.text
    assert [i["code"] for i in answer.json()["issue"]] == ["suppressed"]


@pytest.mark.parametrize("patient", ["no-such-patient", "bad%20id", "a" * 65, "%3Cscript%3E", "..%2F..%2Fetc"])
def test_an_unknown_or_malformed_id_is_not_found(service: FhirService, ward: Ward, patient: str) -> None:
    web, _ = doctor_logged_in(service, ward)
    answer = web.get(f"/patients/{patient}")
    assert answer.status_code == 404, answer.text
    assert "<script>" not in answer.text


def test_the_pages_reads_are_on_the_trail_as_the_clinicians(service: FhirService, ward: Ward) -> None:
    web, username = doctor_logged_in(service, ward)
    chart_json(web, ward.mine)
    web.get(f"/patients/{ward.theirs}")
    events = [orjson.loads(r.content) for r in events_after(service.repo, service.settings.node_id, 0, 1_000_000)]

    def about(patient: str) -> list[dict[str, Any]]:
        return [
            e
            for e in events
            if any(a.get("altId") == username for a in e["agent"])
            and any(x.get("what", {}).get("reference") == f"Patient/{patient}" for x in e.get("entity", []))
        ]

    mine = about(ward.mine)
    subtypes = {s["code"] for e in mine for s in e.get("subtype", [])}
    assert {"read", "search-type"} <= subtypes, subtypes
    assert len(mine) >= 10  # every search of the page, each on the trail
    refused = about(ward.theirs)
    assert refused and all(e["outcome"] != "0" for e in refused)


def test_markup_in_the_record_is_shown_as_text(service: FhirService) -> None:
    ward = admitted_patient(service, name="<script>alert(1)</script>", problem='<img src=x onerror="alert(2)">')
    web, _ = doctor_logged_in(service, ward)
    page = web.get(f"/patients/{ward.mine}").text
    assert "<script>alert(1)" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<img src=x" not in page and "&lt;img src=x onerror=&#34;alert(2)&#34;&gt;" in page
