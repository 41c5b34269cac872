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

A passkey (identity/webauthn_factor.py) may stand in for the code at the second step, under the same
throttle. It is registered only by a logged-in user (never at threat level high), and each ceremony's
challenge, kept by the caller in the login session, is claimed once in node state like a TOTP step.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from webauthn.helpers import base64url_to_bytes, bytes_to_base64url

from lifeline.clock import EpochClock, epoch_clock
from lifeline.identity import device_cookies, records
from lifeline.identity.keys import UnsealError, seal_secret, unseal_secret
from lifeline.identity.passwords import check_password_policy, hash_password, verify_password, verify_unknown_account
from lifeline.identity.records import User
from lifeline.identity.state import NodeState
from lifeline.identity.throttle import LoginThrottle, Refused
from lifeline.identity.totp import (
    STEP_SECONDS,
    consume_recovery_code,
    generate_recovery_codes,
    new_totp_secret,
    provisioning_uri,
    verify_totp,
)
from lifeline.identity.webauthn_factor import (
    PasskeyCredential,
    PasskeyRejected,
    RelyingParty,
    authentication_options,
    new_user_handle,
    registration_options,
    verify_authentication,
    verify_registration,
)
from lifeline.storage.repository import Repository

WRONG_CREDENTIALS = "Wrong user name or password."
WRONG_CODE = "That code is not right, or was already used. Wait for the next code and try again."
WRONG_CURRENT_PASSWORD = "That is not your current password."
ENROLMENT_REFUSED = (
    "The threat level is high: new authenticators cannot be enrolled now. Ask your administrator to help you log in."
)
PASSKEY_REFUSED = "The passkey was not accepted. Try again, or enter a code from your authenticator app."
PASSKEY_NOT_REGISTERED = "The passkey could not be registered. Try again."
_CEREMONY_SECONDS = 10 * 60  # as long as an unfinished login session lives
_LABEL_LENGTH = 60
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


@dataclass(frozen=True)
class PasskeyCeremony:
    """Options for navigator.credentials, and what the caller keeps server-side (JSON-ready) to check the answer."""

    options: dict[str, Any]
    kept: dict[str, str]


