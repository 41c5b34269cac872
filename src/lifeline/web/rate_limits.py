"""Rate limits per client address, per account and per app (issue 28; docs/security.md "Rate limits").

Every HTTP request but the health probes is counted against one key, by who is asking (the
verified credential, web/admission.py `Classifier`, so a forged token or an unknown cookie keys
nothing of its own):

- no credential, or one that does not verify: the client's address (`scope["client"]`), or the
  browser instead for one that has completed a login here (its device cookie,
  identity/device_cookies.py), so that nobody behind the same address (a hospital's NAT) can use
  up the limits of those who work there; with LIFELINE_RATE_LIMIT_ANONYMOUS, and on the login
  posts and the token endpoint (LOGIN_POSTS) LIFELINE_RATE_LIMIT_LOGIN first;
- a staff member's or patient's session or token: their account (`staff:<user>`, `Patient/<id>`),
  however many sessions and tokens they hold, with LIFELINE_RATE_LIMIT_ACCOUNT;
- a system token: its app (`client:<id>`), with LIFELINE_RATE_LIMIT_APP;
- a registered site node's credential: not limited (its poll interval paces it, and shedding a
  hospital's write-through would hurt the patients there).

The counting is the `limits` library's sliding window counter, the nearest of its strategies to a
token bucket: a burst of the whole limit, then the limit's rate, two counters a key. The counters
live in this process's memory, or in Redis (LIFELINE_RATE_LIMIT_STORAGE=redis://...) shared by
every process and machine; while Redis cannot be reached each process counts in its own memory
and says so in the log, and asks Redis again after FALLBACK_SECONDS.

Past a limit: 429 with Retry-After (seconds until the window has room), an OperationOutcome
`throttled` under /fhir and the error page elsewhere, counted in lifeline_rate_limited_requests;
nothing reaches the routes, so nothing is written.

A key once refused stays refused in this process until its window has room (`Refused`), and its
next requests are answered by the HTTP protocol itself (web/http_protocol.py), before any ASGI task
or counter, each held `HOLD_SECONDS` first: a flood from one address, account or app then costs
the process a dictionary look-up and a timer a request, and a flooder that waits for its answers,
as most do, sends one request a second a connection instead of thousands (bench/flood.py). At
most `HELD_AT_MOST` answers are held at once; past that they go at once and close the connection.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Awaitable, Callable
from typing import Any

import redis.asyncio
from limits import RateLimitItem
from limits.aio.storage import MemoryStorage, RedisStorage
from limits.aio.strategies import SlidingWindowCounterRateLimiter
from limits.errors import StorageError
from starlette.requests import Request

from lifeline import telemetry
from lifeline.clock import EpochClock, epoch_clock
from lifeline.config import Settings, rate_limits_of
from lifeline.errors import RateLimited
from lifeline.identity import device_cookies
from lifeline.web import assets
from lifeline.web.admission import APPS, Caller, Classifier, throttled_answer
from lifeline.web.errors import FHIR_JSON, error_answer, error_response
from lifeline.web.login import DEVICE_COOKIE, SECURE_DEVICE_COOKIE
from lifeline.web.security_headers import with_page_headers

ASGIApp = Callable[[dict[str, Any], Any, Any], Awaitable[None]]
log = logging.getLogger("lifeline.web.rate_limits")

ADDRESS, LOGIN, ACCOUNT, APP = "address", "login", "account", "app"
# The posts that check a password, a code or a client's secret, and the patients' login at the
# identity provider: each costs argon2 or a call out, so an address gets fewer of them.
LOGIN_POSTS = frozenset(
    {"/login", "/login/second-factor", "/login/second-factor/passkey", "/login/enrol", "/login/password"}
    | {"/oauth/token", "/oauth/authorize"}
)
LOGIN_ANY_METHOD = frozenset({"/login/citizen", "/login/citizen/callback"})
FALLBACK_SECONDS = 30.0  # how long a process counts in memory after Redis failed, before asking again
REDIS_TIMEOUT_SECONDS = 0.25  # a Redis that does not answer within this counts as unreachable
_UNKNOWN_ADDRESS = "unknown"  # a request without a peer address (a Unix socket): one key for all
HOLD_SECONDS = 1.0  # how long a refused key's next answers are held (at most its Retry-After)
HELD_AT_MOST = 1024  # answers held at once in one process
_REMEMBERED_AT_MOST = 100_000  # refused keys kept; past that, the expired go, then all


class RateLimits:
    """The limits of one node and the counters they are kept in (in Redis under the node's id: the
    processes and machines of one node share them, other nodes on the same Redis do not)."""

    def __init__(self, settings: Settings, *, clock: EpochClock = epoch_clock) -> None:
        read = rate_limits_of(settings)
        self.limits: dict[str, tuple[RateLimitItem, ...]] = {
            ADDRESS: read["rate_limit_anonymous"],
            LOGIN: read["rate_limit_login"],
            ACCOUNT: read["rate_limit_account"],
            APP: read["rate_limit_app"],
        }
        self.clock = clock
        self.memory = SlidingWindowCounterRateLimiter(MemoryStorage())
        self.shared: SlidingWindowCounterRateLimiter | None = None
        self.pool: redis.asyncio.ConnectionPool | None = None
        uri = settings.rate_limit_storage
        if not uri.startswith("memory://"):
            # The pool is ours, so that the app's shutdown closes its connections (`aclose`).
            self.pool = redis.asyncio.ConnectionPool.from_url(
                uri.replace("redis+unix://", "unix://"),
                socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
                socket_timeout=REDIS_TIMEOUT_SECONDS,
            )
            storage = RedisStorage(
                "async+" + uri,
                implementation="redispy",
                key_prefix=f"lifeline-rate:{settings.node_id}",
                wrap_exceptions=True,
                connection_pool=self.pool,  # type: ignore[arg-type]  # documented, typed narrower
            )
            self.shared = SlidingWindowCounterRateLimiter(storage)
        self.uri = uri
        self.in_memory_until = 0.0  # monotonic: until then the shared counters are not asked

    async def aclose(self) -> None:
        """Close the connections to Redis (the app's shutdown)."""
        if self.pool is not None:
            await self.pool.aclose()

    async def retry_after(self, kind: str, value: str) -> int | None:
        """Count one request of `value` (an address, an account, an app) against `kind`'s limits:
        None if all have room, else the seconds until the refusing one has."""
        items = self.limits[kind]
        if not items:
            return None
        limiter = self.memory
        if self.shared is not None and time.monotonic() >= self.in_memory_until:
            limiter = self.shared
        try:
            return await _counted(limiter, items, kind, value, self.clock)
        except (StorageError, OSError) as error:
            if limiter is self.memory:
                raise
            self.in_memory_until = time.monotonic() + FALLBACK_SECONDS
            log.warning(
                "rate limit storage %s unreachable (%s): counting in this process's memory for %d s",
                _without_password(self.uri),
                getattr(error, "storage_error", error),
                FALLBACK_SECONDS,
            )
            return await _counted(self.memory, items, kind, value, self.clock)


async def _counted(
    limiter: SlidingWindowCounterRateLimiter,
    items: tuple[RateLimitItem, ...],
    kind: str,
    value: str,
    clock: EpochClock,
) -> int | None:
    for item in items:
        if not await limiter.hit(item, kind, value):
            stats = await limiter.get_window_stats(item, kind, value)
            return max(1, math.ceil(stats.reset_time - clock()))
    return None


def _without_password(uri: str) -> str:
    scheme, _, rest = uri.partition("://")
    return f"{scheme}://{rest.rpartition('@')[2]}"


class KnownDevices:
    """Which browser a login post comes from, when its device cookie is this node's and fresh
    (identity/device_cookies.py; for whichever user: the login checks that)."""

    def __init__(self, kek: Callable[[], bytes], clock: EpochClock = epoch_clock) -> None:
        self.kek = kek
        self.clock = clock
        self._key: bytes | None = None

    def device_of(self, scope: dict[str, Any]) -> str | None:
        name = SECURE_DEVICE_COOKIE if scope.get("scheme") == "https" else DEVICE_COOKIE
        wanted = name.encode()
        if not any(header == b"cookie" and wanted in value for header, value in scope["headers"]):
            return None  # most anonymous requests (and every flood's): no cookie to parse
        cookie = Request(scope).cookies.get(name)
        if not cookie:
            return None
        if self._key is None:
            self._key = device_cookies.device_key(self.kek())
        found = device_cookies.known_device(self._key, cookie, self.clock())
        return found[0] if found is not None else None


def with_rate_limits(
    app: ASGIApp, limits: RateLimits, classifier: Classifier, devices: KnownDevices, fhir_prefix: str
) -> ASGIApp:
    """`app`, each HTTP request first counted against its key's limits and refused past them."""

    async def limited(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        path = scope.get("path", "")
        if path.startswith(assets.PREFIX):  # the hashed styles and scripts every page needs: not counted
            await app(scope, receive, send)
            return
        caller = await classifier.caller_of(scope)  # kept in the scope: admission asks it next
        key = _key_of(scope, caller, devices)
        if key is None:  # a site node
            await app(scope, receive, send)
            return
        kinds: tuple[tuple[str, str], ...] = (key,)
        if key[0] == ADDRESS and (path in LOGIN_ANY_METHOD or (path in LOGIN_POSTS and scope.get("method") == "POST")):
            kinds = ((LOGIN, key[1]), key)
        for kind, value in kinds:
            retry = await limits.retry_after(kind, value)
            if retry is not None:
                telemetry.RATE_LIMITED.labels(kind).inc()
                if kind != LOGIN:  # the login limit is per browser on some paths only: not for the protocol
                    refused.remember(kind, value, retry)
                await _refuse(scope, receive, send, kind, retry, fhir_prefix)
                return
        await app(scope, receive, send)

    global _LATEST
    refused = _LATEST = Refused(classifier, devices, fhir_prefix)
    return limited


def _key_of(scope: dict[str, Any], caller: Caller, devices: KnownDevices) -> tuple[str, str] | None:
    """The key a request counts against (kind, value); None for a site node's, which is not limited.
    Without a verified credential: the browser, if it has logged in here (its device cookie), so
    that nobody sharing its address (a hospital's NAT) can use up its limits; else the address."""
    principal = caller.principal
    if principal is None:
        device = devices.device_of(scope)
        if device is not None:
            return ADDRESS, f"device:{device}"
        client = scope.get("client")
        return ADDRESS, client[0] if client else _UNKNOWN_ADDRESS
    if principal.startswith("site:"):
        return None
    return APP if caller.klass == APPS else ACCOUNT, principal


class Refused:
    """The keys this process refused lately, each until its window has room: what the HTTP protocol
    answers for itself (web/http_protocol.py). Used from the event loop only."""

    def __init__(self, classifier: Classifier, devices: KnownDevices, fhir_prefix: str) -> None:
        self.classifier = classifier
        self.devices = devices
        self.fhir_prefix = fhir_prefix
        self.until: dict[tuple[str, str], float] = {}  # monotonic
        self.held = 0  # answers waiting out HOLD_SECONDS now
        self._answers: dict[tuple[str, bool, int], tuple[bytes, bytes]] = {}

    def remember(self, kind: str, value: str, retry: int) -> None:
        now = time.monotonic()
        if len(self.until) >= _REMEMBERED_AT_MOST:
            self.until = {key: until for key, until in self.until.items() if until > now}
            if len(self.until) >= _REMEMBERED_AT_MOST:
                self.until.clear()
        self.until[(kind, value)] = now + retry

    def refusal(self, scope: dict[str, Any]) -> tuple[str, int] | None:
        """(kind, Retry-After) when the request's key is refused still; None to let the app count
        it (a credential not verified lately is the app's to verify)."""
        if not self.until or scope.get("path", "").startswith(assets.PREFIX):
            return None
        caller, _, _ = self.classifier.cached(scope)
        if caller is None:
            return None
        key = _key_of(scope, caller, self.devices)
        until = self.until.get(key) if key is not None else None
        if until is None:
            return None
        left = until - time.monotonic()
        if left <= 0:
            del self.until[key]  # type: ignore[arg-type]
            return None
        return key[0], max(1, math.ceil(left))  # type: ignore[index]

    def answer(self, scope: dict[str, Any], kind: str, retry: int) -> tuple[bytes, bytes]:
        """The refusal's status line and headers (without Date, Server, request id or the blank
        line) and body, as the app would answer it: an OperationOutcome under /fhir, else a page."""
        path = scope.get("path", "")
        fhir = path == self.fhir_prefix or path.startswith(self.fhir_prefix + "/")
        found = self._answers.get((kind, fhir, retry))
        if found is None:
            message = f"Too many requests {_WHOSE[kind]}; try again in {retry} seconds"
            body, headers = throttled_answer(fhir, message, _PAGE.format(message), str(retry).encode())
            head = b"HTTP/1.1 429 Too Many Requests\r\n" + b"".join(
                name + b": " + value + b"\r\n" for name, value in headers
            )
            found = self._answers[(kind, fhir, retry)] = (head, body)
        return found


_PAGE = (
    '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Too many requests</title></head>'
    "<body><main><h1>Too many requests</h1><p>{}</p></main></body></html>"
)
QUICK: Refused | None = None  # set in a server process that serves one app (web/asgi.py)
_LATEST: Refused | None = None


def serve_quickly() -> None:
    """Let this process's HTTP protocol answer the refused keys of the app made last (`lifeline
    serve`'s workers make one app each)."""
    global QUICK
    QUICK = _LATEST


_WHOSE = {
    ADDRESS: "from this address",
    LOGIN: "to log in from this address",
    ACCOUNT: "by this account",
    APP: "by this app",
}


async def _refuse(scope: dict[str, Any], receive: Any, send: Any, kind: str, retry: int, fhir_prefix: str) -> None:
    error = RateLimited(f"Too many requests {_WHOSE[kind]}; try again in {retry} seconds", retry)
    path = scope.get("path", "")
    if path == fhir_prefix or path.startswith(fhir_prefix + "/"):
        status, body, headers = error_answer(error)
        headers += [
            (b"content-type", FHIR_JSON.encode()),
            (b"content-length", str(len(body)).encode()),
            (b"cache-control", b"no-store"),
        ]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": b"" if scope.get("method") == "HEAD" else body})
        return
    # The error page without a person or the node's status (no page context here): nothing blocks.
    await with_page_headers(error_response(scope, error))(scope, receive, send)
