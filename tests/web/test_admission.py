"""Admission control by request class and per-principal concurrency (web/admission.py), on both
backends: the class comes from a verified credential only; a full process refuses anonymous
requests (503, Retry-After, OperationOutcome `throttled`) while clinical ones get in; one user's
excess waits and then gets 429 while another user gets in; a freed slot goes to the clinical
request waiting before the anonymous one; /readyz says the node is shedding; and a principal over
its fair share of the recent work yields to the others. Waiting is bounded
by the settings' small waits and by events, never measured."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from lifeline.config import SettingError, Settings, admission_shares, admission_waits, from_environment
from lifeline.fhir.service import FhirService
from lifeline.identity.sessions import ANONYMOUS, PATIENT, STAFF, Sessions
from lifeline.identity.sites import add_site
from lifeline.identity.tokens import issue_token
from lifeline.telemetry import TELEMETRY
from lifeline.web.admission import (
    APPS,
    CLINICAL,
    NOBODY,
    PORTAL,
    YIELD_AT_MOST,
    Caller,
    Classifier,
    Gate,
    Shares,
    with_admission,
)
from lifeline.web.app import create_app
from lifeline.web.login import COOKIE
from tests.conftest import BACKENDS, TEST_SETTINGS, TickingClock, own_node
from tests.web.test_login_pages import add_user

BASE = "http://testserver"


@pytest.fixture(params=BACKENDS)
def node(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[FhirService]:
    """A node of its own: its async pool opens on the test's event loop and closes with it."""
    with own_node(request.param, tmp_path) as service:
        yield service


def run(service: FhirService, scenario: Callable[[], Awaitable[None]]) -> None:
    async def main() -> None:
        try:
            await scenario()
        finally:
            await service.repo.aclose()

    asyncio.run(main())


def staff_token(service: FhirService, user: str = "u-nurse") -> str:
    return service.identity.issue(
        subject=user, client_id="lifeline-web", scopes="user/*.rs", fhir_user="Practitioner/p1"
    )


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def sessions_of(service: FhirService) -> Sessions:
    return Sessions(service.repo, service.identity.state, service.settings.threat_level)


def scope_with(headers: dict[str, str]) -> dict[str, Any]:
    encoded = [(name.lower().encode(), value.encode()) for name, value in headers.items()]
    return {"type": "http", "scheme": "http", "path": "/fhir/Patient/x", "headers": encoded}


def classify(classifier: Classifier, headers: dict[str, str]) -> Caller:
    caller, credential, key = classifier.cached(scope_with(headers))
    return caller if caller is not None else classifier.verify(credential, key)


def test_the_class_comes_from_a_verified_credential_only(node: FhirService) -> None:
    service = node
    classifier = Classifier(service, sessions_of(service))
    identity = service.identity
    staff = staff_token(service)
    patient = identity.issue(subject="c-1", client_id="portal", scopes="patient/*.rs", fhir_user="Patient/pat-1")
    app = identity.issue(subject="lab", client_id="lab-system", scopes="system/*.rs")
    forged = staff[:-6] + ("AAAAAA" if not staff.endswith("AAAAAA") else "BBBBBB")
    an_hour_ago = identity.clock() - 3600
    expired = issue_token(
        identity.signing_key(),
        issuer=identity.issuer,
        audience=identity.audience,
        subject="u-old",
        client_id="lifeline-web",
        scopes="user/*.rs",
        fhir_user="Practitioner/p1",
        lifetime=60,
        clock=lambda: an_hour_ago,
    )
    site = add_site(service.repo, "herlev", "https://herlev.example")
    assert classify(classifier, bearer(staff)) == Caller(CLINICAL, "staff:u-nurse")
    assert classify(classifier, bearer(patient)) == Caller(PORTAL, "Patient/pat-1")
    assert classify(classifier, bearer(app)) == Caller(APPS, "client:lab-system")
    assert classify(classifier, bearer(site)) == Caller(CLINICAL, "site:herlev")  # a hospital's replication
    for refused in (forged, expired, "herlev.not-its-secret", "not-a-token"):
        assert classify(classifier, bearer(refused)) == NOBODY, refused
    assert classify(classifier, {"Authorization": "Basic dXNlcjpwYXNz"}) == NOBODY
    assert classify(classifier, {}) == NOBODY

    sessions = sessions_of(service)
    user = add_user(service).username  # a staff session lives as long as its user's login record stands
    nurse = sessions.create(STAFF, username=user, fhir_user="Practitioner/p1")
    citizen = sessions.create(PATIENT, fhir_user="Patient/pat-1", patient="pat-1")
    visitor = sessions.create(ANONYMOUS)
    assert classify(classifier, {"Cookie": f"other=1; {COOKIE}={nurse.id}"}) == Caller(CLINICAL, f"staff:{user}")
    assert classify(classifier, {"Cookie": f"{COOKIE}={citizen.id}"}) == Caller(PORTAL, "Patient/pat-1")
    assert classify(classifier, {"Cookie": f"{COOKIE}={visitor.id}"}) == NOBODY
    assert classify(classifier, {"Cookie": f"{COOKIE}=a-session-nobody-has"}) == NOBODY
    # Kept: known again without a verification (the key is a hash of the credential).
    assert classifier.cached(scope_with(bearer(staff)))[0] == Caller(CLINICAL, "staff:u-nurse")
    assert classifier.cached(scope_with(bearer(forged)))[0] == NOBODY
    # Classifying read the session; it did not move it on (nothing is written before admission).
    assert sessions.peek(nurse.id) is not None and sessions.peek(nurse.id)[0].last_seen == nurse.last_seen  # type: ignore[index]


