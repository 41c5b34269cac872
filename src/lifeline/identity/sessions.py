"""Web sessions: who is logged in to this browser, kept in node-local state (identity/state.py).

OWASP Session Management Cheat Sheet: the id is 256 random bits, stored only as its SHA-256 (a
copy of the database holds no live session ids), renewed at every change of privilege (`rotate`:
no session fixation), with an idle timeout and an absolute lifetime, both shorter at threat level
high. A staff session also dies when its user is disabled or logs out everywhere (the user's
`sessions_epoch` moved past the session's).

A session is `anonymous` (a login form, a citizen login under way), `pending` (the password was
right; a second factor, an enrolment or a password change is still due) or complete (`staff` or
`patient`). Each carries its own CSRF token.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import asdict, dataclass, field
from typing import Any

from lifeline.clock import EpochClock, epoch_clock
from lifeline.identity import records
from lifeline.identity.state import NodeState
from lifeline.storage.repository import Repository

ANONYMOUS = "anonymous"
PENDING = "pending"
STAFF = "staff"
PATIENT = "patient"
LOGGED_IN = (STAFF, PATIENT)

# (idle, absolute) seconds by threat level.
_LIMITS = {"normal": (30 * 60, 12 * 3600), "elevated": (30 * 60, 12 * 3600), "high": (10 * 60, 4 * 3600)}
_UNFINISHED_SECONDS = 10 * 60  # an anonymous or pending session: a login form, a step of a login


def lifetimes(threat_level: str) -> tuple[int, int]:
    """The idle timeout and the absolute lifetime of a session, in seconds."""
    return _LIMITS.get(threat_level, _LIMITS["high"])


@dataclass
class WebSession:
    id: str  # the secret the cookie carries; never stored
    kind: str
    created: float
    last_seen: float
    csrf: str
    username: str | None = None
    fhir_user: str | None = None  # Practitioner/id or Patient/id
    patient: str | None = None  # a patient's own Patient id
    epoch: int = 0
    step: str | None = None  # what a pending session must do next: second-factor | enrol | password
    data: dict[str, Any] = field(default_factory=dict)  # a login step's own state

    @property
    def logged_in(self) -> bool:
        return self.kind in LOGGED_IN


def _key(session_id: str) -> str:
    return "session:" + hashlib.sha256(session_id.encode()).hexdigest()


def csrf_matches(session: WebSession, token: str | None) -> bool:
    """Constant-time check of a form's CSRF token against the session's own."""
    return isinstance(token, str) and secrets.compare_digest(token.encode(), session.csrf.encode())


class Sessions:
    def __init__(
        self, repo: Repository, state: NodeState, threat_level: str, *, clock: EpochClock = epoch_clock
    ) -> None:
        self.repo = repo
        self.state = state
        self.threat_level = threat_level
        self.clock = clock

    def create(self, kind: str, **values: Any) -> WebSession:
        now = self.clock()
        session = WebSession(secrets.token_urlsafe(32), kind, now, now, secrets.token_urlsafe(32), **values)
        self._store(session)
        return session

    def rotate(self, session: WebSession, kind: str, **changes: Any) -> WebSession:
        """The same login under a new id and CSRF token, the old id dead: called at every step up."""
        self.end(session.id)
        now = self.clock()
        values = asdict(session) | changes | {"id": secrets.token_urlsafe(32), "kind": kind, "last_seen": now}
        values["csrf"] = secrets.token_urlsafe(32)
        if kind in LOGGED_IN and session.kind not in LOGGED_IN:
            values["created"] = now  # the absolute lifetime counts from the completed login
        renewed = WebSession(**values)
        self._store(renewed)
        return renewed

    def get(self, session_id: str | None) -> WebSession | None:
        """The live session with this id (its last_seen moved on), or None."""
        now = self.clock()
        session = self._stored(session_id, now)
        if session is None:
            return None
        if not self._alive(session, now):
            self.end(session.id)
            return None
        session.last_seen = now
        self._store(session)
        return session

    def peek(self, session_id: str | None) -> tuple[WebSession, float] | None:
        """The live session with this id and when it expires (epoch seconds), read only: its
        last_seen stays, a dead one stays for `get` to end (admission control, web/admission.py)."""
        now = self.clock()
        session = self._stored(session_id, now)
        if session is None or not self._alive(session, now):
            return None
        idle, absolute = self._limits(session)
        return session, min(session.last_seen + idle, session.created + absolute)

    def _stored(self, session_id: str | None, now: float) -> WebSession | None:
        """The session stored under this id, alive or not."""
        if not session_id:
            return None
        stored = self.state.get(_key(session_id), now)
        return None if stored is None else WebSession(id=session_id, **stored)

    def save(self, session: WebSession) -> None:
        self._store(session)

    def end(self, session_id: str) -> None:
        self.state.delete(_key(session_id))

    def _alive(self, session: WebSession, now: float) -> bool:
        idle, absolute = self._limits(session)
        if now - session.last_seen >= idle or now - session.created >= absolute:
            return False
        if session.username is not None and session.kind in (STAFF, PENDING):
            user = records.get_user(self.repo, session.username)
            if user is None or not user.active or user.sessions_epoch != session.epoch:
                return False
        return True

    def _limits(self, session: WebSession) -> tuple[int, int]:
        idle, absolute = lifetimes(self.threat_level)
        if session.kind not in LOGGED_IN:
            return min(idle, _UNFINISHED_SECONDS), _UNFINISHED_SECONDS
        return idle, absolute

    def _store(self, session: WebSession) -> None:
        idle, absolute = self._limits(session)
        expires = min(session.last_seen + idle, session.created + absolute)
        values = asdict(session)
        del values["id"]
        self.state.put(_key(session.id), values, expires)


def log_out_everywhere(repo: Repository, username: str) -> None:
    """Raise the user's sessions epoch: every session and refresh token of theirs dies, on every node."""
    user = records.require_user(repo, username)
    user.sessions_epoch += 1
    records.put_user(repo, user)
