"""The break-the-glass dialogue (web/pages/break_glass.py): from the chart's refusal or from the
finder's CPR search, a reason and a text open the record outside care through the core's
`$break-the-glass`, as the clinician; bad input is answered beside the field and opens nothing."""

from __future__ import annotations

import re

import orjson
from starlette.testclient import TestClient

from lifeline.access.break_glass import grants_for_review
from lifeline.audit.store import events_after
from lifeline.cpr import CPR_SYSTEM
from lifeline.fhir.service import FhirService
from tests.web.pages.test_chart import admitted_patient, doctor_logged_in, put
from tests.web.pages.test_finder import new_cpr


def _csrf(page: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', page)
    assert match, page
    return match.group(1)


def _dialogue(web: TestClient, query: str) -> str:
    page = web.get(f"/break-the-glass?{query}")
    assert page.status_code == 200, page.text
    return page.text


def test_the_chart_refusal_leads_to_the_dialogue_that_opens_the_record(service: FhirService) -> None:
    ward = admitted_patient(service)
    web, username = doctor_logged_in(service, ward)
    assert web.get(f"/patients/{ward.theirs}").status_code == 403
    page = _dialogue(web, f"patient={ward.theirs}")
    assert ward.theirs_name not in page  # the dialogue shows nothing of the record either
    form = {
        "csrf": _csrf(page),
        "patient": ward.theirs,
        "reason": "ETREAT",
        "text": "Unconscious, brought in by ambulance",
    }
    opened = web.post("/break-the-glass", data=form, follow_redirects=False)
    assert (opened.status_code, opened.headers["location"]) == (303, f"/patients/{ward.theirs}")
    chart = web.get(f"/patients/{ward.theirs}")
    assert chart.status_code == 200 and ward.theirs_name in chart.text
    grants = [g for g in grants_for_review(service.repo) if g.user == username]
    assert [(g.patient, g.reason, g.text) for g in grants] == [(ward.theirs, "ETREAT", form["text"])]


def test_by_cpr_number_the_record_is_found_by_the_core_not_the_page(service: FhirService) -> None:
    ward = admitted_patient(service)
    web, _ = doctor_logged_in(service, ward)
    cpr = new_cpr()
    stranger = f"stranger-{ward.tag}"
    put(service, {"resourceType": "Patient", "id": stranger, "identifier": [{"system": CPR_SYSTEM, "value": cpr}],
                  "name": [{"family": f"Ukendt{ward.tag}"}]})  # fmt: skip
    found = web.get("/find", params={"q": f"{cpr[:6]}-{cpr[6:]}", "_format": "json"}).json()
    assert found["outsideCare"] and not found["patients"]
    page = _dialogue(web, f"cpr={cpr}")
    assert f"{cpr[:6]}-{cpr[6:]}" in page and stranger not in page and f"Ukendt{ward.tag}" not in page
    form = {"csrf": _csrf(page), "cpr": cpr, "reason": "BTG", "text": "Called by the GP about a result"}
    opened = web.post("/break-the-glass", data=form, follow_redirects=False)
    assert (opened.status_code, opened.headers["location"]) == (303, f"/patients/{stranger}")
    # On the trail as the clinician's, naming the patient the grant opened.
    events = [orjson.loads(row.content) for row in events_after(service.repo, service.settings.node_id, 0, 1_000_000)]
    named = [e for e in events if any(x.get("what", {}).get("reference") == f"Patient/{stranger}"
                                      for x in e.get("entity", [])) and e["action"] == "E"]  # fmt: skip
    assert named and named[-1]["purposeOfEvent"][0]["coding"][0]["code"] == "TREAT"


def test_bad_input_is_answered_beside_the_field_and_opens_nothing(service: FhirService) -> None:
    ward = admitted_patient(service)
    web, username = doctor_logged_in(service, ward)
    page = _dialogue(web, f"patient={ward.theirs}")
    csrf = _csrf(page)
    empty = web.post("/break-the-glass", data={"csrf": csrf, "patient": ward.theirs, "reason": "ETREAT", "text": "  "})
    assert empty.status_code == 400 and "Say in your own words why you need the record now." in empty.text
    odd = web.post("/break-the-glass", data={"csrf": csrf, "patient": ward.theirs, "reason": "X", "text": "<b>why</b>"})
    assert odd.status_code == 400 and "Choose why you need the record." in odd.text
    assert "&lt;b&gt;why&lt;/b&gt;" in odd.text  # the text kept, as text
    nothing = web.get("/break-the-glass")
    assert nothing.status_code == 400 and "Open this page from a patient" in nothing.text
    forged = web.post("/break-the-glass", data={"patient": ward.theirs, "reason": "ETREAT", "text": "x"})
    assert forged.status_code == 403
    assert [g for g in grants_for_review(service.repo) if g.user == username] == []
    assert web.get(f"/patients/{ward.theirs}").status_code == 403


def test_staff_without_a_clinical_role_are_told_why_and_nothing_opens(service: FhirService) -> None:
    ward = admitted_patient(service)
    web, username = doctor_logged_in(service, ward)
    web.cookies.clear()
    from lifeline.identity.sessions import STAFF
    from tests.web.test_login_pages import add_user
    from tests.web.test_middleware import logged_in_as

    clerk = add_user(service, practitioner=f"clerk-{ward.tag}")
    logged_in_as(service, web, STAFF, username=clerk.username, fhir_user=f"Practitioner/clerk-{ward.tag}")
    page = _dialogue(web, f"patient={ward.theirs}")
    form = {"csrf": _csrf(page), "patient": ward.theirs, "reason": "ETREAT", "text": "Curious"}
    refused = web.post("/break-the-glass", data=form)
    assert refused.status_code == 403 and "active clinical role" in refused.text
    assert ward.theirs_name not in refused.text
