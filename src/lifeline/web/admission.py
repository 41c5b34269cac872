"""Admission control by request class, and per-principal concurrency (issue 28; docs/operations.md).

Every HTTP request but the health probes passes here before the FHIR API or the pages. Its class
comes from its verified credential, highest first:

- clinical: a staff user's session or bearer token, and a registered site node's credential (the
  replication API: a hospital's write-through and feed are never shed before a portal or an app);
- portal: a patient's session or token;
- apps: any other token (backend services, operators' tokens: system principals);
- anonymous: no credential, or one that does not verify (forged, expired, unknown cookie).

A process answers at most LIFELINE_ADMISSION_IN_FLIGHT requests at once; a class is admitted only
while the total in flight is below its share of that (LIFELINE_ADMISSION_SHARES), so when the
process fills, anonymous requests are refused first and clinical ones still find slots. One user
or app holds at most LIFELINE_PRINCIPAL_IN_FLIGHT requests. A request that does not fit waits in
its class's queue for LIFELINE_ADMISSION_WAIT_MS; a freed slot goes to the highest class waiting,
oldest first. Past its wait: 503 (the process is full) or 429 (the principal's own limit), with
Retry-After, an OperationOutcome `throttled` under /fhir and a plain page elsewhere; nothing is
written (no audit record, no session). A 503 makes /readyz say "shedding" for `SHEDDING_SECONDS`.

Fair shares inside the process (`Shares`): each principal's recent work is counted, as the bytes of
its answers plus `REQUEST_COST` a request, forgotten with a half-life of `FAIR_HALF_LIFE`. A
principal with most of the recent work of the principals active lately (over `FAIR_FACTOR` times
an equal share, and over `FAIR_MOST` of it all) runs one request at a time, and while others have
requests in flight its requests take turns: each starts its last request's time after the one
before, plus that time again for every other active principal (at most `YIELD_AT_MOST`); a turn
more than `PAUSE_AT_MOST` away is refused with 429 after that long (answered at once, a client
that asks again at once spun the process on refusals: bench/flood.py). One user's thousand-row searches then take
about their share of the process's time, not most of it; alone, they run at full speed. People
doing the same kind of work are never near the bar. Site nodes are not held back (a
catching-up hospital).

Classification costs a dictionary look-up on the event loop: the class of a credential is kept
per process, keyed by a hash of the credential, for `CLASS_SECONDS` and never past the token's or
session's expiry. Only a credential not seen lately is verified, in a worker thread (a staff
token's revocation check and a session read the database). A class only orders requests: access
is still decided by the API and the pages on every request.
"""

from __future__ import annotations

import asyncio
import hashlib
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from prometheus_client import Counter, Gauge
from starlette.concurrency import run_in_threadpool

from lifeline import jsontext
from lifeline.config import REQUEST_CLASSES, Settings, admission_shares, admission_waits
from lifeline.errors import Issue
from lifeline.identity.principal import PATIENT, STAFF, kind_of
from lifeline.identity.sessions import PATIENT as PATIENT_SESSION
from lifeline.identity.sessions import STAFF as STAFF_SESSION
from lifeline.identity.sessions import Sessions
from lifeline.outcome import operation_outcome
from lifeline.telemetry import TELEMETRY
from lifeline.web.errors import FHIR_JSON, wants_json
from lifeline.web.login import COOKIE, SECURE_COOKIE

if TYPE_CHECKING:
    from lifeline.fhir.service import FhirService

ASGIApp = Callable[[dict[str, Any], Any, Any], Awaitable[None]]
CLINICAL, PORTAL, APPS, ANONYMOUS = REQUEST_CLASSES
CLASS_SECONDS = 30.0  # how long a verified credential's class is kept
REFUSED_SECONDS = 5.0  # and a credential that did not verify
SHEDDING_SECONDS = 5.0  # /readyz says "shedding" this long after a 503
RETRY_AFTER = b"1"
_KNOWN, _REFUSED = 10_000, 1_000  # credentials kept; the refused apart, so a flood of forgeries evicts no clinician
FAIR_HALF_LIFE = 2.0  # seconds: how fast a principal's recent work is forgotten
FAIR_FACTOR = 4.0  # a principal with more than this times an equal share of the recent work yields,
FAIR_MOST = 0.75  # or with more than this share of it all (two or three active: 4 equal shares is all)
YIELD_AT_MOST = 1.0  # seconds a yielding principal leaves between its requests, beyond their own time
PAUSE_AT_MOST = 5.0  # seconds ahead a yielding principal's turn may be; a request past that gets 429
REQUEST_COST = 2048  # what a request counts for besides the bytes of its answer
_ACTIVE_FLOOR = REQUEST_COST / 8  # below this (one small request three half-lives ago) a principal is not active
_COUNT_EVERY = 0.25  # seconds between counts of the active principals

