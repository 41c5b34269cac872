"""The login pages over the real ASGI app: staff with password and TOTP, patients through a real
OpenID Connect provider, CSRF, session fixation, logging out everywhere."""

from __future__ import annotations

import dataclasses
import itertools
import random
import re
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pyotp
import pytest
from starlette.testclient import TestClient

from lifeline.config import issuer_of
from lifeline.fhir.service import FhirService
from lifeline.identity import records
from lifeline.identity.citizen import UNAVAILABLE_MESSAGE
from lifeline.identity.login import ENROLMENT_REFUSED, WRONG_CREDENTIALS, WRONG_CURRENT_PASSWORD
from lifeline.identity.passwords import hash_password, verify_password
from lifeline.identity.records import User
from lifeline.web.app import create_app
from lifeline.web.login import COOKIE, DEVICE_COOKIE
from tests.conftest import without_lifespan
from tests.identity.citizen_provider import PROVIDER_WARNINGS, CitizenProvider, running_citizen_provider
from tests.identity.helpers import CHEAP, PASSWORD, Clock

pytestmark = PROVIDER_WARNINGS


@dataclasses.dataclass
class Staff:
    username: str
    secret: str | None = None


def add_user(service: FhirService, practitioner: str = "p1", **extra: Any) -> Staff:
    """A staff login straight into the records (cheap argon2 parameters: test speed only)."""
    user = User(f"u-{uuid.uuid4().hex[:10]}", practitioner, hash_password(PASSWORD, CHEAP), **extra)
    records.put_user(service.repo, user, create=True)
    return Staff(user.username)


def browser(service: FhirService, clock: Clock | None = None) -> TestClient:
    """A browser with its own address, so the per-address throttle of one test leaves the others alone."""
    app = create_app(service, close_on_shutdown=False, login_clock=clock)

    where = (f"10.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}", 40000)
    # At the node's public address (its issuer): a node answers only the hosts it serves (web/hosts.py).
    address = issuer_of(service.settings)
    # The shared repository (and its async pool, bound to the session client's loop) is the fixture's to close.
    return TestClient(without_lifespan(app), base_url=address, follow_redirects=False, client=where)


