"""Rate limits per client address, per account and per app (web/rate_limits.py, issue 28), on both
backends: small limits (3 a minute), so the fourth request of a key is refused within the test's
minute; the counters in memory, or in the Redis on 127.0.0.1:6379 shared by two apps."""

from __future__ import annotations

import dataclasses
import json
import logging
import socket
import time
import uuid
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from joserfc.jwk import ECKey
from starlette.testclient import TestClient

from lifeline.clock import epoch_clock
from lifeline.config import SettingError, Settings, from_environment
from lifeline.fhir.service import FhirService
from lifeline.identity import device_cookies
from lifeline.identity.login import WRONG_CREDENTIALS
from lifeline.identity.sessions import PATIENT, STAFF, Sessions
from lifeline.telemetry import TELEMETRY
from lifeline.web import rate_limits
from lifeline.web.app import create_app
from lifeline.web.login import COOKIE, DEVICE_COOKIE
from tests.conftest import (
    BACKENDS,
    TEST_SETTINGS,
    TickingClock,
    assert_outcome,
    database_url,
    own_node,
    without_lifespan,
)
from tests.web.real_server import serving
from tests.web.test_login_pages import add_user, csrf_of, requests_writes

REDIS = "redis://127.0.0.1:6379"
SMALL = dataclasses.replace(
    TEST_SETTINGS,
    rate_limit_anonymous="3/minute",
    rate_limit_login="2/minute",
    rate_limit_account="3/minute",
    rate_limit_app="3/minute",
)


def new_address() -> str:
    """A client address of this test alone (its Redis keys too)."""
    return f"10.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}"


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@contextmanager
def node(backend: str, folder: Path, settings: Settings = SMALL) -> Iterator[FhirService]:
    with own_node(backend, folder, settings) as service:
        # A test's few requests, refusals included, within one minute (clear_of_a_minute_end): one
        # that straddled a minute's end got its fourth request through (a CI run of 2026-12-08).
        clear_of_a_minute_end(10)
        yield service


@contextmanager
def client(app: Any, address: str | None = None, *, lifespan: bool = False, **headers: str) -> Iterator[TestClient]:
    """A client at `address`, on one event loop for all its requests; with `lifespan`, the app's
    start and shutdown too (which closes its Redis connections: one such client an app)."""

    where = (address or new_address(), 40000)
    with TestClient(
        app if lifespan else without_lifespan(app),
        base_url="http://testserver",
        follow_redirects=False,
        client=where,
        headers=headers,
    ) as test_client:
        yield test_client


def clear_of_a_minute_end(seconds: float) -> None:
    """Wait, if need be, until the next `seconds` lie within one minute: the `limits` library's
    sliding window counter weighs the windows aligned on the minute, and just past a minute's end a
    key refused just before has room again (its Retry-After said so), so a test that needs its
    refusals to last must not straddle one."""
    left = 60 - time.time() % 60
    if left < seconds:
        time.sleep(left + 0.05)


def refused(kind: str) -> float:
    return TELEMETRY.get_sample_value("lifeline_rate_limited_requests_total", {"kind": kind}) or 0.0


def assert_throttled_page(answer: Any) -> None:
    assert answer.status_code == 429, answer.text
    assert 1 <= int(answer.headers["retry-after"]) <= 60
    assert answer.headers["content-type"].startswith("text/html")
    assert "Too many" in answer.text
    assert "content-security-policy" in answer.headers
    assert "set-cookie" not in answer.headers


def assert_throttled_outcome(answer: Any) -> None:
    assert_outcome(answer, 429, "throttled")
    assert 1 <= int(answer.headers["retry-after"]) <= 60
    assert "set-cookie" not in answer.headers