SHED = Counter(
    "lifeline_admission_shed",
    "Requests refused by admission control, by request class and reason (capacity: 503, principal: 429)",
    ["request_class", "reason"],
    registry=TELEMETRY,
)
ADMITTED = Gauge(
    "lifeline_admission_in_flight",
    "Requests admitted and not yet answered, by request class",
    ["request_class"],
    registry=TELEMETRY,
)
_IN_FLIGHT = {klass: ADMITTED.labels(klass) for klass in REQUEST_CLASSES}
YIELDED = Counter(
    "lifeline_admission_yielded",
    "Requests held back because their principal had more than its fair share of the recent work",
    registry=TELEMETRY,
)


@dataclass(frozen=True)
class Caller:
    """Who a request is, for admission: its class and whose concurrency it counts against."""

    klass: str
    principal: str | None = None  # staff:<user>, Patient/<id>, client:<id>, site:<id>; None: anonymous


NOBODY = Caller(ANONYMOUS)
CALLER_IN_SCOPE = "lifeline.caller"


class Classifier:
    """A request's Caller from its bearer token (else its session cookie), verified and kept."""

    def __init__(self, service: FhirService, sessions: Sessions) -> None:
        self.identity = service.identity
        self.sessions = sessions
        self._known: OrderedDict[bytes, tuple[Caller, float]] = OrderedDict()
        self._refused: OrderedDict[bytes, float] = OrderedDict()
        self._lock = threading.Lock()

    async def caller_of(self, scope: dict[str, Any]) -> Caller:
        """The request's Caller, found once a request (kept in the scope for the next layer)."""
        caller: Caller | None = scope.get(CALLER_IN_SCOPE)
        if caller is None:
            caller, credential, key = self.cached(scope)
            if caller is None:
                caller = await run_in_threadpool(self.verify, credential, key)
            scope[CALLER_IN_SCOPE] = caller
        return caller

    def cached(self, scope: dict[str, Any]) -> tuple[Caller | None, str, bytes]:
        """The Caller if known without verifying; else None, and the credential and its key for `verify`."""
        credential = _credential(scope)
        if not credential:
            return NOBODY, "", b""
        key = hashlib.blake2b(credential.encode(), digest_size=16).digest()
        now = time.monotonic()
        known = self._known.get(key)
        if known is not None and now < known[1]:
            return known[0], credential, key
        refused_until = self._refused.get(key)
        if refused_until is not None and now < refused_until:
            return NOBODY, credential, key
        return None, credential, key

    def verify(self, credential: str, key: bytes) -> Caller:
        """Blocking (the database may be read): run in a worker thread."""
        try:
            caller, expires = self._verified(credential)
        except Exception:  # noqa: BLE001 - any credential that does not verify is anonymous
            caller, expires = None, 0.0
        now = time.monotonic()
        with self._lock:  # several threads verify at once; the event loop only reads
            if caller is None:
                _keep(self._refused, key, now + REFUSED_SECONDS, _REFUSED)
                return NOBODY
            life = min(CLASS_SECONDS, expires - self.identity.clock())
            if life > 0:
                _keep(self._known, key, (caller, now + life), _KNOWN)
        return caller

    def _verified(self, credential: str) -> tuple[Caller | None, float]:
        kind, _, value = credential.partition(" ")
        if kind == "session":
            found = self.sessions.peek(value)
            if found is None or found[0].kind not in (STAFF_SESSION, PATIENT_SESSION):
                return None, 0.0
            session, expires = found
            if session.kind == STAFF_SESSION:
                return Caller(CLINICAL, f"staff:{session.username}"), expires
            return Caller(PORTAL, session.fhir_user or f"Patient/{session.patient}"), expires
        if value.count(".") == 1:  # `<site>.<secret>`: a site node's credential (identity/sites.py)
            site, _ = self.identity.site(f"Bearer {value}")
            return Caller(CLINICAL, f"site:{site.site_id}"), float("inf")
        token = self.identity.verify(value)
        kind = kind_of(token)
        if kind == STAFF:
            return Caller(CLINICAL, f"staff:{token.subject}"), token.expires_at
        if kind == PATIENT:
            return Caller(PORTAL, token.fhir_user), token.expires_at
        return Caller(APPS, f"client:{token.client_id}"), token.expires_at


