"""The synthetic probe (issue 23): every LIFELINE_PROBE_SECONDS a node logs in as a real member
of staff would — password, then a second-factor code — over its own HTTP front door, opens a page
(which reads the probe's Practitioner through the core), runs a patient search, and logs out.
What it measured is published (`lifeline_probe_*` in /metrics, the status page's components), and
a failure opens an incident by itself (status/watch.py).

The probe account is a staff login like any other (`probe-<node>` by default; LIFELINE_PROBE_USER
names it), made by `lifeline probe account` with a Practitioner of its own and no care
relationships: it can log in, read its own Practitioner and search, and it sees no patient. Its
password and the TOTP secret are sealed with the node's key-encryption key; the password is kept in
`node_state` (never replicated), so only the node that made it can use it. A second-factor code is
never accepted twice (identity/totp.py): the probe uses the earliest step of the accepted window
after the last one used, and the watch lets it log in once per 30-second step at most, across the
node's server processes (a claim in node_state), so that it never runs out of steps.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx
import orjson
import pyotp

from lifeline.clock import EpochClock, epoch_clock
from lifeline.errors import BadRequest
from lifeline.fhir.acting import Acting
from lifeline.fhir.request import FhirRequest
from lifeline.identity import records
from lifeline.identity.keys import seal_secret, unseal_secret
from lifeline.identity.passwords import hash_password
from lifeline.identity.records import User
from lifeline.identity.state import NodeState
from lifeline.identity.totp import DIGITS, STEP_SECONDS, WINDOW_STEPS, new_totp_secret
from lifeline.status.probes import Finding
from lifeline.storage.repository import Repository

PROBE_SYSTEM = "urn:lifeline:probe"  # the Practitioner identifier of a probe account
SEALED = "probe-account:"  # + the login name: its sealed password in node_state
COMPONENTS = ("staff-login", "record", "search")
TIMEOUT_SECONDS = 10.0
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def default_user(node_id: str) -> str:
    return f"probe-{node_id}"


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str
    totp_secret: str
    last_step: int | None


def make_account(core: Acting, repo: Repository, kek: bytes, username: str) -> str:
    """Make (or renew) the probe account `username` on this node: its Practitioner (found again by
    identifier if made before), a login with a fresh password and TOTP secret, and the sealed
    password in node_state. Returns the Practitioner's id."""
    if not re.fullmatch(r"[A-Za-z0-9._-]{3,64}", username):
        raise BadRequest(f"the probe's login name {username!r} must be 3-64 letters, digits, '.', '_' or '-'")
    practitioner = {
        "resourceType": "Practitioner",
        "identifier": [{"system": PROBE_SYSTEM, "value": username}],
        "active": True,
        "name": [{"family": "Probe", "given": ["Lifeline"], "text": f"Lifeline synthetic probe ({username})"}],
    }
    made = core.handle(
        FhirRequest("create", "Practitioner", body=practitioner, if_none_exist=f"identifier={PROBE_SYSTEM}|{username}")
    )
    found = made.resource if made.resource is not None else orjson.loads(made.raw or "{}")
    practitioner_id = str(found["id"])
    password = secrets.token_urlsafe(24)
    secret = new_totp_secret()
    existing = records.get_user(repo, username)
    user = User(
        username,
        practitioner_id,
        hash_password(password),
        totp_secret=seal_secret(secret, kek, username),
        # The steps already used stay used (identity/login.py claims each once per login name).
        totp_step=existing.totp_step if existing else None,
        sessions_epoch=(existing.sessions_epoch + 1) if existing else 0,
    )
    records.put_user(repo, user)
    NodeState(repo).put(SEALED + username, {"password": seal_secret(password, kek, username)})
    return practitioner_id


def credentials(repo: Repository, kek: bytes, username: str, now: float) -> Credentials | None:
    """The probe account's credentials on this node, or None if it was not made here."""
    sealed = NodeState(repo).get(SEALED + username, now)
    user = records.get_user(repo, username)
    if sealed is None or user is None or not user.totp_secret:
        return None
    return Credentials(
        username,
        unseal_secret(sealed["password"], kek, username),
        unseal_secret(user.totp_secret, kek, username),
        user.totp_step,
    )


