"""A request's way to stop its own database statements when its client goes away (issue 27).

The HTTP adapter makes a `Cancellation` for a request and sets it as `CURRENT` before the core
runs (a context variable: it follows the request into the worker thread). Each reading session
of the storage runs inside `stoppable(stop)`, where `stop` interrupts that session's connection
(SQLite's `interrupt`, PostgreSQL's cancel request). When the client disconnects, the adapter
`fire`s the cancellation: the statement running now is stopped, and no later statement of the
request starts (storage/reading.py), so a search whose client has gone leaves no query running.
(A cancel that reaches PostgreSQL in the microseconds between the check and the statement's
arrival finds nothing to stop; that statement ends at the time limit.)

Writes are never stopped this way: a write that has begun commits or rolls back as a whole."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from lifeline.errors import ClientGone

_log = logging.getLogger(__name__)


class Cancellation:
    """Fired once, from any thread; stops whatever statement of the request is running then."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._stops: dict[int, Callable[[], object]] = {}
        self._next = 0
        self.fired = False

    def fire(self) -> None:
        """Stop the request's running statements (blocking: a PostgreSQL cancel is a round trip)."""
        with self._lock:  # held while stopping, so no session leaves (and reuses its connection) meanwhile
            self.fired = True
            for stop in self._stops.values():
                try:
                    stop()
                except Exception:  # noqa: BLE001 - a connection closed meanwhile has nothing left to stop
                    _log.warning("could not stop a statement of a request whose client went away", exc_info=True)

    def _enter(self, stop: Callable[[], object]) -> int:
        with self._lock:
            if self.fired:
                raise ClientGone(GONE)
            self._next += 1
            self._stops[self._next] = stop
            return self._next

    def _leave(self, key: int) -> None:
        with self._lock:
            del self._stops[key]


GONE = "The client went away before the answer was ready; its database work was stopped"
CURRENT: ContextVar[Cancellation | None] = ContextVar("lifeline_cancellation", default=None)


def fired() -> bool:
    """Whether the current request's client has gone (cheap: asked by SQLite's progress handler)."""
    cancellation = CURRENT.get()
    return cancellation is not None and cancellation.fired


@contextmanager
def stoppable(stop: Callable[[], object]) -> Iterator[None]:
    """Run a reading session that the current request's cancellation may stop with `stop`; any
    failure after the cancellation fired is that (ClientGone), whatever the driver called it."""
    cancellation = CURRENT.get()
    if cancellation is None:
        yield
        return
    key = cancellation._enter(stop)
    try:
        yield
    except ClientGone:
        raise
    except Exception as error:
        if cancellation.fired:
            raise ClientGone(GONE) from error
        raise
    finally:
        cancellation._leave(key)