def test_an_address_without_credentials_is_limited_on_the_api_and_the_pages(backend: str, tmp_path: Path) -> None:
    with node(backend, tmp_path) as service:
        app = create_app(service, close_on_shutdown=False)
        before = refused("address")
        with client(app) as anonymous:
            for _ in range(3):
                assert anonymous.get("/fhir/metadata").status_code == 200
            assert_throttled_outcome(anonymous.get("/fhir/metadata"))
            assert_throttled_outcome(anonymous.get("/fhir/Patient"))  # the same key, whatever the path
            assert_throttled_page(anonymous.get("/login"))
            assert anonymous.get("/healthz").status_code == 200  # the probes are never limited
            assert anonymous.get("/readyz").status_code == 200
        with client(app) as elsewhere:  # another address has its own count
            assert elsewhere.get("/fhir/metadata").status_code == 200
        assert refused("address") == before + 3


def test_the_login_posts_are_stricter_and_a_refused_one_writes_nothing(
    backend: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with node(backend, tmp_path, dataclasses.replace(SMALL, rate_limit_anonymous="10/minute")) as service:
        app = create_app(service, close_on_shutdown=False)
        staff = add_user(service)
        writes = requests_writes(service, monkeypatch)
        with client(app) as web:
            wrong = {"csrf": csrf_of(web.get("/login").text), "username": staff.username, "password": "wrong"}
            for _ in range(2):
                writes.clear()
                assert WRONG_CREDENTIALS in web.post("/login", data=wrong).text
                assert writes  # a wrong password is counted by the login throttle, and a session begun
            writes.clear()
            assert_throttled_page(web.post("/login", data=wrong))
            assert_throttled_outcome(web.post("/oauth/token", data={"grant_type": "client_credentials"}))
            assert writes == []
            assert web.get("/login").status_code == 200  # the rest of the anonymous limit still has room
        with client(app) as elsewhere:
            assert elsewhere.post("/login", data=wrong).status_code == 403  # its own count: on to the form check


def test_a_browser_that_has_logged_in_keeps_its_own_login_limit_behind_a_flooded_address(
    backend: str, tmp_path: Path
) -> None:
    """Issue 28: wrong passwords from a hospital's NAT address locked every login behind it. The
    address's login limit used up, and then its anonymous limit, a browser with a device cookie
    still gets to the login."""
    with node(backend, tmp_path, dataclasses.replace(SMALL, rate_limit_anonymous="20/minute")) as service:
        app = create_app(service, close_on_shutdown=False)
        staff = add_user(service)
        key = device_cookies.device_key(service.identity.kek)
        address = new_address()
        with client(app, address) as attacker, client(app, address) as clinician, client(app, address) as forger:
            for _ in range(2):
                attacker.post("/login", data={"csrf": "x", "username": staff.username, "password": "guess"})
            assert_throttled_page(attacker.post("/login", data={"csrf": "x", "username": staff.username}))
            clinician.cookies.set(DEVICE_COOKIE, device_cookies.issue(key, staff.username, epoch_clock()))
            form = {"csrf": csrf_of(clinician.get("/login").text), "username": staff.username, "password": "wrong"}
            assert WRONG_CREDENTIALS in clinician.post("/login", data=form).text
            altered = device_cookies.issue(key, staff.username, epoch_clock())[:-2] + "AA"
            forger.cookies.set(DEVICE_COOKIE, altered)
            assert_throttled_page(forger.post("/login", data=form))
            # The address's anonymous limit used up too: the browser that has logged in still gets in.
            for _ in range(20):
                attacker.get("/fhir/metadata?_summary=true")
            assert_throttled_page(attacker.get("/login"))
            assert_throttled_page(forger.get("/login"))
            assert clinician.get("/login").status_code == 200
            assert WRONG_CREDENTIALS in clinician.post("/login", data=form).text


def test_an_account_is_counted_across_its_sessions_and_tokens(backend: str, tmp_path: Path) -> None:
    with node(backend, tmp_path) as service:
        app = create_app(service, close_on_shutdown=False)
        sessions = Sessions(service.repo, service.identity.state, service.settings.threat_level)
        staff, other = add_user(service), add_user(service)

        def session_of(username: str) -> str:
            return sessions.create(STAFF, username=username, fhir_user="Practitioner/p1").id

        token = service.identity.issue(
            subject=staff.username, client_id="chart-app", scopes="user/*.rs", fhir_user="Practitioner/p1"
        )
        address = new_address()  # one hospital: every request from the same address
        with client(app, address) as first, client(app, address) as second, client(app, address) as anonymous:
            first.cookies.set(COOKIE, session_of(staff.username))
            second.cookies.set(COOKIE, session_of(staff.username))
            assert first.get("/account").status_code == 200
            assert second.get("/account").status_code == 200
            assert first.get("/fhir/metadata", headers={"Authorization": f"Bearer {token}"}).status_code == 200
            assert_throttled_page(second.get("/account"))
            assert_throttled_outcome(first.get("/fhir/metadata", headers={"Authorization": f"Bearer {token}"}))
            first.cookies.set(COOKIE, session_of(staff.username))  # a new session is the same account
            assert_throttled_page(first.get("/account"))
            second.cookies.set(COOKIE, session_of(other.username))
            assert second.get("/account").status_code == 200  # another user behind the same address
            assert anonymous.get("/fhir/metadata").status_code == 200  # and the address itself


def test_a_patient_is_counted_by_their_record_across_session_and_token(backend: str, tmp_path: Path) -> None:
    with node(backend, tmp_path) as service:
        app = create_app(service, close_on_shutdown=False)
        sessions = Sessions(service.repo, service.identity.state, service.settings.threat_level)
        session = sessions.create(PATIENT, fhir_user="Patient/pat-1", patient="pat-1")
        token = service.identity.issue(
            subject="citizen-1", client_id="health-app", scopes="patient/*.rs", fhir_user="Patient/pat-1"
        )
        with client(app) as portal, client(app, Authorization=f"Bearer {token}") as phone:
            portal.cookies.set(COOKIE, session.id)
            assert portal.get("/fhir/metadata").status_code == 200
            assert phone.get("/fhir/metadata").status_code == 200
            assert phone.get("/fhir/metadata").status_code == 200
            assert_throttled_outcome(portal.get("/fhir/metadata"))


def test_an_app_is_counted_by_its_client_id(backend: str, tmp_path: Path) -> None:
    with node(backend, tmp_path) as service:
        app = create_app(service, close_on_shutdown=False)

        def token(client_id: str) -> str:
            return service.identity.issue(subject=client_id, client_id=client_id, scopes="system/*.rs")

        before = refused("app")
        with client(app, Authorization=f"Bearer {token('lab-feed')}") as feed:
            for _ in range(3):
                assert feed.get("/fhir/Patient", params={"_count": "1"}).status_code == 200
            with client(app, Authorization=f"Bearer {token('lab-feed')}") as again:  # a new token, elsewhere
                assert_throttled_outcome(again.get("/fhir/Patient"))
            with client(app, Authorization=f"Bearer {token('pharmacy')}") as pharmacy:
                assert pharmacy.get("/fhir/Patient", params={"_count": "1"}).status_code == 200
        assert refused("app") == before + 1


def test_a_forged_token_or_an_unknown_cookie_counts_as_its_address(backend: str, tmp_path: Path) -> None:
    with node(backend, tmp_path) as service:
        app = create_app(service, close_on_shutdown=False)
        real = service.identity.issue(subject="lab-feed", client_id="lab-feed", scopes="system/*.rs")
        head, _, signature = real.rpartition(".")
        forged = f"{head}.{signature[::-1]}"  # the claims of a real token, not its signature
        address = new_address()
        with client(app, address, Authorization=f"Bearer {forged}") as forger, client(app, address) as cookies:
            assert forger.get("/fhir/Patient").status_code == 401
            assert forger.get("/fhir/Patient").status_code == 401
            cookies.cookies.set(COOKIE, "a-session-nobody-has")
            assert cookies.get("/fhir/metadata").status_code == 200
            assert_throttled_outcome(forger.get("/fhir/Patient"))
            assert_throttled_outcome(cookies.get("/fhir/metadata"))
            with client(app, address, Authorization=f"Bearer {real}") as genuine:
                assert genuine.get("/fhir/Patient", params={"_count": "1"}).status_code == 200
                # The search opened the node's async pool (PostgreSQL) on this client's event loop,
                # which ends with the client: the pool is closed on it first, or the loop waits.
                genuine.portal.call(service.repo.aclose)
            with client(app, address, Authorization=f"Bearer {forged}x") as another_forgery:
                assert_throttled_outcome(another_forgery.get("/fhir/Patient"))


def redis_keys(address: str) -> list[Any]:
    with closing(redis.Redis.from_url(REDIS, socket_connect_timeout=1)) as connection:
        return list(connection.scan_iter(match=f"*{address}*", count=1000))


@pytest.fixture
def redis_address() -> Iterator[str]:
    """An address whose Redis keys are this test's alone, removed afterwards."""
    try:
        with closing(redis.Redis.from_url(REDIS, socket_connect_timeout=1)) as connection:
            connection.ping()
    except redis.RedisError:
        pytest.fail(f"Redis not reachable at {REDIS}: .ci/run starts it; elsewhere run redis-server")
    address = new_address()
    yield address
    keys = redis_keys(address)
    if keys:
        with closing(redis.Redis.from_url(REDIS)) as connection:
            connection.delete(*keys)


def test_two_processes_share_the_limits_through_redis(tmp_path: Path, redis_address: str) -> None:
    """Two apps on one database, as two processes behind a load balancer: the limit holds across both."""
    shared = dataclasses.replace(SMALL, rate_limit_storage=REDIS)
    with node("sqlite", tmp_path, shared) as service:
        other = FhirService(service.repo, shared, clock=TickingClock())
        one, two = create_app(service, close_on_shutdown=False), create_app(other, close_on_shutdown=False)
        with client(one, redis_address, lifespan=True) as first, client(two, redis_address, lifespan=True) as second:
            assert first.get("/fhir/metadata").status_code == 200
            assert second.get("/fhir/metadata").status_code == 200
            assert first.get("/fhir/metadata").status_code == 200
            assert_throttled_outcome(second.get("/fhir/metadata"))
            assert_throttled_outcome(first.get("/fhir/metadata"))
        assert redis_keys(redis_address)  # counted in Redis, not in either process
        recorder = other.__dict__.get("auditor")
        if recorder is not None:
            recorder.close()


def test_in_memory_each_process_counts_alone(tmp_path: Path) -> None:
    with node("sqlite", tmp_path) as service:
        other = FhirService(service.repo, SMALL, clock=TickingClock())
        one, two = create_app(service, close_on_shutdown=False), create_app(other, close_on_shutdown=False)
        address = new_address()
        with client(one, address) as first, client(two, address) as second:
            for _ in range(3):
                assert first.get("/fhir/metadata").status_code == 200
                assert second.get("/fhir/metadata").status_code == 200
            assert_throttled_outcome(first.get("/fhir/metadata"))
        recorder = other.__dict__.get("auditor")
        if recorder is not None:
            recorder.close()


def test_an_unreachable_redis_falls_back_to_memory(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with closing(socket.socket()) as probe:  # a loopback port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    unreachable = dataclasses.replace(SMALL, rate_limit_storage=f"redis://127.0.0.1:{port}")
    with node("sqlite", tmp_path, unreachable) as service:
        app = create_app(service, close_on_shutdown=False)
        with caplog.at_level(logging.WARNING, "lifeline.web.rate_limits"), client(app, lifespan=True) as anonymous:
            for _ in range(3):
                assert anonymous.get("/fhir/metadata").status_code == 200
            assert_throttled_outcome(anonymous.get("/fhir/metadata"))
        warnings = [record.getMessage() for record in caplog.records if "unreachable" in record.getMessage()]
        assert len(warnings) == 1 and f"127.0.0.1:{port}" in warnings[0]


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("LIFELINE_RATE_LIMIT_ANONYMOUS", "lots"),
        ("LIFELINE_RATE_LIMIT_LOGIN", "0/minute"),
        ("LIFELINE_RATE_LIMIT_ACCOUNT", "5/fortnight"),
        ("LIFELINE_RATE_LIMIT_APP", "100"),
        ("LIFELINE_RATE_LIMIT_STORAGE", "memcached://127.0.0.1:11211"),
    ],
)
def test_a_bad_rate_limit_setting_is_refused_by_name(variable: str, value: str) -> None:
    with pytest.raises(SettingError, match=variable):
        from_environment({variable: value})


