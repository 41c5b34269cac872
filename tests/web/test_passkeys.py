"""Passkeys over the real ASGI app, with the software authenticator of tests/identity/authenticator.py:
registered from the account page, then used in place of the code at the second step of a login."""

from __future__ import annotations

import dataclasses
from typing import Any

from starlette.testclient import TestClient

from lifeline.fhir.service import FhirService
from lifeline.identity import records
from lifeline.identity.login import ENROLMENT_REFUSED, PASSKEY_NOT_REGISTERED, PASSKEY_REFUSED
from lifeline.web.assets import static
from lifeline.web.login import COOKIE, CSRF_REFUSED, DEVICE_COOKIE
from tests.identity.authenticator import SoftwareAuthenticator, b64url
from tests.identity.helpers import PASSWORD, Clock
from tests.web.test_login_pages import Staff, add_user, browser, csrf_of, log_in

# The test node's issuer is http://testserver: that host is the rp id, that origin the one expected.
RP_ID, ORIGIN = "testserver", "http://testserver"


def authenticator(**options: Any) -> SoftwareAuthenticator:
    return SoftwareAuthenticator(rp_id=RP_ID, origin=ORIGIN, **options)


def logged_in(service: FhirService, clock: Clock) -> tuple[TestClient, Staff]:
    """A browser where a new staff member has just logged in (enrolling TOTP)."""
    staff = add_user(service)
    web = browser(service, clock)
    assert log_in(web, staff, clock).status_code == 200
    return web, staff


def register(web: TestClient, key: SoftwareAuthenticator, label: str = "Ward 4 key") -> Any:
    options = web.get("/login/passkeys")
    assert options.status_code == 200, options.text
    assert options.headers["cache-control"] == "no-store"
    csrf = csrf_of(web.get("/login").text)
    return web.post("/login/passkeys", json={"csrf": csrf, "label": label, "credential": key.create(options.json())})


def password_step(web: TestClient, staff: Staff) -> str:
    """Log in with the password; returns the second-factor page."""
    page = web.get("/login")
    answer = web.post("/login", data={"csrf": csrf_of(page.text), "username": staff.username, "password": PASSWORD})
    assert (answer.status_code, answer.headers["location"]) == (303, "/login/second-factor"), answer.text
    return web.get("/login/second-factor").text


def passkey_answer(web: TestClient, page: str, answer: dict[str, Any]) -> Any:
    return web.post("/login/second-factor/passkey", json={"csrf": csrf_of(page), "credential": answer})


def log_out(web: TestClient) -> None:
    assert web.post("/logout", data={"csrf": csrf_of(web.get("/login").text)}).status_code == 303


def test_register_a_passkey_then_log_in_with_it(service: FhirService) -> None:
    clock, key = Clock(), authenticator()
    web, staff = logged_in(service, clock)
    with web:
        account = web.get("/login").text
        assert 'data-passkey="register"' in account and f'src="{static("passkeys.js")}"' in account
        stored = register(web, key)
        assert stored.status_code == 200, stored.text
        assert stored.json() == {"label": "Ward 4 key", "location": "/login"}
        assert "Ward 4 key" in web.get("/login").text

        (passkey,) = records.require_user(service.repo, staff.username).passkeys
        assert passkey["credential_id"] == b64url(key.credential_id) and passkey["sign_count"] == 0
        assert passkey["public_key"] == b64url(key.cose_public_key()) and passkey["created"]

        log_out(web)
        page = password_step(web, staff)
        assert 'data-passkey="login"' in page
        planted = web.cookies[COOKIE]
        options = web.get("/login/second-factor/passkey").json()
        assert [c["id"] for c in options["allowCredentials"]] == [b64url(key.credential_id)]
        assert options["rpId"] == RP_ID
        done = passkey_answer(web, page, key.get(options))
        assert done.status_code == 200, done.text
        assert done.json() == {"location": "/"}
        assert web.cookies[COOKIE] != planted  # the session id changes as after a code
        assert staff.username in web.get("/login").text

    (passkey,) = records.require_user(service.repo, staff.username).passkeys
    assert passkey["sign_count"] == 1 and passkey["last_used"]


def test_a_replayed_assertion_is_refused(service: FhirService) -> None:
    clock, key = Clock(), authenticator()
    web, staff = logged_in(service, clock)
    with web:
        assert register(web, key).status_code == 200
        log_out(web)
        page = password_step(web, staff)
        first = key.get(web.get("/login/second-factor/passkey").json())
        assert passkey_answer(web, page, first).status_code == 200
        log_out(web)

        page = password_step(web, staff)
        web.get("/login/second-factor/passkey")
        replayed = passkey_answer(web, page, first)  # the very same answer: an old challenge, the same count
        assert (replayed.status_code, replayed.json()["error"]) == (400, PASSKEY_REFUSED)

        key.sign_count -= 1  # a fresh signature over the new challenge, with the counter not moved: a clone
        cloned = passkey_answer(web, page, key.get(web.get("/login/second-factor/passkey").json()))
        assert (cloned.status_code, cloned.json()) == (400, {"error": PASSKEY_REFUSED, "field": "passkey"})
        assert staff.username not in web.get("/login").text
    assert records.require_user(service.repo, staff.username).passkeys[0]["sign_count"] == 1


