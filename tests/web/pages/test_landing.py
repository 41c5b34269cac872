"""The landing page, `/` (web/pages/landing.py): where each person goes next. Its logic through its
JSON form (the same data function as the page), its HTML checked for what each person sees."""

from __future__ import annotations

from lifeline.fhir.service import FhirService
from tests.web.test_login_pages import browser, citizen_service
from tests.web.test_middleware import as_patient, as_staff


def test_an_anonymous_visitor_is_offered_the_login_and_the_public_addresses(service: FhirService) -> None:
    with browser(service) as web:
        data = web.get("/", params={"_format": "json"})
        assert data.status_code == 200 and data.headers["content-type"] == "application/json"
        assert data.headers["cache-control"] == "no-store"
        body = data.json()
        assert body["user"]["kind"] == "anonymous" and body["places"] == []
        assert body["login"] == {"staff": "/login", "patient": None}  # no citizen login set up here
        assert [link["href"] for link in body["links"]] == ["/status.json", "/fhir/metadata"]
        page = web.get("/")
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        for shown in ('id="login-staff" href="/login"', 'href="/status.json"', 'href="/fhir/metadata"'):
            assert shown in page.text
        assert 'id="places"' not in page.text and 'id="no-patient-login"' in page.text


def test_patients_are_offered_mitid_where_it_is_set_up(service: FhirService) -> None:
    with browser(citizen_service(service, "http://127.0.0.1:9")) as web:  # never contacted here
        assert web.get("/", params={"_format": "json"}).json()["login"]["patient"] == "/login/citizen"
        assert 'id="login-patient" href="/login/citizen"' in web.get("/").text


def test_staff_see_their_places(service: FhirService) -> None:
    with browser(service) as web:
        username = as_staff(service, web)
        body = web.get("/", params={"_format": "json"}).json()
        assert body["login"] is None and body["user"]["username"] == username
        assert body["places"] == [
            {"id": "patients", "href": "/patients", "available": True},
            {"id": "find", "href": "/find", "available": True},
            {"id": "conflicts", "href": "/conflicts", "available": True},
            {"id": "account", "href": "/account", "available": True},
        ]
        page = web.get("/").text
        assert 'href="/conflicts"' in page and 'href="/account"' in page and 'href="/find"' in page
        assert 'href="/patients"' in page and "My patients" in page and 'class="tag"' not in page
        assert f"Welcome, {username}" in page and 'action="/logout"' in page


def test_a_patient_sees_their_portal_place(service: FhirService) -> None:
    with browser(service) as web:
        as_patient(service, web, "pat-7")
        body = web.get("/", headers={"Accept": "application/json"}).json()
        assert body["user"]["kind"] == "patient" and body["user"]["fhirUser"] == "Patient/pat-7"
        assert body["places"] == [
            {"id": "portal", "href": "/portal", "available": True},  # the portal's record pages (issue 25)
            {"id": "messages", "href": "/portal/messages", "available": True},
            {"id": "account", "href": "/account", "available": True},
        ]
        page = web.get("/").text
        assert "Your health record" in page and 'href="/portal"' in page and 'href="/conflicts"' not in page