def test_rate_limit_settings_read_several_limits_or_none() -> None:
    settings = from_environment({"LIFELINE_RATE_LIMIT_LOGIN": "5/second;100/hour", "LIFELINE_RATE_LIMIT_APP": "none"})
    assert settings.rate_limit_login == "5/second;100/hour" and settings.rate_limit_app == "none"


def test_a_served_node_answers_a_refused_address_from_its_http_protocol_and_holds_the_answer(tmp_path: Path) -> None:
    """`lifeline serve`: once an address is refused, its next requests are answered by the HTTP
    protocol (web/http_protocol.py) with the app's 429, each held about HOLD_SECONDS (what slows a
    flood that waits for its answers), on a connection kept alive; an app's token from the same
    address is its own key and still answers."""
    env = {"LIFELINE_RATE_LIMIT_ANONYMOUS": "3/minute"}
    with serving(database_url("sqlite", tmp_path), tmp_path, env=env) as served:
        served.cli("clients", "add", "reader", "--kind", "backend", "--scope", "system/*.rs", "--jwks", _jwks(tmp_path))
        token = served.cli("token", "issue", "--client", "reader", "--scope", "system/Patient.rs")
        with httpx.Client(base_url=served.origin, timeout=10) as anonymous:
            clear_of_a_minute_end(15)  # the refusal outlasts the held answer and the page after it
            for _ in range(3):
                assert anonymous.get("/fhir/metadata?_summary=true").status_code == 200
            assert_throttled_outcome(anonymous.get("/fhir/metadata"))  # counted and refused by the app
            started = time.monotonic()
            held = anonymous.get("/fhir/metadata")
            assert time.monotonic() - started >= rate_limits.HOLD_SECONDS * 0.9
            assert_throttled_outcome(held)
            assert held.json()["issue"][0]["diagnostics"].startswith("Too many requests from this address")
            assert held.headers.get("connection") != "close"  # the same connection asks next
            page = anonymous.get("/login")
            assert_throttled_page(page)
            assert "x-request-id" in page.headers
            assert anonymous.head("/login").content == b""
        with httpx.Client(base_url=served.origin, timeout=10) as app:
            reading = app.get("/fhir/Patient", headers={"Authorization": f"Bearer {token}"})
            assert reading.status_code == 200, reading.text