def _keep(cache: OrderedDict[bytes, Any], key: bytes, value: Any, size: int) -> None:
    cache[key] = value
    cache.move_to_end(key)
    if len(cache) > size:
        cache.popitem(last=False)


def _credential(scope: dict[str, Any]) -> str:
    """`bearer <token>`, `session <id>` or ""; a malformed Authorization header counts as none."""
    cookies = b""
    for name, value in scope["headers"]:
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").strip().partition(" ")
            token = token.strip()
            return f"bearer {token}" if scheme.lower() == "bearer" and token else ""
        if name == b"cookie":
            cookies = value
    if not cookies:
        return ""
    wanted = SECURE_COOKIE if scope.get("scheme") == "https" else COOKIE
    for part in cookies.decode("latin-1").split(";"):
        name, _, value = part.strip().partition("=")
        if name == wanted and value:
            return f"session {value}"
    return ""


class Shares:
    """Each principal's recent work in this process, and who is over their fair share of it.
    Used from the event loop only."""

    def __init__(self, now: Callable[[], float] = time.monotonic) -> None:
        self.now = now
        self.work: dict[str, tuple[float, float]] = {}  # principal: (work, when it was last decayed)
        self.took: dict[str, float] = {}  # principal: how long their last request took
        self.turns: dict[str, float] = {}  # principal over their share: when their next request may start
        self.total, self.total_at = 0.0, now()
        self.active, self.counted_at = 0, -_COUNT_EVERY

    def charge(self, principal: str, sent: int, took: float) -> None:
        """A request of `principal` answered `sent` bytes in `took` seconds."""
        now = self.now()
        cost = sent + REQUEST_COST
        work, at = self.work.get(principal, (0.0, now))
        self.work[principal] = (_decayed(work, now - at) + cost, now)
        self.total, self.total_at = _decayed(self.total, now - self.total_at) + cost, now
        self.took[principal] = took

    def over(self, principal: str | None) -> bool:
        """Whether `principal` has more than its fair share of the recent work, others being active."""
        if principal is None or principal.startswith("site:"):
            return False
        found = self.work.get(principal)
        if found is None:
            return False
        now = self.now()
        active = self._active(now)
        if active < 2:
            return False
        total = _decayed(self.total, now - self.total_at)
        return _decayed(found[0], now - found[1]) > min(FAIR_FACTOR / active, FAIR_MOST) * total

    def pause(self, principal: str | None) -> float | None:
        """How long `principal`'s next request waits before it asks for a slot (0: not at all;
        None: refused, its turn being more than PAUSE_AT_MOST away). A principal over its share
        gets turns spaced by its last request's time and that again for every other active
        principal (that part at most YIELD_AT_MOST): each request takes the next turn."""
        if principal is None or not self.over(principal):
            return 0.0
        now = self.now()
        took = self.took.get(principal, 0.0)
        start = max(now, self.turns.get(principal, now))
        if start - now > PAUSE_AT_MOST:
            return None
        self.turns[principal] = start + took + min(took * (self.active - 1), YIELD_AT_MOST)
        return start - now

    def _active(self, now: float) -> int:
        """The principals active lately (counted at most every _COUNT_EVERY; the forgotten dropped)."""
        if now - self.counted_at >= _COUNT_EVERY:
            kept = {p: (w, at) for p, (w, at) in self.work.items() if _decayed(w, now - at) >= _ACTIVE_FLOOR}
            self.took = {p: took for p, took in self.took.items() if p in kept}
            self.turns = {p: turn for p, turn in self.turns.items() if p in kept and turn > now}
            self.work, self.active, self.counted_at = kept, len(kept), now
        return self.active