def passkeys_of(user: User) -> list[PasskeyCredential]:
    """The user's stored passkeys as the ceremonies take them."""
    return [
        PasskeyCredential(
            base64url_to_bytes(passkey["credential_id"]),
            base64url_to_bytes(passkey["public_key"]),
            int(passkey["sign_count"]),
        )
        for passkey in user.passkeys
    ]


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
        clock: EpochClock = epoch_clock,
        code_clock: EpochClock | None = None,
        blocklist: Collection[str] = (),
        relying_party: RelyingParty | None = None,
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
        self.relying_party = relying_party  # who passkeys are bound to; None: no passkeys here

    def check_password(
        self, username: str, password: str, address: str | None, device: str | None = None
    ) -> tuple[User, str]:
        """The user and the step due next (second-factor or enrol); raises LoginFailed. `device`: the
        browser's device cookie, if any (identity/device_cookies.py)."""
        self._throttle(username, address, "password", device)
        user = records.get_user(self.repo, username.strip())
        if user is None or not user.active:
            verify_unknown_account(password)  # the same time and answer as a wrong password
            raise LoginFailed(WRONG_CREDENTIALS, "password")
        if not verify_password(user.password, password):
            raise LoginFailed(WRONG_CREDENTIALS, "password")
        return user, ("second-factor" if user.totp_secret or user.passkeys else "enrol")

    def begin_enrolment(self, user: User) -> Enrolment:
        if self.threat_level == "high":
            raise LoginFailed(ENROLMENT_REFUSED)
        if user.totp_secret:
            raise LoginFailed("An authenticator is already enrolled for this user.")
        secret = new_totp_secret()
        return Enrolment(secret, provisioning_uri(secret, user.username))

    def confirm_enrolment(
        self, username: str, secret: str, code: str, address: str | None, device: str | None = None
    ) -> tuple[User, list[str]]:
        """Store the authenticator once a code from it is right; returns the recovery codes to show once."""
        if self.threat_level == "high":
            raise LoginFailed(ENROLMENT_REFUSED)
        self._throttle(username, address, "code", device)
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
        self._succeeded(username, address, device)
        return user, list(recovery.codes)

    def second_factor(self, username: str, code: str, address: str | None, device: str | None = None) -> User:
        """Check a TOTP code or a recovery code; raises LoginFailed."""
        self._throttle(username, address, "code", device)
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
        self._succeeded(username, address, device)
        return user

    def begin_passkey_registration(self, username: str) -> PasskeyCeremony:
        """Options to register a passkey for a logged-in user; refused at threat level high."""
        rp = self._relying_party()
        if self.threat_level == "high":
            raise LoginFailed(ENROLMENT_REFUSED, "passkey")
        user = self._user(username)
        # One opaque handle per user, so an authenticator keeps one discoverable passkey for them.
        handle = base64url_to_bytes(user.passkeys[0]["user_handle"]) if user.passkeys else new_user_handle()
        ceremony = registration_options(
            rp, user_handle=handle, user_name=user.username, display_name=user.username, existing=passkeys_of(user)
        )
        kept = {"challenge": bytes_to_base64url(ceremony.challenge), "user_handle": bytes_to_base64url(handle)}
        return PasskeyCeremony(ceremony.options, kept)

    def register_passkey(self, username: str, response: dict[str, Any], kept: Any, label: str) -> User:
        """Store the passkey the browser created, once its answer matches the kept challenge."""
        rp = self._relying_party()
        if self.threat_level == "high":
            raise LoginFailed(ENROLMENT_REFUSED, "passkey")
        challenge = self._kept_challenge(kept, PASSKEY_NOT_REGISTERED)
        handle = kept.get("user_handle")
        if not isinstance(handle, str):
            raise LoginFailed(PASSKEY_NOT_REGISTERED, "passkey")
        user = self._user(username)
        try:
            credential = verify_registration(rp, response=response, challenge=challenge)
        except PasskeyRejected:
            raise LoginFailed(PASSKEY_NOT_REGISTERED, "passkey") from None
        if any(known.credential_id == credential.credential_id for known in passkeys_of(user)):
            raise LoginFailed("This passkey is already registered.", "passkey")
        label = " ".join(label.split())[:_LABEL_LENGTH] or f"Passkey {len(user.passkeys) + 1}"
        user.passkeys.append(
            {
                "credential_id": bytes_to_base64url(credential.credential_id),
                "public_key": bytes_to_base64url(credential.public_key),
                "sign_count": credential.sign_count,
                "user_handle": handle,
                "label": label,
                "created": self._instant(),
                "last_used": None,
            }
        )
        records.put_user(self.repo, user)
        return user

    def begin_passkey_login(self, username: str) -> PasskeyCeremony:
        """Options to sign in with one of the user's passkeys, at the second step of a login."""
        rp = self._relying_party()
        user = self._user(username)
        if not user.passkeys:
            raise LoginFailed("No passkey is registered for this user.", "passkey")
        ceremony = authentication_options(rp, credentials=passkeys_of(user))
        return PasskeyCeremony(ceremony.options, {"challenge": bytes_to_base64url(ceremony.challenge)})

    def passkey_second_factor(
        self, username: str, response: dict[str, Any], kept: Any, address: str | None, device: str | None = None
    ) -> User:
        """Check a passkey's answer instead of a code, under the same throttle; raises LoginFailed."""
        rp = self._relying_party()
        self._throttle(username, address, "passkey", device)
        challenge = self._kept_challenge(kept, PASSKEY_REFUSED)
        user = self._user(username)
        credentials = passkeys_of(user)
        raw_id = response.get("rawId")
        try:
            index = [c.credential_id for c in credentials].index(base64url_to_bytes(str(raw_id)))
            verified = verify_authentication(rp, response=response, challenge=challenge, credential=credentials[index])
        except (ValueError, PasskeyRejected):
            raise LoginFailed(PASSKEY_REFUSED, "passkey") from None
        user.passkeys[index] = user.passkeys[index] | {"sign_count": verified.sign_count, "last_used": self._instant()}
        records.put_user(self.repo, user)
        self._succeeded(username, address, device)
        return user

    def change_password(
        self, username: str, new: str, repeated: str, *, current: str | None, address: str | None = None
    ) -> User:
        """Set a new password. A logged-in user must give the `current` one (under the throttle, like
        a login), so that a session left open or stolen cannot take the account over. None only for
        the change forced right after a temporary password and the second factor were verified in
        the same login (web/login.py's pending "password" step)."""
        if current is not None:
            self._throttle(username, address, "current")
        user = self._user(username)
        if current is not None:
            if not verify_password(user.password, current):
                raise LoginFailed(WRONG_CURRENT_PASSWORD, "current")
            self.throttle.record_success(username.strip(), client_address(address))
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

    def _relying_party(self) -> RelyingParty:
        if self.relying_party is None:
            raise LoginFailed("Passkeys are not set up on this server.", "passkey")
        return self.relying_party

    def _kept_challenge(self, kept: Any, message: str) -> bytes:
        """The ceremony's challenge, claimed so that it answers one request only."""
        challenge = kept.get("challenge") if isinstance(kept, dict) else None
        if not isinstance(challenge, str) or not self._claim(f"passkey-challenge:{challenge}", _CEREMONY_SECONDS):
            raise LoginFailed(message, "passkey")
        return base64url_to_bytes(challenge)

    def _instant(self) -> str:
        return datetime.fromtimestamp(self.clock(), UTC).isoformat(timespec="seconds")

    def _throttle(self, username: str, address: str | None, field: str, device: str | None = None) -> None:
        known = self._device(username, device)
        decision = self.throttle.check_attempt(username.strip(), client_address(address), known)
        if isinstance(decision, Refused):
            raise LoginFailed(_retry_message(decision.retry_after), field, decision.retry_after)

    def _succeeded(self, username: str, address: str | None, device: str | None = None) -> None:
        # Both counted attempts of this login (password and code) are given back.
        known = self._device(username, device)
        for _ in range(2):
            self.throttle.record_success(username.strip(), client_address(address), known)

    def _device(self, username: str, cookie: str | None) -> str | None:
        """The id of the browser's device cookie when it is known for this user, else None."""
        return device_cookies.trusted_device(self._device_key(), cookie, username.strip(), self.clock())

    def device_cookie(self, username: str) -> str:
        """A new device cookie for a browser that has just completed a login as `username`."""
        return device_cookies.issue(self._device_key(), username.strip(), self.clock())

    def _device_key(self) -> bytes:
        return device_cookies.device_key(self.kek())

    def _claim(self, name: str, lifetime: float = 4 * STEP_SECONDS) -> bool:
        now = self.clock()
        return self.state.add(name, 1, now + lifetime, now)
