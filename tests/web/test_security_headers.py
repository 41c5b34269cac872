"""Every page forbids framing (web/security_headers.py): the OAuth consent's "Allow" and the login
forms cannot be laid, invisible, under another site's button (clickjacking)."""

from __future__ import annotations

from typing import Any

from lifeline.fhir.service import FhirService
from tests.web.test_login_pages import Clock, add_user, browser, log_in
from tests.web.test_oauth import APP, pkce, public_client


def assert_not_frameable(answer: Any) -> None:
    assert answer.headers["x-frame-options"] == "DENY", answer.request.url
    assert "frame-ancestors 'none'" in answer.headers["content-security-policy"], answer.request.url


def test_the_anonymous_pages_forbid_framing(service: FhirService) -> None:
    with browser(service) as web:
        for path in ("/", "/login", "/login/second-factor", "/login/citizen", "/oauth/authorize?client_id=x"):
            assert_not_frameable(web.get(path))


def test_the_consent_and_the_staff_pages_forbid_framing(service: FhirService) -> None:
    clock, staff = Clock(), add_user(service)
    client_id = public_client(service, "user/Practitioner.rs")
    with browser(service, clock) as web:
        assert_not_frameable(log_in(web, staff, clock))
        query = {
            "response_type": "code",
            "client_id": client_id,
            "redirect_uri": APP,
            "scope": "user/Practitioner.rs",
            "code_challenge": pkce()[1],
            "code_challenge_method": "S256",
        }
        consent = web.get("/oauth/authorize", params=query)
        assert consent.status_code == 200 and 'name="decision"' in consent.text
        assert_not_frameable(consent)
        for path in ("/login", "/login/password", "/conflicts"):
            page = web.get(path)
            assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
            assert_not_frameable(page)
