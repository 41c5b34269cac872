"""Staff login, step by step, without HTTP: password, then the second factor, then (when asked)
a new password. The web pages (web/login.py) only carry the answers to the browser.

Order matters (OWASP Authentication Cheat Sheet): the throttle decides before any hash is
computed; an unknown or disabled user costs one full argon2id verification and gets the very
answer a wrong password gets; the throttle is reset only once the second factor is right, so a
stolen password does not buy unlimited guesses at the six digits. A TOTP is always asked, at every
login and at every threat level (nothing "remembers this device"); at threat level high a user
who has none cannot enrol one here (an administrator resets them, `lifeline users reset`).

A TOTP step and a recovery code are each also claimed once in node state (`NodeState.add`), so
two concurrent requests with the same code cannot both log in; the user record then keeps the
step and the codes left, as totp.py asks.
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass

from lifeline.identity import records
from lifeline.identity.keys import UnsealError, seal_secret, unseal_secret
from lifeline.identity.passwords import check_password_policy, hash_password, verify_password, verify_unknown_account
from lifeline.identity.records import User
from lifeline.identity.state import NodeState
from lifeline.identity.throttle import Allowed, LoginThrottle
from lifeline.identity.totp import (
    STEP_SECONDS,
    consume_recovery_code,
    generate_recovery_codes,
    new_totp_secret,
    provisioning_uri,
    verify_totp,
)
from lifeline.storage.repository import Repository

WRONG_CREDENTIALS = "Wrong user name or password."
WRONG_CODE = "That code is not right, or was already used. Wait for the next code and try again."
ENROLMENT_REFUSED = (
    "The threat level is high: new authenticators cannot be enrolled now. Ask your administrator to help you log in."
)
_UNKNOWN_ADDRESS = "0.0.0.0"  # noqa: S104 (an address we cannot read is throttled as one)


class LoginFailed(Exception):
    """A step was refused; `message` is shown beside `field` on the page."""

    def __init__(self, message: str, field: str = "", retry_after: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.retry_after = retry_after


@dataclass(frozen=True)
class Enrolment:
    secret: str
    uri: str


def client_address(address: str | None) -> str:
    """A client address the throttle can key on; anything unreadable counts as one address."""
    try:
        return str(ipaddress.ip_address(address or ""))
    except ValueError:
        return _UNKNOWN_ADDRESS


def _retry_message(seconds: int) -> str:
    return f"Too many attempts. Wait {seconds} seconds, then try again."


class StaffLogin:
    def __init__(
        self,
        repo: Repository,
        state: NodeState,
        throttle: LoginThrottle,
        kek: Callable[[], bytes],
        *,
        threat_level: str = "normal",
        clock: Callable[[], float] = time.time,
        code_clock: Callable[[], float] | None = None,
        blocklist: Collection[str] = (),
    ) -> None:
        self.repo = repo
        self.state = state
        self.throttle = throttle
        self.kek = kek
        self.threat_level = threat_level
        self.clock = clock
        # What a phone's code is checked against: the peers' time where this node measures its
        # clock against them (identity/clock_skew.py), so a node five minutes off still logs in.
        self.code_clock = code_clock or clock
        self.blocklist = blocklist

    def check_password(self, username: str, password: str, address: str | None) -> tuple[User, str]:
        """The user and the step due next (second-factor or enrol); raises LoginFailed."""
        self._throttle(username, address, "password")
        user = records.get_user(self.repo, username.strip())
        if user is None or not user.active:
            verify_unknown_account(password)  # the same time and answer as a wrong password
            raise LoginFailed(WRONG_CREDENTIALS, "password")
        if not verify_password(user.password, password):
            raise LoginFailed(WRONG_CREDENTIALS, "password")
        return user, ("second-factor" if user.totp_secret else "enrol")

    def begin_enrolment(self, user: User) -> Enrolment:
        if self.threat_level == "high":
            raise LoginFailed(ENROLMENT_REFUSED)
        if user.totp_secret:
            raise LoginFailed("An authenticator is already enrolled for this user.")
        secret = new_totp_secret()
        return Enrolment(secret, provisioning_uri(secret, user.username))

    def confirm_enrolment(self, username: str, secret: str, code: str, address: str | None) -> tuple[User, list[str]]:
        """Store the authenticator once a code from it is right; returns the recovery codes to show once."""
        if self.threat_level == "high":
            raise LoginFailed(ENROLMENT_REFUSED)
        self._throttle(username, address, "code")
        user = self._user(username)
        if user.totp_secret:
            raise LoginFailed("An authenticator is already enrolled for this user.")
        step = verify_totp(secret, code, last_accepted_step=None, clock=self.code_clock)
        if step is None or not self._claim(f"totp:{username}:{step}"):
            raise LoginFailed(WRONG_CODE, "code")
        recovery = generate_recovery_codes()
        user.totp_secret = seal_secret(secret, self.kek(), user.username)
        user.totp_step = step
        user.recovery_codes = list(recovery.verifiers)
        records.put_user(self.repo, user)
        self._succeeded(username, address)
        return user, list(recovery.codes)

    def second_factor(self, username: str, code: str, address: str | None) -> User:
        """Check a TOTP code or a recovery code; raises LoginFailed."""
        self._throttle(username, address, "code")
        user = self._user(username)
        if not user.totp_secret:
            raise LoginFailed("No authenticator is enrolled for this user.", "code")
        try:
            secret = unseal_secret(user.totp_secret, self.kek(), user.username)
        except UnsealError:
            raise LoginFailed("The authenticator cannot be read on this server; ask your administrator.") from None
        step = verify_totp(secret, code, last_accepted_step=user.totp_step, clock=self.code_clock)
        if step is not None and self._claim(f"totp:{username}:{step}"):
            user.totp_step = step
        else:
            left = consume_recovery_code(code, user.recovery_codes) if "-" in code or len(code) > 8 else None
            used = set(user.recovery_codes) - set(left or user.recovery_codes)
            if left is None or not all(self._claim(f"recovery:{verifier}", 365 * 24 * 3600) for verifier in used):
                raise LoginFailed(WRONG_CODE, "code")
            user.recovery_codes = list(left)
        records.put_user(self.repo, user)
        self._succeeded(username, address)
        return user

    def change_password(self, username: str, new: str, repeated: str) -> User:
        user = self._user(username)
        if new != repeated:
            raise LoginFailed("The two passwords differ.", "repeated")
        problem = check_password_policy(new, user_name=user.username, blocklist=self.blocklist)
        if problem is not None:
            raise LoginFailed(problem, "new")
        if verify_password(user.password, new):
            raise LoginFailed("Choose a password other than the current one.", "new")
        user.password = hash_password(new)
        user.must_change_password = False
        records.put_user(self.repo, user)
        return user

    def _user(self, username: str) -> User:
        user = records.get_user(self.repo, username)
        if user is None or not user.active:
            raise LoginFailed(WRONG_CREDENTIALS, "password")
        return user

    def _throttle(self, username: str, address: str | None, field: str) -> None:
        decision = self.throttle.check_attempt(username.strip(), client_address(address))
        if not isinstance(decision, Allowed):
            raise LoginFailed(_retry_message(decision.retry_after), field, decision.retry_after)

    def _succeeded(self, username: str, address: str | None) -> None:
        # Both counted attempts of this login (password and code) are given back.
        for _ in range(2):
            self.throttle.record_success(username.strip(), client_address(address))

    def _claim(self, name: str, lifetime: float = 4 * STEP_SECONDS) -> bool:
        now = self.clock()
        return self.state.add(name, 1, now + lifetime, now)