def _jwks(folder: Path) -> str:
    path = folder / "reader.jwks.json"
    path.write_text(json.dumps({"keys": [ECKey.generate_key("P-256").as_dict(private=False)]}))
    return str(path)


@pytest.mark.parametrize("trusted", [True, False])
def test_behind_a_trusted_proxy_each_forwarded_client_has_its_own_limit(tmp_path: Path, trusted: bool) -> None:
    """`lifeline serve` with LIFELINE_TRUSTED_PROXIES=127.0.0.1: two clients behind the proxy are
    counted apart, by the app and by the protocol's held refusals; without it, X-Forwarded-For is
    not believed (uvicorn's own trust of loopback is off) and both are the proxy's one address."""
    env = {"LIFELINE_RATE_LIMIT_ANONYMOUS": "3/minute"}
    if trusted:
        env["LIFELINE_TRUSTED_PROXIES"] = "127.0.0.1"
    with serving(database_url("sqlite", tmp_path), tmp_path, env=env) as served:
        with httpx.Client(base_url=served.origin, timeout=10) as proxy:
            clear_of_a_minute_end(15)
            first = {"X-Forwarded-For": "203.0.113.9"}
            for _ in range(3):
                assert proxy.get("/fhir/metadata?_summary=true", headers=first).status_code == 200
            assert_throttled_outcome(proxy.get("/fhir/metadata", headers=first))
            assert_throttled_outcome(proxy.get("/fhir/metadata", headers=first))  # held by the protocol
            other = proxy.get("/fhir/metadata?_summary=true", headers={"X-Forwarded-For": "198.51.100.4"})
            if trusted:
                assert other.status_code == 200
            else:
                assert_throttled_outcome(other)