class Held:
    """An inner app: a path under /hold waits for `release`; every entry is recorded in order."""

    def __init__(self) -> None:
        self.entered: list[str] = []
        self.release = asyncio.Event()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        self.entered.append(scope["path"])
        if scope["path"].startswith("/hold"):
            await self.release.wait()
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
        await send({"type": "http.response.body", "body": b"ok"})


async def until(condition: Callable[[], bool]) -> None:
    for _ in range(2000):  # a bound: a few seconds at most
        if condition():
            return
        await asyncio.sleep(0.002)
    raise AssertionError("the condition never held")


def settings(**changes: Any) -> Settings:
    return dataclasses.replace(TEST_SETTINGS, **changes)


def client_of(app: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE)


def shed(klass: str, reason: str) -> float:
    return (
        TELEMETRY.get_sample_value("lifeline_admission_shed_total", {"request_class": klass, "reason": reason}) or 0.0
    )


def assert_throttled(answer: httpx.Response, status: int) -> None:
    assert answer.status_code == status, answer.text
    assert answer.headers["retry-after"] == "1"
    assert answer.headers["content-type"].startswith("application/fhir+json")
    body = answer.json()
    assert body["resourceType"] == "OperationOutcome"
    assert [issue["code"] for issue in body["issue"]] == ["throttled"]


def test_a_full_process_refuses_anonymous_requests_and_admits_clinical_ones(node: FhirService) -> None:
    service = node
    inner = Held()
    gate = Gate(settings(admission_in_flight=4, admission_shares="anonymous=50", admission_wait_ms="anonymous=0"))
    app = with_admission(inner, gate, Classifier(service, sessions_of(service)))
    token = staff_token(service)

    async def scenario() -> None:
        async with client_of(app) as client:
            held = [asyncio.create_task(client.get(f"/hold/{n}")) for n in range(2)]  # anonymous: half of 4
            await until(lambda: len(inner.entered) == 2)
            before = shed("anonymous", "capacity")
            assert_throttled(await client.get("/fhir/Patient/p1"), 503)
            page = await client.get("/login")
            assert page.status_code == 503 and page.headers["retry-after"] == "1"
            assert page.headers["content-type"].startswith("text/html") and "set-cookie" not in page.headers
            assert shed("anonymous", "capacity") == before + 2
            assert sorted(inner.entered) == ["/hold/0", "/hold/1"]  # the refused never reached the app
            clinical = await client.get("/fhir/Patient/p1", headers=bearer(token))
            assert clinical.status_code == 200
            inner.release.set()
            assert [answer.status_code for answer in await asyncio.gather(*held)] == [200, 200]
            assert gate.busy == 0 and gate.shedding()

    run(service, scenario)


def test_one_users_excess_waits_then_gets_429_while_another_user_gets_in(node: FhirService) -> None:
    service = node
    inner = Held()
    gate = Gate(settings(principal_in_flight=2, admission_wait_ms="clinical=200"))
    app = with_admission(inner, gate, Classifier(service, sessions_of(service)))
    alice, bob = staff_token(service, "u-alice"), staff_token(service, "u-bob")

    async def scenario() -> None:
        async with client_of(app) as client:
            held = [asyncio.create_task(client.get(f"/hold/{n}", headers=bearer(alice))) for n in range(2)]
            await until(lambda: len(inner.entered) == 2)
            before = shed("clinical", "principal")
            third = asyncio.create_task(client.get("/fhir/Patient/p1", headers=bearer(alice)))
            await until(lambda: gate.queued == 1)  # waiting in the queue
            assert (await client.get("/fhir/Patient/p2", headers=bearer(bob))).status_code == 200
            assert_throttled(await third, 429)
            assert shed("clinical", "principal") == before + 1
            assert not gate.shedding()  # one user's excess is no sign of an overloaded node
            inner.release.set()
            await asyncio.gather(*held)
            assert sorted(inner.entered[:2]) == ["/hold/0", "/hold/1"] and inner.entered[2:] == ["/fhir/Patient/p2"]

    run(service, scenario)


