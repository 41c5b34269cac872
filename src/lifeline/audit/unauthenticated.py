"""Requests without valid credentials, summarised (issue 28: anonymous requests write nothing).

A flood of unauthenticated FHIR requests wrote one audit record each (83,000 in 20 s), which then
took the privacy officers' review list 87 s to page through. A 401 to nobody is not an access to
anyone's record: what the trail needs is that it happened, from where, how often and when. So
the core (fhir/acting.py) counts them here instead, per client address and minute, and one
security event per address and minute goes to the trail (subtype `unauthenticated`, outcome 4,
the count and the minute in its text), submitted to the audit recorder when the minute is over:
at the next 401 after it, or when the node stops (`flush`). The count is also on `/metrics`
(the core counts every answer by status).

Memory is bounded: at most MOST_ADDRESSES addresses a minute are told apart; beyond them the rest
of that minute is summed under one address, "(others)". Each process of a node keeps its own
tally, so a node of several workers writes one record per address, minute and process.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from lifeline.audit.events import security_event

MOST_ADDRESSES = 10_000
OTHERS = "(others)"
MINUTE = timedelta(minutes=1)


class UnauthenticatedTally:
    """The 401s of nobody, per (address, minute), until their minute is over."""

    def __init__(self, node_id: str, clock: Callable[[], datetime], submit: Callable[[dict[str, Any]], Any]) -> None:
        self.node_id, self.clock, self.submit = node_id, clock, submit
        self._counts: dict[tuple[str, datetime], int] = {}
        self._lock = threading.Lock()

    def note(self, address: str | None) -> None:
        """One request without valid credentials from `address`; writes the minutes now over."""
        minute = self.clock().astimezone(UTC).replace(second=0, microsecond=0)
        who = address or "unknown"
        with self._lock:
            if (who, minute) not in self._counts and len(self._counts) >= MOST_ADDRESSES:
                who = OTHERS
            self._counts[(who, minute)] = self._counts.get((who, minute), 0) + 1
            over = [key for key in self._counts if key[1] < minute]
            done = [(key, self._counts.pop(key)) for key in over]
        self._write(done)

    def flush(self) -> None:
        """Write every minute counted so far, over or not (the node is stopping)."""
        with self._lock:
            done = list(self._counts.items())
            self._counts.clear()
        self._write(done)

    def _write(self, done: list[tuple[tuple[str, datetime], int]]) -> None:
        for (address, minute), count in done:
            text = (
                f"{count} request{'s' if count != 1 else ''} without valid credentials from {address}"
                f" between {minute:%H:%M} and {minute + MINUTE:%H:%M} UTC, answered 401"
            )
            event = security_event(
                "unauthenticated",
                node_id=self.node_id,
                outcome="failure",
                text=text,
                address=None if address == OTHERS else address,
                recorded=minute + MINUTE,
            )
            event["period"] = {"start": _instant(minute), "end": _instant(minute + MINUTE)}
            self.submit(event)


def _instant(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")
