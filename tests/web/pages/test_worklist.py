"""My patients (web/pages/worklist.py): today's inpatients of the clinician's departments by
ward and bed, today's clinic and operations of the departments, through the JSON form on both
backends; what is not theirs, or not today, is not on it; every search on the audit trail."""

from __future__ import annotations

import uuid
from datetime import datetime, time, timedelta
from typing import Any

import orjson
from starlette.testclient import TestClient

from lifeline.audit.store import events_after
from lifeline.clock import COPENHAGEN, today
from lifeline.fhir.service import FhirService
from lifeline.identity.sessions import STAFF
from tests.web.pages.test_chart import location, put, ref
from tests.web.test_login_pages import add_user, browser
from tests.web.test_middleware import logged_in_as

IMP = {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "IMP"}


def _department(service: FhirService, tag: str) -> dict[str, str]:
    """A department with a doctor and a nurse (their roles), a ward with two beds, and five patients."""
    ids = {k: f"{k}-{tag}" for k in ("dep", "other", "doctor", "nurse", "ward", "bed2", "bed10")}
    put(service, {"resourceType": "Organization", "id": ids["dep"], "name": f"Kardiologisk {tag}"})
    put(service, {"resourceType": "Organization", "id": ids["other"], "name": f"Ortopædkirurgisk {tag}"})
    for person in ("doctor", "nurse"):
        put(service, {"resourceType": "Practitioner", "id": ids[person], "name": [{"family": person.title()}]})
        put(service, {"resourceType": "PractitionerRole", "id": f"role-{ids[person]}", "active": True,
                      "practitioner": ref(f"Practitioner/{ids[person]}"),
                      "organization": ref(f"Organization/{ids['dep']}", f"Kardiologisk {tag}")})  # fmt: skip
    put(service, location(ids["ward"], f"Sengeafsnit {tag}", "wa"))
    put(service, location(ids["bed2"], f"Seng 2, Sengeafsnit {tag}", "bd"))
    put(service, location(ids["bed10"], f"Seng 10, Sengeafsnit {tag}", "bd"))
    for who in ("bed10", "bed2", "clinic", "surgery", "elsewhere", "yesterday"):
        put(service, {"resourceType": "Patient", "id": f"{who}-{tag}", "name": [{"family": f"P{who}", "given": [tag]}],
                      "birthDate": "1950-01-01"})  # fmt: skip
    return ids


def _admit(service: FhirService, tag: str, patient: str, department: str, bed: str | None) -> None:
    places = [{"location": ref(f"Location/ward-{tag}"), "status": "active"}]
    if bed:
        places.append({"location": ref(f"Location/{bed}-{tag}"), "status": "active"})
    put(service, {"resourceType": "Encounter", "id": f"enc-{patient}", "status": "in-progress", "class": IMP,
                  "subject": ref(f"Patient/{patient}"), "serviceProvider": ref(f"Organization/{department}"),
                  "location": places, "period": {"start": "2026-11-30T08:00:00+01:00"}})  # fmt: skip


def _appointment(service: FhirService, tag: str, patient: str, role: str, start: datetime, **extra: Any) -> None:
    participants = [{"actor": ref(f"Patient/{patient}"), "status": "accepted"},
                    {"actor": ref(f"PractitionerRole/{role}", "Dr. Doctor"), "status": "accepted"}]  # fmt: skip
    put(service, {"resourceType": "Appointment", "id": f"app-{patient}", "status": "booked",
                  "start": start.isoformat(), "end": (start + timedelta(minutes=30)).isoformat(),
                  "participant": participants, **extra})  # fmt: skip


