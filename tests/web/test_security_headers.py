"""Every page forbids framing (web/security_headers.py): the OAuth consent's "Allow" and the login
forms cannot be laid, invisible, under another site's button (clickjacking). Every page carries a
strict Content-Security-Policy, and a page that may show a person is never stored."""

from __future__ import annotations

import re
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


STRICT = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "frame-ancestors 'none'; form-action 'self'; base-uri 'none'; object-src 'none'"
)


def assert_strict(answer: Any) -> None:
    """The whole policy, and the headers that go with it (web/security_headers.py)."""
    where = answer.request.url
    assert answer.headers["content-security-policy"] == STRICT, where
    assert "unsafe-inline" not in answer.headers["content-security-policy"], where
    assert answer.headers["x-content-type-options"] == "nosniff", where
    assert answer.headers["referrer-policy"] == "no-referrer", where


def test_every_page_has_the_strict_policy_and_no_inline_script_or_style(service: FhirService) -> None:
    clock, staff = Clock(), add_user(service)
    with browser(service, clock) as web:
        anonymous = ["/", "/login", "/login/citizen", "/no/such/page", "/?_format=json", "/status.json"]
        for path in anonymous:
            assert_strict(web.get(path))
        log_in(web, staff, clock)
        for path in ("/", "/login", "/account", "/conflicts", "/login/password"):
            page = web.get(path)
            assert page.status_code == 200, path
            assert_strict(page)
            # What the policy would block: the templates must not carry it.
            assert not re.search(r"<style|style=|<script(?![^>]*\ssrc=)|\son[a-z]+=", page.text), path


def test_pages_that_show_a_person_are_not_stored(service: FhirService) -> None:
    clock, staff = Clock(), add_user(service)
    with browser(service, clock) as web:
        assert web.get("/").headers["cache-control"] == "no-store"
        assert web.get("/login").headers["cache-control"] == "no-store"
        log_in(web, staff, clock)
        for path in ("/", "/?_format=json", "/login", "/account", "/conflicts", "/no/such/page"):
            assert web.get(path).headers["cache-control"] == "no-store", path
        # The public status says how long it may be shared (replication/status.py), not no-store.
        assert web.get("/status.json").headers["cache-control"].startswith("public")


def test_fhir_answers_are_not_stored_but_the_capability_statement(client: Any) -> None:
    """A read carries Last-Modified: without a Cache-Control a browser may keep it on disk by
    heuristic (RFC 9111 §4.2.2). Every FHIR answer says no-store, a refusal too; only the
    CapabilityStatement, the same for everyone, may be shared."""
    patient = {"resourceType": "Patient", "id": "cache-check", "name": [{"family": "Lagersen"}]}
    assert client.put("/fhir/Patient/cache-check", json=patient).status_code in (200, 201)
    for path in ("/fhir/Patient/cache-check", "/fhir/Patient?family=Lagersen", "/fhir/Patient/cache-check/_history"):
        answer = client.get(path)
        assert answer.status_code == 200 and answer.headers["cache-control"] == "no-store", path
    assert client.get("/fhir/Patient/no-such-one").headers["cache-control"] == "no-store"
    assert client.get("/fhir/Patient", params={"_count": "²"}).status_code == 400  # not a 500
    assert client.get("/fhir/metadata").headers["cache-control"].startswith("public")
