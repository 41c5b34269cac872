"""Correlation ids, the node's structured JSON log and its own metrics (issue 23: root cause).

Every HTTP request and login carries a correlation id: the one in its `X-Request-ID` header if it
is sane (1-128 of `A-Za-z0-9._:-`), else one made here (uuid4, hex). It lives in `REQUEST_ID`, a
context variable, for the request (web/request_id.py sets it), is copied into the core's worker
threads with the context (fhir/acting.py, starlette's `run_in_threadpool`), goes with a site's
calls to the centre (replication/central_client.py) and is written on every log line, so that a
site's line and the centre's can be joined.

The log is JSON lines (`<log_dir>/lifeline.jsonl`): time (UTC), level, logger, message, node,
request_id and whatever the line was given as `extra`. The formatter is the standard library's
`logging` with orjson (docs/architecture.md says why no logging library). Lines never carry a
query string, a body or a form: patient data stays out of the log (docs/security.md).

`TELEMETRY` is the registry of what this process counts (served on /metrics with the status's
figures, replication/status.py): requests and their latency by route class and status class,
requests in flight, logins by node, person and outcome, and how long durable audit appends take.
"""

from __future__ import annotations

import logging
import re
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from logging.handlers import WatchedFileHandler
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

if TYPE_CHECKING:  # a type only: telemetry sits beside config in the lowest layer
    from lifeline.config import Settings

HEADER = "X-Request-ID"
REQUEST_ID: ContextVar[str | None] = ContextVar("lifeline_request_id", default=None)
_SANE = re.compile(r"[A-Za-z0-9._:-]{1,128}")
LOG_FILE = "lifeline.jsonl"


def new_request_id() -> str:
    return uuid.uuid4().hex


def sane_request_id(value: str | None) -> str | None:
    """`value` if it may serve as a correlation id (it goes into logs and headers), else None."""
    return value if value is not None and _SANE.fullmatch(value) else None


def current_request_id() -> str | None:
    return REQUEST_ID.get()


@contextmanager
def correlated(request_id: str | None = None) -> Iterator[str]:
    """Run a block under `request_id` (a new one if None): a site's poll round, a command."""
    chosen = sane_request_id(request_id) or new_request_id()
    token = REQUEST_ID.set(chosen)
    try:
        yield chosen
    finally:
        REQUEST_ID.reset(token)


# --- The JSON log ---------------------------------------------------------------------------

# A LogRecord's own attributes; any other attribute came from `extra` and is written as a field.
_RECORD_ATTRIBUTES = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}


def log_time(created: float) -> str:
    """A log line's time: UTC, ISO 8601, milliseconds (what `lifeline diagnose` windows on)."""
    return datetime.fromtimestamp(created, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class JsonLines(logging.Formatter):
    """One JSON object a line, with the node and the correlation id of the request it served."""

    def __init__(self, node: str) -> None:
        super().__init__()
        self.node = node

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": log_time(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "node": self.node,
            "request_id": REQUEST_ID.get(),
        }
        for key, value in vars(record).items():
            if key not in _RECORD_ATTRIBUTES and not key.startswith("_"):
                line[key] = value  # `extra` (a line's own `node` or `request_id` wins)
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(line, default=str).decode()


_HANDLER_NAME = "lifeline-jsonl"
_levels_before: list[int] = []  # the `lifeline` logger's level before configure_logging


def configure_logging(settings: Settings) -> Path | None:
    """Write this process's log as JSON lines to `<log_dir>/lifeline.jsonl` (none if log_dir is
    empty): Lifeline's own lines from INFO up (DEBUG with LIFELINE_LOG_LEVEL=debug: every site's
    poll and every status scrape too), other libraries' from WARNING. Called again, it
    replaces its handler. The file is opened for appending, so the processes of `serve
    --workers N` share it, and `WatchedFileHandler` reopens it after logrotate moves it
    (`lifeline diagnose` reads the rotated `lifeline.jsonl.*` files too). Warnings and errors
    go to stderr as well, as they did before."""
    stop_logging()
    if not settings.log_dir:
        return None
    folder = Path(settings.log_dir)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LOG_FILE
    handler = WatchedFileHandler(path, encoding="utf-8")
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(JsonLines(settings.node_id))
    # Warnings and errors still reach stderr (the service's journal), as before a log was set.
    console = logging.StreamHandler(sys.stderr)
    console.set_name(_HANDLER_NAME)
    console.setLevel(logging.WARNING)
    console.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.addHandler(console)
    if root.level == logging.NOTSET or root.level > logging.WARNING:
        root.setLevel(logging.WARNING)
    ours = logging.getLogger("lifeline")
    _levels_before.append(ours.level)
    ours.setLevel(logging.DEBUG if settings.log_level.strip().lower() == "debug" else logging.INFO)
    return path