def test_a_freed_slot_goes_to_the_clinical_request_waiting_before_the_anonymous_one(node: FhirService) -> None:
    service = node
    inner = Held()
    waits = "clinical=5000,anonymous=5000"  # bounds only: the slot frees long before
    gate = Gate(settings(admission_in_flight=1, admission_shares="anonymous=100", admission_wait_ms=waits))
    app = with_admission(inner, gate, Classifier(service, sessions_of(service)))
    token = staff_token(service)

    async def scenario() -> None:
        async with client_of(app) as client:
            holding = asyncio.create_task(client.get("/hold"))
            await until(lambda: inner.entered == ["/hold"])
            anonymous = asyncio.create_task(client.get("/anonymous"))
            await until(lambda: gate.queued == 1)
            clinical = asyncio.create_task(client.get("/clinical", headers=bearer(token)))
            await until(lambda: gate.queued == 2)
            inner.release.set()
            answers = await asyncio.gather(holding, anonymous, clinical)
            assert [answer.status_code for answer in answers] == [200, 200, 200]
            assert inner.entered == ["/hold", "/clinical", "/anonymous"]

    run(service, scenario)


async def slow_body(release: asyncio.Event) -> AsyncIterator[bytes]:
    await release.wait()
    yield b"{}"


def test_the_app_sheds_anonymous_requests_says_so_on_readyz_and_serves_staff(node: FhirService) -> None:
    """Through create_app: an anonymous request held in flight (its body not yet sent) fills the
    anonymous share; the next anonymous request is refused, the probes still answer, staff get in."""
    tuned = settings(admission_in_flight=2, admission_shares="anonymous=50", admission_wait_ms="anonymous=0")
    service = FhirService(node.repo, tuned, clock=TickingClock())
    app = create_app(service, close_on_shutdown=False)
    token = staff_token(service)
    anonymous = {"request_class": "anonymous"}
    before = TELEMETRY.get_sample_value("lifeline_admission_in_flight", anonymous) or 0.0

    async def scenario() -> None:
        release = asyncio.Event()
        async with client_of(app) as client:
            ready = await client.get("/readyz")
            assert ready.status_code == 200, ready.text
            fhir_json = {"Content-Type": "application/fhir+json"}
            posting = asyncio.create_task(client.post("/fhir/Patient", content=slow_body(release), headers=fhir_json))
            await until(lambda: TELEMETRY.get_sample_value("lifeline_admission_in_flight", anonymous) == before + 1)
            assert_throttled(await client.get("/fhir/Patient/p1"), 503)
            assert (await client.get("/healthz")).status_code == 200
            ready = await client.get("/readyz")
            assert ready.status_code == 503 and ready.json()["failed"] == ["shedding"]
            assert ready.json()["checks"]["shedding"] == {"ok": False, "detail": "shedding"}
            read = await client.get("/fhir/Patient/nobody-here", headers=bearer(token))
            assert read.status_code == 404, read.text  # admitted, and answered by the API
            release.set()
            assert (await posting).status_code == 401  # the held request went on to the API

    try:
        run(service, scenario)
    finally:
        recorder = service.__dict__.get("auditor")
        if recorder is not None:
            recorder.close()


def test_admission_settings_are_checked() -> None:
    assert admission_shares(Settings()) == {"clinical": 100, "portal": 60, "apps": 50, "anonymous": 25}
    tuned = from_environment({"LIFELINE_ADMISSION_SHARES": "anonymous=10", "LIFELINE_ADMISSION_WAIT_MS": "apps=0"})
    assert admission_shares(tuned)["anonymous"] == 10 and admission_shares(tuned)["clinical"] == 100
    assert admission_waits(tuned) == {"clinical": 2000, "portal": 1000, "apps": 0, "anonymous": 250}
    for name, value, says in (
        ("LIFELINE_ADMISSION_SHARES", "anonymous=0", "1 to 100"),
        ("LIFELINE_ADMISSION_SHARES", "visitors=10", "is not a class"),
        ("LIFELINE_ADMISSION_SHARES", "apps=10,apps=20", "names 'apps' twice"),
        ("LIFELINE_ADMISSION_WAIT_MS", "clinical=soon", "is not a class"),
        ("LIFELINE_ADMISSION_IN_FLIGHT", "0", "at least 1"),
        ("LIFELINE_PRINCIPAL_IN_FLIGHT", "0", "at least 1"),
    ):
        with pytest.raises(SettingError, match=says):
            from_environment({name: value})


