"""Staff login steps (identity/login.py), without HTTP."""

from __future__ import annotations

import uuid

import pyotp
import pytest

from lifeline.fhir.service import FhirService
from lifeline.identity import records
from lifeline.identity.login import (
    ENROLMENT_REFUSED,
    WRONG_CREDENTIALS,
    WRONG_CURRENT_PASSWORD,
    LoginFailed,
    StaffLogin,
)
from lifeline.identity.passwords import hash_password, verify_password
from lifeline.identity.records import User
from lifeline.identity.state import StateCounterStore
from lifeline.identity.throttle import LoginThrottle
from tests.identity.helpers import CHEAP, PASSWORD, Clock


def new_user(service: FhirService, **extra: object) -> User:
    user = User(f"l-{uuid.uuid4().hex[:10]}", "p1", hash_password(PASSWORD, CHEAP), **extra)  # type: ignore[arg-type]
    records.put_user(service.repo, user, create=True)
    return user


def staff_login(service: FhirService, clock: Clock, level: str = "normal") -> StaffLogin:
    state = service.identity.state
    throttle = LoginThrottle(StateCounterStore(state), clock=clock)
    return StaffLogin(service.repo, state, throttle, lambda: service.identity.kek, threat_level=level, clock=clock)


def address() -> str:
    return f"10.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}"


def enrolled(service: FhirService, login: StaffLogin, clock: Clock, where: str) -> tuple[User, str, list[str]]:
    user = new_user(service)
    _, step = login.check_password(user.username, PASSWORD, where)
    assert step == "enrol"
    enrolment = login.begin_enrolment(user)
    assert enrolment.uri.startswith("otpauth://totp/Lifeline:")
    user, codes = login.confirm_enrolment(
        user.username, enrolment.secret, pyotp.TOTP(enrolment.secret).at(clock()), where
    )
    assert user.totp_secret is not None and enrolment.secret not in str(user.totp_secret)
    return user, enrolment.secret, codes


def test_wrong_password_and_unknown_user_get_the_same_answer(service: FhirService) -> None:
    login, user = staff_login(service, Clock()), new_user(service)
    answers = []
    for name, password in ((user.username, "wrong password!"), (f"nobody-{uuid.uuid4()}", PASSWORD)):
        with pytest.raises(LoginFailed) as failed:
            login.check_password(name, password, address())
        answers.append((failed.value.message, failed.value.field))
    disabled = new_user(service, active=False)
    with pytest.raises(LoginFailed) as failed:
        login.check_password(disabled.username, PASSWORD, address())
    answers.append((failed.value.message, failed.value.field))
    assert answers == [(WRONG_CREDENTIALS, "password")] * 3


def test_repeated_failures_delay_the_account_before_the_password_is_checked(service: FhirService) -> None:
    clock = Clock()
    login, user, where = staff_login(service, clock), new_user(service), address()
    for _ in range(3):
        with pytest.raises(LoginFailed):
            login.check_password(user.username, "wrong password!", where)
    clock.now += 0.5
    with pytest.raises(LoginFailed) as refused:
        login.check_password(user.username, PASSWORD, where)  # the right password, yet refused
    assert refused.value.retry_after == 1
    clock.now += 1
    assert login.check_password(user.username, PASSWORD, where)[1] == "enrol"


def test_enrolment_then_totp_login_and_no_code_twice(service: FhirService) -> None:
    clock = Clock()
    login, where = staff_login(service, clock), address()
    user, secret, codes = enrolled(service, login, clock, where)
    assert len(codes) == 10
    clock.now += 30
    _, step = login.check_password(user.username, PASSWORD, where)
    assert step == "second-factor"
    code = pyotp.TOTP(secret).at(clock())
    assert login.second_factor(user.username, code, where).totp_step == int(clock()) // 30
    with pytest.raises(LoginFailed):
        login.second_factor(user.username, code, where)  # replayed


def test_a_recovery_code_works_once(service: FhirService) -> None:
    clock = Clock()
    login, where = staff_login(service, clock), address()
    user, _, codes = enrolled(service, login, clock, where)
    assert len(login.second_factor(user.username, codes[0], where).recovery_codes) == 9
    clock.now += 5
    with pytest.raises(LoginFailed):
        login.second_factor(user.username, codes[0], where)


def test_enrolment_is_refused_at_threat_level_high(service: FhirService) -> None:
    login = staff_login(service, Clock(), "high")
    user = new_user(service)
    with pytest.raises(LoginFailed) as refused:
        login.begin_enrolment(user)
    assert refused.value.message == ENROLMENT_REFUSED


def test_password_change_follows_the_policy(service: FhirService) -> None:
    login = staff_login(service, Clock())
    user = new_user(service, must_change_password=True)
    with pytest.raises(LoginFailed, match="at least 12"):
        login.change_password(user.username, "short", "short", current=None)
    with pytest.raises(LoginFailed, match="differ"):
        login.change_password(user.username, "a long new passphrase", "a long new passphrasf", current=None)
    with pytest.raises(LoginFailed, match="user name"):
        login.change_password(user.username, user.username + "", user.username, current=None)
    changed = login.change_password(user.username, "a long new passphrase", "a long new passphrase", current=None)
    assert not changed.must_change_password


def test_password_change_asks_the_current_password_under_the_throttle(service: FhirService) -> None:
    clock = Clock()
    login, user, where = staff_login(service, clock), new_user(service), address()
    new = "a long new passphrase"
    for _ in range(3):
        with pytest.raises(LoginFailed) as wrong:
            login.change_password(user.username, new, new, current="not the password", address=where)
        assert (wrong.value.field, wrong.value.message) == ("current", WRONG_CURRENT_PASSWORD)
    with pytest.raises(LoginFailed) as delayed:  # the fourth guess waits, even with the right password
        login.change_password(user.username, new, new, current=PASSWORD, address=where)
    assert delayed.value.retry_after == 1 and delayed.value.field == "current"
    clock.now += 1
    login.change_password(user.username, new, new, current=PASSWORD, address=where)
    assert verify_password(records.require_user(service.repo, user.username).password, new)
