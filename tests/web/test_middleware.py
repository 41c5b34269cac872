"""The pages' authentication middleware (web/middleware.py) and the one table of who may ask for
what (web/routes.py): the person in the scope, protected pages sending a visitor to the login with
the way back, forms refused without a login, staff-only pages refused to patients."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import pytest
from starlette.routing import Route
from starlette.testclient import TestClient

from lifeline.fhir.service import FhirService
from lifeline.identity.sessions import PATIENT, STAFF, Sessions
from lifeline.web import routes
from lifeline.web.app import create_app
from lifeline.web.login import COOKIE
from tests.web.test_login_pages import add_user, browser


def logged_in_as(service: FhirService, web: TestClient, kind: str, **values: str) -> str:
    """A live session of `kind` (staff or patient) in `web`'s cookie jar, as a login leaves it;
    returns its CSRF token."""
    sessions = Sessions(service.repo, service.identity.state, service.settings.threat_level)
    session = sessions.create(kind, **values)
    web.cookies.delete(COOKIE)  # an anonymous session's cookie from an earlier page
    web.cookies.set(COOKIE, session.id)
    return session.csrf


def as_staff(service: FhirService, web: TestClient, **extra: Any) -> str:
    """A new staff member (their login record, practitioner p1), logged in; returns the user name."""
    staff = add_user(service, **extra)
    logged_in_as(service, web, STAFF, username=staff.username, fhir_user="Practitioner/p1")
    return staff.username


def as_patient(service: FhirService, web: TestClient, patient: str = "pat-1") -> str:
    return logged_in_as(service, web, PATIENT, fhir_user=f"Patient/{patient}", patient=patient)


def test_a_protected_page_sends_a_visitor_to_the_login_with_the_way_back(service: FhirService) -> None:
    with browser(service) as web:
        answer = web.get("/conflicts", params={"resolved": "Patient/x"})
        assert answer.status_code == 303
        assert answer.headers["location"] == "/login?next=" + quote("/conflicts?resolved=Patient%2Fx", safe="")
        account = web.get("/account")
        assert (account.status_code, account.headers["location"]) == (303, "/login?next=%2Faccount")


def test_a_form_without_a_login_goes_to_the_login_and_back_doing_nothing(service: FhirService) -> None:
    """A session that ended while the person typed: the form is not acted on, and the login leads
    back to the page it was sent from (static/drafts.js refills it there)."""
    with browser(service) as web:
        for path in ("/conflicts", "/logout", "/logout/everywhere", "/patients/p1/notes"):
            answer = web.post(path, data={"csrf": "anything", "text": "kept?"})
            assert answer.status_code == 303, path
            assert answer.headers["location"] == "/login?next=" + quote(path, safe=""), path
        web.cookies.set(COOKIE, "a-session-this-node-no-longer-knows")
        answer = web.post("/patients/p1/notes?type=x", data={"csrf": "anything"})
        assert answer.headers["location"] == "/login?next=" + quote("/patients/p1/notes?type=x", safe="")


def test_public_pages_need_no_login(service: FhirService) -> None:
    with browser(service) as web:
        for path in ("/", "/login", "/status.json", "/.well-known/openid-configuration"):
            assert web.get(path).status_code == 200, path


def test_staff_only_pages_refuse_patients_and_serve_staff(service: FhirService) -> None:
    with browser(service) as web:
        as_patient(service, web)
        refused = web.get("/conflicts")
        assert refused.status_code == 403 and "This page is for staff." in refused.text
        assert web.get("/account").status_code == 200
    with browser(service) as web:
        as_staff(service, web)
        assert web.get("/conflicts").status_code == 200
        assert web.get("/account").status_code == 200


def test_the_person_is_in_the_scope(service: FhirService) -> None:
    with browser(service) as web:
        username = as_staff(service, web, extra_roles=["privacy-officer"])
        page = web.get("/", params={"_format": "json"}).json()
        assert page["user"] == {
            "kind": "staff",
            "username": username,
            "displayName": username,
            "fhirUser": "Practitioner/p1",
            "roles": ["staff", "privacy-officer"],
        }
        assert 'id="who"' in web.get("/").text


def test_the_csrf_check_stays_on_every_form(service: FhirService) -> None:
    """Logged in is not enough: the form must carry the session's token too."""
    with browser(service) as web:
        as_staff(service, web)
        assert web.post("/logout", data={"csrf": "forged"}).status_code == 403
        assert web.get("/account").status_code == 200  # still logged in


def test_every_route_is_in_the_access_table(service: FhirService, monkeypatch: pytest.MonkeyPatch) -> None:
    """A page cannot be public by omission: the app does not start with an undeclared route."""
    original = routes.language_route
    monkeypatch.setattr(routes, "language_route", lambda: Route("/undeclared", original().endpoint))
    with pytest.raises(RuntimeError, match="/undeclared"):
        create_app(service, close_on_shutdown=False)