def next_code(secret: str, last_step: int | None, now: float) -> str | None:
    """The code of the earliest step the node still accepts (identity/totp.py), or None if every
    step of the window was used already."""
    current = int(now) // STEP_SECONDS
    for step in range(current - WINDOW_STEPS, current + WINDOW_STEPS + 1):
        if last_step is None or step > last_step:
            return str(pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS).generate_otp(step))
    return None


class SyntheticProbe:
    """Logs in at `base_url` as the probe account, reads, searches and logs out."""

    def __init__(
        self,
        base_url: str,
        account: Callable[[], Credentials | None],
        *,
        code_clock: EpochClock = epoch_clock,
        timeout: float = TIMEOUT_SECONDS,
        transport: httpx.BaseTransport | None = None,
        claim: Callable[[int], bool] = lambda round_: True,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.account = account
        self.code_clock = code_clock
        self.timeout = timeout
        self.transport = transport
        self.claim = claim  # whether this process logs in in round N (one of the node's processes does)
        self._round: int | None = None

    def __call__(self) -> list[Finding]:
        """As the watch runs it: at most one login per second-factor step (30 s) on the node, since
        each login takes a step for good; between them, nothing to report."""
        round_ = int(self.code_clock() // STEP_SECONDS)
        if round_ == self._round:
            return []
        self._round = round_
        if not self.claim(round_):
            return []
        return [self.run()]

    def run(self) -> Finding:
        steps: list[str] = []
        try:
            found = self.account()
            if found is None:
                return _finding(False, "The probe account is missing on this node: run `lifeline probe account`.")
            with httpx.Client(
                base_url=self.base_url, timeout=self.timeout, follow_redirects=False, transport=self.transport
            ) as client:
                self._login(client, found, steps)
                self._timed(client, steps, "read", "/patients")  # the page reads the probe's Practitioner
                self._timed(client, steps, "search", "/find", params={"q": "Probe"})
                page = client.get("/account")
                token = _csrf(page.text)
                client.post("/logout", data={"csrf": token or ""})
        except _Failed as failed:
            return _finding(False, f"{failed}" + (f" (after {', '.join(steps)})" if steps else ""))
        except httpx.HTTPError as error:
            return _finding(False, f"The node did not answer the probe: {type(error).__name__}: {error}")
        return _finding(True, "Logged in, read and searched: " + ", ".join(steps) + ".")

    def _login(self, client: httpx.Client, found: Credentials, steps: list[str]) -> None:
        started = time.perf_counter()
        form = client.get("/login")
        token = _csrf(form.text)
        if form.status_code != 200 or token is None:
            raise _Failed(f"The login page answered {form.status_code}")
        answer = client.post(
            "/login", data={"csrf": token, "username": found.username, "password": found.password, "next": "/"}
        )
        if answer.status_code != 303 or not answer.headers.get("location", "").endswith("/login/second-factor"):
            raise _Failed(f"The password step failed ({answer.status_code}{_message(answer.text)})")
        second = client.get("/login/second-factor")
        token = _csrf(second.text)
        code = next_code(found.totp_secret, found.last_step, self.code_clock())
        if token is None or code is None:
            raise _Failed("The second-factor step could not be taken (no form, or every code used)")
        answer = client.post("/login/second-factor", data={"csrf": token, "code": code})
        if answer.status_code != 303:
            raise _Failed(f"The second-factor step failed ({answer.status_code}{_message(answer.text)})")
        steps.append(f"login {_ms(started)} ms")

    def _timed(
        self, client: httpx.Client, steps: list[str], name: str, path: str, params: dict[str, str] | None = None
    ) -> None:
        started = time.perf_counter()
        answer = client.get(path, params=params)
        if answer.status_code != 200:
            raise _Failed(f"The {name} ({path}) answered {answer.status_code}")
        steps.append(f"{name} {_ms(started)} ms")


class _Failed(Exception):
    pass


def _finding(ok: bool, detail: str) -> Finding:
    return Finding("synthetic", ok, "The synthetic login, read and search failed", COMPONENTS, "major", detail)


def _csrf(text: str) -> str | None:
    found = _CSRF.search(text)
    return found.group(1) if found else None


def _message(text: str) -> str:
    found = re.search(r'class="(?:error|field-error)[^"]*"[^>]*>([^<]{1,160})<', text)
    return f": {found.group(1).strip()}" if found else ""


def _ms(started: float) -> int:
    return round((time.perf_counter() - started) * 1000)