def csrf_of(page: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', page)
    assert match, page
    return match.group(1)


def log_in(web: TestClient, staff: Staff, clock: Clock, next_path: str = "/") -> Any:
    """Password, then the TOTP (enrolling at the first login); returns the last response."""
    page = web.get("/login", params={"next": next_path})
    answer = web.post(
        "/login",
        data={"csrf": csrf_of(page.text), "username": staff.username, "password": PASSWORD, "next": next_path},
    )
    assert answer.status_code == 303, answer.text
    if answer.headers["location"] == "/login/enrol":
        page = web.get("/login/enrol")
        match = re.search(r'id="totp-secret">([A-Z2-7]+)<', page.text)
        assert match and "otpauth://totp/Lifeline" in page.text
        staff.secret = match.group(1)
        code = pyotp.TOTP(staff.secret).at(clock())
        return web.post("/login/enrol", data={"csrf": csrf_of(page.text), "code": code})
    assert answer.headers["location"] == "/login/second-factor" and staff.secret
    page = web.get("/login/second-factor")
    code = pyotp.TOTP(staff.secret).at(clock())
    return web.post("/login/second-factor", data={"csrf": csrf_of(page.text), "code": code})


def test_first_login_enrols_totp_then_totp_is_asked_every_time(service: FhirService) -> None:
    clock, staff = Clock(), add_user(service)
    with browser(service, clock) as web:
        done = log_in(web, staff, clock)
        assert done.status_code == 200 and "recovery-codes" in done.text
        assert staff.username in web.get("/login").text
    clock.now += 30
    with browser(service, clock) as web:
        answer = log_in(web, staff, clock, next_path="/fhir/metadata")
        assert (answer.status_code, answer.headers["location"]) == (303, "/fhir/metadata")
        assert staff.username in web.get("/login").text


def test_session_cookie_is_replaced_at_login(service: FhirService) -> None:
    clock, staff = Clock(), add_user(service)
    with browser(service, clock) as web:
        page = web.get("/login")
        header = page.headers["set-cookie"]  # the form's own cookie: no session yet
        assert COOKIE not in web.cookies
        web.post("/login", data={"csrf": csrf_of(page.text), "username": staff.username, "password": "wrong"})
        planted = web.cookies[COOKIE]  # a form was posted: now there is a session, to be replaced
        log_in(web, staff, clock)
        assert web.cookies[COOKIE] != planted
    with browser(service, clock) as attacker:
        attacker.cookies.set(COOKIE, planted)
        assert staff.username not in attacker.get("/login").text
    assert "httponly" in header.lower() and "samesite=lax" in header.lower() and "path=/" in header.lower()


# The threads of a node's background rounds that write to its store (audit/index.py, audit/recorder.py).
BACKGROUND_THREADS = frozenset({"audit-indexer", "audit-writer"})


def requests_writes(service: FhirService, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """From now on, the name of each write the requests make to `service`'s store. The app's
    background rounds (the audit trail's indexer, its writer) write on their own clock, whatever
    a request does, and are left out."""
    writes: list[str] = []
    real_write = service.repo.write

    def counted(work: Any, *args: Any, **kwargs: Any) -> Any:
        if threading.current_thread().name not in BACKGROUND_THREADS:
            writes.append(getattr(work, "__qualname__", "?"))
        return real_write(work, *args, **kwargs)

    monkeypatch.setattr(service.repo, "write", counted)
    return writes


def test_showing_the_login_page_writes_nothing(service: FhirService, monkeypatch: pytest.MonkeyPatch) -> None:
    """A flood of GET /login wrote a session row each (issue 28): the page now writes nothing,
    its form token is bound to a cookie of its own, and only a posted form starts a session."""
    staff = add_user(service)
    with browser(service) as web:
        writes = requests_writes(service, monkeypatch)
        pages = [web.get("/login") for _ in range(20)]
        assert writes == [] and COOKIE not in web.cookies
        assert len({csrf_of(p.text) for p in pages}) == 1  # one form cookie, kept while it is fresh
        answer = web.post("/login", data={"csrf": csrf_of(pages[-1].text), "username": staff.username,
                                          "password": PASSWORD})  # fmt: skip
        assert answer.status_code in (200, 303) and COOKIE in web.cookies and writes


def test_a_form_token_works_only_with_its_own_cookie(service: FhirService) -> None:
    staff = add_user(service)
    with browser(service) as mine, browser(service) as theirs:
        token = csrf_of(theirs.get("/login").text)
        mine.get("/login")
        sent = {"csrf": token, "username": staff.username, "password": PASSWORD}
        assert mine.post("/login", data=sent).status_code == 403  # another browser's token
        assert browser(service).post("/login", data=sent).status_code == 403  # no cookie at all
        forged = {**sent, "csrf": "form." + "A" * 43}
        assert theirs.post("/login", data=forged).status_code == 403
        assert theirs.post("/login", data=sent).status_code in (200, 303)  # its own cookie: accepted


def test_wrong_password_and_unknown_user_read_the_same(service: FhirService) -> None:
    staff = add_user(service)
    pages = []
    with browser(service) as web:
        for name, password in ((staff.username, "not the password"), ("nobody-" + uuid.uuid4().hex, PASSWORD)):
            page = web.get("/login")
            answer = web.post("/login", data={"csrf": csrf_of(page.text), "username": name, "password": password})
            pages.append((answer.status_code, re.search(r'id="password-error">([^<]*)<', answer.text)))
    assert [(status, match and match.group(1)) for status, match in pages] == [(200, WRONG_CREDENTIALS)] * 2


def test_repeated_failures_are_delayed(service: FhirService) -> None:
    clock, staff = Clock(), add_user(service)
    with browser(service, clock) as web:
        for _ in range(3):
            page = web.get("/login")
            web.post("/login", data={"csrf": csrf_of(page.text), "username": staff.username, "password": "nope"})
        page = web.get("/login")
        form = {"csrf": csrf_of(page.text), "username": staff.username, "password": PASSWORD}
        refused = web.post("/login", data=form)
        assert refused.status_code == 429 and refused.headers["retry-after"] == "1"
        assert "Too many attempts" in refused.text
        clock.now += 2
        assert web.post("/login", data=form).status_code == 303


def test_an_attack_from_the_hospitals_address_does_not_lock_out_a_known_device(service: FhirService) -> None:
    """Issue 28: 40 wrong passwords from one address (a hospital's NAT address: every browser there
    reads as one) locked every login behind it. A browser that has logged in before carries a
    device cookie, and the throttle judges its attempts by their own count."""
    clock, staff = Clock(), add_user(service)
    with browser(service, clock) as ward_pc, browser(service, clock) as attacker, browser(service, clock) as new_pc:
        log_in(ward_pc, staff, clock)
        assert DEVICE_COOKIE in ward_pc.cookies
        ward_pc.cookies.delete(COOKIE)  # logged out; the device is still known
        clock.now += 60
        for n in range(40):
            page = attacker.get("/login")
            name = staff.username if n % 2 else f"nobody-{n}"
            attacker.post("/login", data={"csrf": csrf_of(page.text), "username": name, "password": "guess"})
        page = new_pc.get("/login")
        form = {"csrf": csrf_of(page.text), "username": staff.username, "password": PASSWORD}
        assert new_pc.post("/login", data=form).status_code == 429  # a browser the node does not know waits
        new_pc.cookies.set(DEVICE_COOKIE, "1800000000.forged.0000.AAAA")  # a made-up cookie is no device
        assert new_pc.post("/login", data=form).status_code == 429
        done = log_in(ward_pc, staff, clock)  # the clinician's usual browser gets in
        assert done.status_code == 303 and staff.username in ward_pc.get("/login").text


def test_missing_or_wrong_csrf_token_is_refused(service: FhirService) -> None:
    clock, staff = Clock(), add_user(service)
    with browser(service, clock) as web:
        web.get("/login")
        form = {"username": staff.username, "password": PASSWORD}
        assert web.post("/login", data=form).status_code == 403
        assert web.post("/login", data=form | {"csrf": "forged"}).status_code == 403
        log_in(web, staff, clock)
        assert web.post("/logout", data={}).status_code == 403
        assert web.post("/logout/everywhere", data={"csrf": "forged"}).status_code == 403
        assert staff.username in web.get("/login").text


def test_logout_and_logout_everywhere(service: FhirService) -> None:
    clock, staff = Clock(), add_user(service)
    with browser(service, clock) as first, browser(service, clock) as second:
        log_in(first, staff, clock)
        clock.now += 30
        log_in(second, staff, clock)
        page = second.get("/login")
        answer = second.post("/logout/everywhere", data={"csrf": csrf_of(page.text)})
        assert (answer.status_code, answer.headers["location"]) == (303, "/login")
        assert staff.username not in first.get("/login").text
        assert staff.username not in second.get("/login").text
        clock.now += 30
        log_in(first, staff, clock)
        page = first.get("/login")
        first.post("/logout", data={"csrf": csrf_of(page.text)})
        assert staff.username not in first.get("/login").text


def test_next_must_be_a_local_path(service: FhirService) -> None:
    clock = Clock()
    for evil in ("https://evil.example/", "//evil.example/x", "/\\evil.example", "javascript:alert(1)"):
        clock.now += 30
        staff = add_user(service)
        with browser(service, clock) as web:
            answer = log_in(web, staff, clock, next_path=evil)
            assert "evil" not in answer.text and "javascript" not in answer.text
            assert 'href="/"' in answer.text


def test_temporary_password_must_be_changed(service: FhirService) -> None:
    clock, staff = Clock(), add_user(service, must_change_password=True)
    with browser(service, clock) as web:
        answer = log_in(web, staff, clock)
        assert (answer.status_code, answer.headers["location"]) == (303, "/login/password")
        page = web.get("/login/password")
        assert 'id="current"' not in page.text  # the temporary password was checked in this very login
        weak = web.post("/login/password", data={"csrf": csrf_of(page.text), "new": "short", "repeated": "short"})
        assert re.search(r'id="new-error">The password must be at least 12', weak.text)
        new = "a much longer passphrase"
        done = web.post("/login/password", data={"csrf": csrf_of(page.text), "new": new, "repeated": new})
        assert done.status_code == 200 and "recovery-codes" in done.text
        assert staff.username in web.get("/login").text
    assert not records.require_user(service.repo, staff.username).must_change_password


def test_changing_the_password_asks_for_the_current_one(service: FhirService) -> None:
    clock, staff = Clock(), add_user(service)
    new = "a much longer passphrase"
    with browser(service, clock) as web:
        log_in(web, staff, clock)
        page = web.get("/login/password")
        assert 'id="current"' in page.text and 'autocomplete="current-password"' in page.text
        form = {"csrf": csrf_of(page.text), "new": new, "repeated": new}
        for current in ({}, {"current": "not the password"}):  # a session left open is not enough
            refused = web.post("/login/password", data=form | current)
            assert refused.status_code == 200
            assert re.search(
                rf'id="current"[^>]*>\s*<p class="error" id="current-error">{WRONG_CURRENT_PASSWORD}', refused.text
            )
        done = web.post("/login/password", data=form | {"current": PASSWORD})
        assert done.status_code == 200 and "Your password has been changed" in done.text
    assert verify_password(records.require_user(service.repo, staff.username).password, new)


def test_the_current_password_is_throttled_like_a_login(service: FhirService) -> None:
    clock, staff = Clock(), add_user(service)
    with browser(service, clock) as web:
        log_in(web, staff, clock)
        page = web.get("/login/password")
        form = {"csrf": csrf_of(page.text), "new": "a much longer passphrase", "repeated": "a much longer passphrase"}
        for _ in range(3):
            web.post("/login/password", data=form | {"current": "a guess"})
        delayed = web.post("/login/password", data=form | {"current": PASSWORD})
        assert delayed.status_code == 429 and delayed.headers["retry-after"] == "1"
        assert 'id="current-error">Too many attempts' in delayed.text


def test_enrolment_refused_at_threat_level_high(service: FhirService) -> None:
    high = FhirService(service.repo, dataclasses.replace(service.settings, threat_level="high"), clock=service.clock)
    staff = add_user(service)
    with browser(high) as web:
        page = web.get("/login")
        answer = web.post("/login", data={"csrf": csrf_of(page.text), "username": staff.username, "password": PASSWORD})
        assert answer.status_code == 200 and ENROLMENT_REFUSED in answer.text


# Patients, through a real OpenID Connect provider.


@pytest.fixture(scope="module")
def provider() -> Iterator[CitizenProvider]:
    with running_citizen_provider(register_client=False) as running:
        yield running


def citizen_service(service: FhirService, issuer: str) -> FhirService:
    settings = dataclasses.replace(
        service.settings, citizen_issuer=issuer, citizen_client_id="lifeline", citizen_client_secret="secret"
    )
    return FhirService(service.repo, settings, clock=service.clock)


# A counter from a random start, not a random draw each time: two patients of one test
# database with the same CPR number make the citizen login refuse ("more than one").
_CPR_SERIALS = itertools.count(random.randrange(2000))


def new_cpr_patient(client: TestClient) -> tuple[str, str]:
    """A Patient with a fresh CPR number (born 17 May 1980, female); returns (id, cpr)."""
    serial = next(_CPR_SERIALS) % 2000 * 2  # 7th digit 0-3 (1900s), even last digit: female
    cpr = f"170580{serial:04d}"
    patient_id = uuid.uuid4().hex
    resource = {
        "resourceType": "Patient",
        "id": patient_id,
        "identifier": [{"system": "urn:oid:1.2.208.176.1.2", "value": cpr}],
        "gender": "female",
        "birthDate": "1980-05-17",
    }
    answer = client.put(f"/fhir/Patient/{patient_id}", json=resource, headers={"Content-Type": "application/fhir+json"})
    assert answer.status_code == 201, answer.text
    return patient_id, cpr


def citizen_login(web: TestClient, provider: CitizenProvider, cpr: str, next_path: str = "/") -> Any:
    start = web.get("/login/citizen", params={"next": next_path})
    assert start.status_code == 303, start.text
    params = provider.log_in_as_citizen(start.headers["location"], cpr)
    return web.get("/login/citizen/callback", params=params)


def test_patient_logs_in_through_the_citizen_provider(
    service: FhirService, client: TestClient, provider: CitizenProvider
) -> None:
    patient_id, cpr = new_cpr_patient(client)
    with browser(citizen_service(service, provider.issuer)) as web:
        web.get("/login")
        assert COOKIE not in web.cookies  # the page wrote nothing; the MitID button starts the login
        begun = web.get("/login/citizen", params={"next": "/somewhere"})
        planted = web.cookies[COOKIE]
        done = citizen_login(web, provider, cpr, "/somewhere")
        assert (done.status_code, done.headers["location"]) == (303, "/somewhere") and begun.status_code == 303
        assert web.cookies[COOKIE] != planted
        assert f"Patient/{patient_id}" in web.get("/login").text


def test_a_callback_without_a_login_in_progress_is_refused(service: FhirService, provider: CitizenProvider) -> None:
    with browser(citizen_service(service, provider.issuer)) as web:
        answer = web.get("/login/citizen/callback", params={"code": "x", "state": "y"})
        assert answer.status_code == 401 and 'id="citizen-error"' in answer.text


def test_provider_down_gives_a_clear_503_and_staff_login_still_works(service: FhirService) -> None:
    with running_citizen_provider(register_client=False) as stopped:
        issuer = stopped.issuer
    clock, staff = Clock(), add_user(service)
    with browser(citizen_service(service, issuer), clock) as web:
        answer = web.get("/login/citizen")
        assert answer.status_code == 503
        assert UNAVAILABLE_MESSAGE in answer.text.replace("&#39;", "'") and "Traceback" not in answer.text
        assert log_in(web, staff, clock).status_code == 200


def test_provider_gone_down_says_when_it_last_worked_and_staff_login_still_works(
    service: FhirService, client: TestClient
) -> None:
    """The login page says plainly that the patient login is down and when it last worked (issue
    25); the staff form beside it is untouched."""
    clock, staff = Clock(), add_user(service)
    with running_citizen_provider(register_client=False) as running:
        web = browser(citizen_service(service, running.issuer), clock)
        assert 'id="citizen-down"' not in web.get("/login").text
        assert web.get("/login/citizen").status_code == 303  # the provider answered: it worked
    answer = web.get("/login/citizen")  # stopped since: asked afresh, not from the cached discovery
    assert answer.status_code == 503 and "It last worked at" in answer.text
    page = web.get("/login").text
    assert 'id="citizen-down"' in page and "It last worked at" in page and "Staff logins are not affected" in page
    assert log_in(web, staff, clock).status_code == 200