class Ticking:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_principal_over_its_fair_share_of_the_recent_work_takes_turns_and_others_do_not() -> None:
    clock = Ticking()
    shares = Shares(clock)
    shares.charge("staff:heavy", 1_000_000, 0.2)  # a thousand-row page
    assert not shares.over("staff:heavy") and shares.pause("staff:heavy") == 0.0  # alone: full speed
    clock.now += 0.3  # the active principals are counted again
    for user in ("staff:a", "staff:b", "staff:c"):
        shares.charge(user, 3_000, 0.01)
    assert shares.over("staff:heavy")
    # Its turns: the first at once, each next one its last request's time after, plus that time
    # once for each of the three others.
    assert [shares.pause("staff:heavy") for _ in range(3)] == pytest.approx([0.0, 0.8, 1.6])
    assert not any(shares.over(user) or shares.pause(user) for user in ("staff:a", "staff:b", "staff:c"))
    assert shares.pause(None) == 0.0 and not shares.over("staff:unknown")
    for _ in range(4):
        shares.pause("staff:heavy")
    assert shares.pause("staff:heavy") is None  # its next turn more than PAUSE_AT_MOST away: refused
    clock.now += 10.0
    shares.charge("staff:heavy", 1_000_000, 60.0)
    shares.charge("staff:a", 3_000, 0.01)
    assert shares.pause("staff:heavy") == 0.0
    assert shares.turns["staff:heavy"] == pytest.approx(clock.now + 60.0 + YIELD_AT_MOST)  # the yield capped
    shares.charge("site:hospital-a", 50_000_000, 3.0)  # a site catching up is never held back
    assert not shares.over("site:hospital-a") and shares.pause("site:hospital-a") == 0.0
    clock.now += 120.0  # all forgotten: nobody is active, nobody yields
    assert not shares.over("staff:heavy") and shares.pause("staff:heavy") == 0.0
    assert shares.work == {} and shares.turns == {}


def test_a_heavy_user_runs_one_request_at_a_time_and_waits_its_turn_while_another_gets_in(node: FhirService) -> None:
    """Through with_admission: after its large answers, the heavy user's requests take turns
    while another user's is in flight (the waits counted in lifeline_admission_yielded) and run
    one at a time: a second one waits, then 429, though the per-principal limit is 8; the light
    user gets in at once."""
    service = node
    inner = Held()
    gate = Gate(settings(admission_wait_ms="clinical=100"))
    app = with_admission(inner, gate, Classifier(service, sessions_of(service)))
    heavy, light = staff_token(service, "u-heavy"), staff_token(service, "u-light")
    gate.shares.charge("staff:u-heavy", 2_000_000, 0.25)  # its turns: 0.5 s apart with one other active
    gate.shares.charge("staff:u-light", 1_000, 0.001)
    gate.shares.counted_at = -1.0  # count the active principals at the next question

    async def scenario() -> None:
        async with client_of(app) as client:
            before = TELEMETRY.get_sample_value("lifeline_admission_yielded_total") or 0.0
            lights = asyncio.create_task(client.get("/hold/light", headers=bearer(light)))
            await until(lambda: inner.entered == ["/hold/light"])
            held = asyncio.create_task(client.get("/hold/heavy", headers=bearer(heavy)))  # its first turn: at once
            await until(lambda: inner.entered == ["/hold/light", "/hold/heavy"])
            assert TELEMETRY.get_sample_value("lifeline_admission_yielded_total") == before
            assert_throttled(await client.get("/fhir/Observation", headers=bearer(heavy)), 429)
            assert TELEMETRY.get_sample_value("lifeline_admission_yielded_total") == before + 1
            assert (await client.get("/fhir/Patient/p1", headers=bearer(light))).status_code == 200
            inner.release.set()
            assert [(await task).status_code for task in (lights, held)] == [200, 200]
            assert inner.entered == ["/hold/light", "/hold/heavy", "/fhir/Patient/p1"]

    run(service, scenario)


def test_people_doing_the_same_work_never_yield_however_it_fluctuates() -> None:
    """Five clinicians opening charts and searching: one of them with three times the others'
    recent work (a chart's page against searches) is still not held back."""
    clock = Ticking()
    shares = Shares(clock)
    for user in ("staff:a", "staff:b", "staff:c", "staff:d"):
        shares.charge(user, 30_000, 0.2)
    shares.charge("staff:e", 90_000, 1.5)
    assert not any(shares.over(user) for user in ("staff:a", "staff:b", "staff:c", "staff:d", "staff:e"))
    clock.now += 0.3
    shares.charge("staff:e", 5_000_000, 1.5)  # but a thousand-row export is most of the process's work
    assert shares.over("staff:e")
    assert [shares.pause("staff:e"), shares.pause("staff:e")] == [0.0, 1.5 + YIELD_AT_MOST]