def _decayed(value: float, seconds: float) -> float:
    return value * 0.5 ** (seconds / FAIR_HALF_LIFE)


@dataclass(eq=False)
class _Waiter:
    caller: Caller
    admitted: asyncio.Future[bool]
    timer: asyncio.TimerHandle | None = field(default=None)


class Gate:
    """The slots of one process: who is in, who waits, and which class a freed slot goes to.
    Used from the event loop only, so it needs no lock."""

    def __init__(self, settings: Settings, fair: Shares | None = None) -> None:
        self.shares = fair or Shares()
        capacity = settings.admission_in_flight
        shares = admission_shares(settings)
        self.limits = {klass: max(1, capacity * shares[klass] // 100) for klass in REQUEST_CLASSES}
        self.waits = {klass: ms / 1000 for klass, ms in admission_waits(settings).items()}
        self.per_principal = settings.principal_in_flight
        self.queue_limit = capacity  # each class's queue; a request beyond it is refused at once
        self.busy = 0
        self.by_principal: dict[str, int] = {}
        self.waiting: dict[str, deque[_Waiter]] = {klass: deque() for klass in REQUEST_CLASSES}
        self.queued = 0
        self.last_shed = -SHEDDING_SECONDS

    def shedding(self) -> bool:
        """Whether this process refused a request for want of capacity within SHEDDING_SECONDS."""
        return time.monotonic() - self.last_shed < SHEDDING_SECONDS

    def try_enter(self, caller: Caller) -> bool:
        """In at once, if nobody waits and there is room."""
        if self.queued or not self._fits(caller):
            return False
        self._take(caller)
        return True

    async def enter(self, caller: Caller) -> str | None:
        """In (None), or why not after waiting: "capacity" (503) or "principal" (429)."""
        queue = self.waiting[caller.klass]
        if len(queue) >= self.queue_limit:
            # No place in the queue: refused all the same after the wait, holding nothing but the
            # connection, so a client that asks again at once cannot spin the process on refusals.
            await asyncio.sleep(self.waits[caller.klass])
            return self._refuse(caller)
        waiter = _Waiter(caller, asyncio.get_running_loop().create_future())
        queue.append(waiter)
        self.queued += 1
        self._dispatch()
        if not waiter.admitted.done():
            waiter.timer = asyncio.get_running_loop().call_later(self.waits[caller.klass], self._expire, waiter)
        try:
            admitted = await waiter.admitted
        except BaseException:  # the client left while it waited: its place, or its slot, is given back
            if waiter.admitted.done() and not waiter.admitted.cancelled() and waiter.admitted.result():
                self.leave(caller)
            else:
                self._drop(waiter)
            raise
        return None if admitted else self._refuse(caller)

    def leave(self, caller: Caller) -> None:
        self.busy -= 1
        _IN_FLIGHT[caller.klass].dec()
        if caller.principal is not None:
            left = self.by_principal[caller.principal] - 1
            if left:
                self.by_principal[caller.principal] = left
            else:
                del self.by_principal[caller.principal]
        if self.queued:
            self._dispatch()

    def _fits(self, caller: Caller) -> bool:
        if self.busy >= self.limits[caller.klass]:
            return False
        return caller.principal is None or self.by_principal.get(caller.principal, 0) < self._limit_of(caller.principal)

    def _limit_of(self, principal: str) -> int:
        """A principal's requests at once: one while they are over their fair share."""
        return 1 if self.shares.over(principal) else self.per_principal

    def _take(self, caller: Caller) -> None:
        self.busy += 1
        _IN_FLIGHT[caller.klass].inc()
        if caller.principal is not None:
            self.by_principal[caller.principal] = self.by_principal.get(caller.principal, 0) + 1

    def _dispatch(self) -> None:
        """Admit whoever waits and fits: the highest class first, the oldest first within it."""
        for klass in REQUEST_CLASSES:
            queue = self.waiting[klass]
            for waiter in list(queue):
                if self.busy >= self.limits[klass]:
                    break
                if self._fits(waiter.caller):
                    self._drop(waiter)
                    self._take(waiter.caller)
                    waiter.admitted.set_result(True)

    def _expire(self, waiter: _Waiter) -> None:
        if not waiter.admitted.done():
            self._drop(waiter)
            waiter.admitted.set_result(False)

    def _drop(self, waiter: _Waiter) -> None:
        queue = self.waiting[waiter.caller.klass]
        if waiter in queue:
            queue.remove(waiter)
            self.queued -= 1
        if waiter.timer is not None:
            waiter.timer.cancel()

    def _refuse(self, caller: Caller) -> str:
        principal = caller.principal
        if principal is not None and self.by_principal.get(principal, 0) >= self._limit_of(principal):
            reason = "principal"
        else:
            reason = "capacity"
            self.last_shed = time.monotonic()
        SHED.labels(caller.klass, reason).inc()
        return reason


_PAGE = (
    '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Lifeline is busy</title></head>'
    "<body><main><h1>Lifeline is busy</h1><p>{}</p><p>Try again in a moment.</p></main></body></html>"
)


async def _refused(scope: dict[str, Any], send: Any, caller: Caller, reason: str, gate: Gate) -> None:
    if reason == "principal":
        status = 429
        limit = gate._limit_of(caller.principal) if caller.principal is not None else gate.per_principal
        message = f"Too many requests of yours at once (at most {limit} in flight); try again shortly"
    else:
        status = 503
        message = "Lifeline is too busy to take this request now; try again shortly"
    path = scope.get("path", "")
    fhir = path == "/fhir" or path.startswith("/fhir/") or wants_json(scope)
    body, headers = throttled_answer(fhir, message, _PAGE.format(message), RETRY_AFTER)
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": b"" if scope.get("method") == "HEAD" else body})


def throttled_answer(
    fhir: bool, message: str, page: str, retry_after: bytes
) -> tuple[bytes, list[tuple[bytes, bytes]]]:
    """A refusal for want of room or past a limit, built without a thread or a template (admission's
    here, the rate limits' held ones in the HTTP protocol): its body, an OperationOutcome
    `throttled` or `page`, and its headers, Retry-After and Content-Length included."""
    headers = [(b"retry-after", retry_after), (b"cache-control", b"no-store"), (b"x-content-type-options", b"nosniff")]
    if fhir:
        body = jsontext.dumps(operation_outcome([Issue("error", "throttled", message)]))
        headers.append((b"content-type", FHIR_JSON.encode()))
    else:
        body = page.encode()
        headers += [
            (b"content-type", b"text/html; charset=utf-8"),
            (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'"),
        ]
    headers.append((b"content-length", str(len(body)).encode()))
    return body, headers


def with_admission(app: ASGIApp, gate: Gate, classifier: Classifier) -> ASGIApp:
    """`app`, each HTTP request admitted by `gate` in the class `classifier` gives it."""

    async def admitted(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        caller = await classifier.caller_of(scope)
        principal = caller.principal
        # Held back only while others have requests in flight here: no one waits for an idle process.
        pause = gate.shares.pause(principal) if gate.busy > gate.by_principal.get(principal or "", 0) else 0.0
        if pause is None:  # refused, after the longest wait a turn may have: no spinning on 429s
            SHED.labels(caller.klass, "principal").inc()
            await asyncio.sleep(PAUSE_AT_MOST)
            await _refused(scope, send, caller, "principal", gate)
            return
        if pause:
            YIELDED.inc()
            await asyncio.sleep(pause)
        if not gate.try_enter(caller):
            refused = await gate.enter(caller)
            if refused is not None:
                await _refused(scope, send, caller, refused, gate)
                return
        if principal is None:
            try:
                await app(scope, receive, send)
            finally:
                gate.leave(caller)
            return
        started, sent = time.monotonic(), 0

        async def counted(message: dict[str, Any]) -> None:
            nonlocal sent
            if message["type"] == "http.response.body":
                sent += len(message.get("body", b""))
            await send(message)

        try:
            await app(scope, receive, counted)
        finally:
            gate.leave(caller)
            gate.shares.charge(principal, sent, time.monotonic() - started)

    return admitted