def stop_logging() -> None:
    """Remove the handlers `configure_logging` added (tests; a second configuration)."""
    root = logging.getLogger()
    for handler in [h for h in root.handlers if h.get_name() == _HANDLER_NAME]:
        root.removeHandler(handler)
        handler.close()
    if _levels_before:
        logging.getLogger("lifeline").setLevel(_levels_before.pop())


# --- Metrics --------------------------------------------------------------------------------

TELEMETRY = CollectorRegistry()
ROUTE_CLASSES = ("fhir", "page", "login", "status", "replication", "static", "other")
STATUS_CLASSES = ("1xx", "2xx", "3xx", "4xx", "5xx")
# Latency buckets (seconds): a page or a read in milliseconds, a bulk page or a slow disk in seconds.
_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

REQUESTS = Counter(
    "lifeline_http_requests",
    "HTTP requests answered, by route class and status class",
    ["route_class", "status_class"],
    registry=TELEMETRY,
)
LATENCY = Histogram(
    "lifeline_http_request_duration_seconds",
    "Time from a request's arrival to the end of its answer, by route class and status class",
    ["route_class", "status_class"],
    buckets=_BUCKETS,
    registry=TELEMETRY,
)
IN_FLIGHT = Gauge(
    "lifeline_http_requests_in_flight",
    "Requests being answered now, by route class (queued for or busy in a worker thread included)",
    ["route_class"],
    registry=TELEMETRY,
)
LOGINS = Counter(
    "lifeline_logins",
    "Login attempts completed or refused, by node, person (staff or patient) and outcome",
    ["node", "person", "outcome"],
    registry=TELEMETRY,
)
AUDIT_APPEND = Histogram(
    "lifeline_audit_append_seconds",
    "How long a durable append to the audit chain took, waiting for the chain's head included",
    buckets=_BUCKETS,
    registry=TELEMETRY,
)
RATE_LIMITED = Counter(
    "lifeline_rate_limited_requests",
    "Requests refused with 429 by a rate limit (web/rate_limits.py), by kind: address, login, account, app",
    ["kind"],
    registry=TELEMETRY,
)

_FHIR = "/fhir"
_LOGIN_PREFIXES = ("/login", "/logout", "/oauth/")
_STATUS_PATHS = frozenset({"/status", "/status.json", "/metrics", "/healthz", "/readyz"})


def route_class(path: str, status: int) -> str:
    """The class a request's path belongs to. A path no route answers (a 404 outside the FHIR
    API: scanners, typos) and the discovery documents are `other`, so they do not blur `page`."""
    if path == _FHIR or path.startswith(_FHIR + "/"):
        return "fhir"
    if path.startswith(_LOGIN_PREFIXES):
        return "login"
    if path in _STATUS_PATHS or path.startswith("/status/"):
        return "status"
    if path.startswith("/replication/"):
        return "replication"
    if path.startswith("/static/"):
        return "static"
    if status == 404 or path.startswith("/.well-known/"):
        return "other"
    return "page"


def status_class(status: int) -> str:
    return f"{status // 100}xx" if 100 <= status < 600 else "5xx"


# Each label set's children, found once: `labels()` takes a lock and builds a key on every call.
_ANSWERED: dict[tuple[str, int], tuple[Any, Any]] = {}
_BUSY: dict[str, Any] = {}


def count_request(route: str, status: int, seconds: float) -> None:
    children = _ANSWERED.get((route, status))
    if children is None:
        klass = status_class(status)
        children = _ANSWERED[(route, status)] = (REQUESTS.labels(route, klass), LATENCY.labels(route, klass))
    children[0].inc()
    children[1].observe(seconds)


def in_flight(route: str) -> Any:
    """The gauge of requests of `route` being answered now (inc when one comes, dec when done)."""
    child = _BUSY.get(route)
    if child is None:
        child = _BUSY[route] = IN_FLIGHT.labels(route)
    return child


def count_login(node: str, person: str, outcome: str) -> None:
    """One login (`person`: staff or patient; `outcome`: success or failure) at `node`."""
    LOGINS.labels(node, person, outcome).inc()