def test_a_wrong_or_used_challenge_is_refused(service: FhirService) -> None:
    clock, key = Clock(), authenticator()
    web, staff = logged_in(service, clock)
    with web:
        stale = web.get("/login/passkeys").json()
        web.get("/login/passkeys")  # fresh options replace the stale ones
        csrf = csrf_of(web.get("/login").text)
        answer = web.post("/login/passkeys", json={"csrf": csrf, "credential": authenticator().create(stale)})
        assert (answer.status_code, answer.json()["error"]) == (400, PASSKEY_NOT_REGISTERED)
        assert register(web, key).status_code == 200
        log_out(web)

        page = password_step(web, staff)
        issued = web.get("/login/second-factor/passkey").json()
        made_up = issued | {"challenge": b64url(b"not the challenge Lifeline issued")}
        wrong = passkey_answer(web, page, key.get(made_up))
        assert (wrong.status_code, wrong.json()["error"]) == (400, PASSKEY_REFUSED)
        unasked = passkey_answer(web, page, key.get(issued))  # the right challenge, but it was used up
        assert unasked.status_code == 400
        assert staff.username not in web.get("/login").text
    assert len(records.require_user(service.repo, staff.username).passkeys) == 1


def test_passkey_failures_share_the_code_throttle(service: FhirService) -> None:
    clock, key = Clock(), authenticator()
    web, staff = logged_in(service, clock)
    with web:
        assert register(web, key).status_code == 200
        log_out(web)
        web.cookies.delete(DEVICE_COOKIE)  # a browser the node does not know (a known one has its own count)
        page = password_step(web, staff)
        statuses = []
        for _ in range(4):
            options = web.get("/login/second-factor/passkey").json()
            answer = passkey_answer(web, page, key.get(options, key=authenticator().key))  # signed by another key
            statuses.append(answer.status_code)
        assert statuses[0] == 400 and statuses[-1] == 429
        assert "Too many attempts" in answer.json()["error"] and answer.headers["retry-after"]
        code = web.post("/login/second-factor", data={"csrf": csrf_of(page), "code": "000000"})
        assert code.status_code == 429  # the same counter as the codes
        clock.now += 60
        done = passkey_answer(web, page, key.get(web.get("/login/second-factor/passkey").json()))
        assert done.status_code == 200, done.text


def test_enrolment_refused_at_threat_level_high(service: FhirService) -> None:
    clock = Clock()
    web, staff = logged_in(service, clock)
    web.close()
    high = FhirService(service.repo, dataclasses.replace(service.settings, threat_level="high"), clock=service.clock)
    clock.now += 30
    with browser(high, clock) as web:
        assert log_in(web, staff, clock).status_code == 303
        account = web.get("/login").text
        assert ENROLMENT_REFUSED in account and 'data-passkey="register"' not in account
        options = web.get("/login/passkeys")
        assert (options.status_code, options.json()["error"]) == (403, ENROLMENT_REFUSED)
        csrf = csrf_of(account)
        made = authenticator().create({"challenge": b64url(b"c" * 32)})
        answer = web.post("/login/passkeys", json={"csrf": csrf, "credential": made})
        assert (answer.status_code, answer.json()["error"]) == (403, ENROLMENT_REFUSED)
    assert records.require_user(service.repo, staff.username).passkeys == []


def test_missing_or_wrong_csrf_token_is_refused(service: FhirService) -> None:
    clock, key = Clock(), authenticator()
    web, staff = logged_in(service, clock)
    with web:
        options = web.get("/login/passkeys").json()
        made = key.create(options)
        for body in ({"credential": made}, {"csrf": "forged", "credential": made}):
            answer = web.post("/login/passkeys", json=body)
            assert (answer.status_code, answer.json()["error"]) == (403, CSRF_REFUSED)
        assert web.post("/login/passkeys", content=b"not json").status_code == 400
        assert records.require_user(service.repo, staff.username).passkeys == []

        assert register(web, key).status_code == 200
        log_out(web)
        page = password_step(web, staff)
        signed = key.get(web.get("/login/second-factor/passkey").json())
        answer = web.post("/login/second-factor/passkey", json={"credential": signed})
        assert (answer.status_code, answer.json()["error"]) == (403, CSRF_REFUSED)
        assert passkey_answer(web, page, signed).status_code == 200  # the challenge was not spent by the forgery


def test_passkey_steps_need_their_session(service: FhirService) -> None:
    with browser(service) as web:
        web.get("/login")
        assert web.get("/login/passkeys").status_code == 401
        assert web.get("/login/second-factor/passkey").status_code == 401
    staff = add_user(service)
    with browser(service) as web:
        page = web.get("/login")
        web.post("/login", data={"csrf": csrf_of(page.text), "username": staff.username, "password": PASSWORD})
        assert web.get("/login/passkeys").status_code == 401  # a pending login is not logged in


def test_a_user_without_passkeys_is_offered_none(service: FhirService) -> None:
    clock = Clock()
    web, staff = logged_in(service, clock)
    with web:
        log_out(web)
        clock.now += 30
        page = password_step(web, staff)
        assert 'data-passkey="login"' not in page
        assert web.get("/login/second-factor/passkey").status_code == 400


def test_the_script_is_served(service: FhirService) -> None:
    with browser(service) as web:
        script = web.get(static("passkeys.js"))
        assert script.status_code == 200 and script.headers["content-type"].startswith("text/javascript")
        assert "navigator.credentials.create" in script.text and "navigator.credentials.get" in script.text
