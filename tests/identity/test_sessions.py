"""Web sessions (identity/sessions.py): timeouts, rotation, and the ways a session dies."""

from __future__ import annotations

import time
import uuid

from lifeline.fhir.service import FhirService
from lifeline.identity import records
from lifeline.identity.passwords import Argon2Parameters, hash_password
from lifeline.identity.records import User
from lifeline.identity.sessions import ANONYMOUS, STAFF, Sessions, csrf_matches, log_out_everywhere

CHEAP = Argon2Parameters(memory_cost_kib=8, time_cost=1)


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def new_user(service: FhirService) -> User:
    user = User(f"s-{uuid.uuid4().hex[:10]}", "p1", hash_password("irrelevant password", CHEAP))
    records.put_user(service.repo, user, create=True)
    return user


def sessions(service: FhirService, clock: Clock, level: str = "normal") -> Sessions:
    return Sessions(service.repo, service.identity.state, level, clock=clock)


def test_a_session_is_found_by_its_id_only(service: FhirService) -> None:
    store = sessions(service, Clock())
    session = store.create(STAFF, username=None)
    assert store.get(session.id) is not None
    assert store.get(session.id + "x") is None
    assert store.get(None) is None
    assert len(session.id) >= 43  # 256 bits, base64url


def test_idle_timeout_is_30_minutes_and_10_at_threat_level_high(service: FhirService) -> None:
    for level, idle in (("normal", 30 * 60), ("high", 10 * 60)):
        clock = Clock()
        store = sessions(service, clock, level)
        session = store.create(STAFF)
        clock.now += idle - 5
        assert store.get(session.id) is not None  # use moves the idle deadline on
        clock.now += idle - 5
        assert store.get(session.id) is not None
        clock.now += idle
        assert store.get(session.id) is None


def test_absolute_lifetime_is_12_hours_and_4_at_threat_level_high(service: FhirService) -> None:
    for level, absolute in (("normal", 12 * 3600), ("high", 4 * 3600)):
        clock = Clock()
        store = sessions(service, clock, level)
        session = store.create(STAFF)
        while clock.now + 500 < session.created + absolute:
            clock.now += 500
            assert store.get(session.id) is not None
        clock.now = session.created + absolute
        assert store.get(session.id) is None


def test_rotation_gives_a_new_id_and_csrf_token_and_kills_the_old_id(service: FhirService) -> None:
    store = sessions(service, Clock())
    before = store.create(ANONYMOUS)
    after = store.rotate(before, STAFF, username=None)
    assert after.id != before.id and after.csrf != before.csrf
    assert store.get(before.id) is None
    assert store.get(after.id) is not None


def test_log_out_everywhere_and_disabling_end_sessions(service: FhirService) -> None:
    store = sessions(service, Clock())
    user = new_user(service)
    first = store.create(STAFF, username=user.username, epoch=user.sessions_epoch)
    log_out_everywhere(service.repo, user.username)
    assert store.get(first.id) is None

    user = records.require_user(service.repo, user.username)
    second = store.create(STAFF, username=user.username, epoch=user.sessions_epoch)
    assert store.get(second.id) is not None
    user.active = False
    records.put_user(service.repo, user)
    assert store.get(second.id) is None


def test_csrf_token_check(service: FhirService) -> None:
    session = sessions(service, Clock()).create(ANONYMOUS)
    assert csrf_matches(session, session.csrf)
    assert not csrf_matches(session, session.csrf[:-1] + "x")
    assert not csrf_matches(session, None)