def _worklist(service: FhirService) -> tuple[TestClient, str, str]:
    tag = uuid.uuid4().hex[:8]
    ids = _department(service, tag)
    _admit(service, tag, f"bed10-{tag}", ids["dep"], "bed10")
    _admit(service, tag, f"bed2-{tag}", ids["dep"], "bed2")
    _admit(service, tag, f"elsewhere-{tag}", ids["other"], None)
    morning = datetime.combine(today(service.clock), time(9, 30), COPENHAGEN)
    doctor_role, nurse_role = f"role-{ids['doctor']}", f"role-{ids['nurse']}"
    _appointment(service, tag, f"clinic-{tag}", doctor_role, morning, description="Ambulant kontrol")
    # A colleague's appointment with a patient no care ties to this doctor: the rule leaves it out.
    _appointment(service, tag, f"elsewhere-{tag}", nurse_role, morning, description="Sygeplejekonsultation")
    put(service, {"resourceType": "ServiceRequest", "id": f"sr-{tag}", "status": "active", "intent": "order",
                  "subject": ref(f"Patient/surgery-{tag}"), "code": {"text": "Appendektomi"}})  # fmt: skip
    _appointment(service, tag, f"surgery-{tag}", doctor_role, morning - timedelta(hours=1),
                 description="Appendektomi, Operationsstue 1", basedOn=[ref(f"ServiceRequest/sr-{tag}")])  # fmt: skip
    # Yesterday's visit happened (fulfilled): a booking in the past is refused (fhir/rules/scheduling.py).
    _appointment(service, tag, f"yesterday-{tag}", doctor_role, morning - timedelta(days=1), description="Gammel",
                 status="fulfilled")  # fmt: skip
    web = browser(service)
    staff = add_user(service, practitioner=ids["doctor"])
    logged_in_as(service, web, STAFF, username=staff.username, fhir_user=f"Practitioner/{ids['doctor']}")
    return web, tag, staff.username


def test_todays_inpatients_clinic_and_operations_of_my_departments(service: FhirService) -> None:
    web, tag, _ = _worklist(service)
    answer = web.get("/patients", params={"_format": "json"})
    assert answer.status_code == 200, answer.text
    shown = answer.json()
    assert shown["departments"] == [f"Kardiologisk {tag}"]
    assert [(p["id"], p["bed"]) for p in shown["inpatients"]] == [
        (f"bed2-{tag}", "Seng 2"),
        (f"bed10-{tag}", "Seng 10"),
    ]
    assert all(p["ward"] == f"Sengeafsnit {tag}" and p["href"] == f"/patients/{p['id']}" for p in shown["inpatients"])
    assert [(p["id"], p["time"], p["what"]) for p in shown["clinic"]] == [
        (f"clinic-{tag}", "09:30", "Ambulant kontrol")
    ]
    assert [(p["id"], p["time"]) for p in shown["operations"]] == [(f"surgery-{tag}", "08:30")]
    page = web.get("/patients")
    assert page.status_code == 200 and "Pbed2" in page.text and f'href="/patients/bed2-{tag}"' in page.text
    assert f"elsewhere-{tag}" not in page.text and f"yesterday-{tag}" not in page.text


def test_the_worklists_searches_are_on_the_trail_as_the_clinician(service: FhirService) -> None:
    web, tag, username = _worklist(service)
    assert web.get("/patients").status_code == 200
    events = [orjson.loads(r.content) for r in events_after(service.repo, service.settings.node_id, 0, 1_000_000)]
    mine = [e for e in events if any(a.get("altId") == username for a in e["agent"])]
    named = {x["what"]["reference"] for e in mine for x in e.get("entity", []) if "what" in x}
    assert {f"Patient/bed2-{tag}", f"Patient/clinic-{tag}", f"Patient/surgery-{tag}"} <= named


def test_a_login_without_a_practitioner_or_a_role_gets_words_not_an_error(service: FhirService) -> None:
    web = browser(service)
    staff = add_user(service)
    logged_in_as(service, web, STAFF, username=staff.username)
    shown = web.get("/patients", params={"_format": "json"}).json()
    assert shown["linked"] is False and shown["inpatients"] == []
    assert "not linked to a practitioner" in web.get("/patients").text
    logged_in_as(service, web, STAFF, username=staff.username, fhir_user=f"Practitioner/nobody-{uuid.uuid4().hex[:6]}")
    assert "no active role at a department" in web.get("/patients").text
