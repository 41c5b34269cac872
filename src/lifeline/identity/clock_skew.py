"""Clock trouble must not lock people out: how far this node's clock is from its peers'.

A node whose clock drifts keeps issuing and checking its own tokens (both ends use the same
clock), but a TOTP code comes from the user's phone, which keeps real time: with the node five
minutes off, every code would be refused. So the node measures its offset against its peers — the
PostgreSQL server it uses, and (with site nodes) the other Lifeline nodes — and checks codes
against the peers' time; when the offset passes a threshold it says so (a warning in the log and
on the status page), so that someone fixes the clock.

An offset is measured NTP-style: ask a peer for its time and take the midpoint of the round trip
as the moment it answered. The median of the peers' offsets is used, so one wrong peer does not
move the node.
"""

from __future__ import annotations

import logging
import statistics
import threading
from collections.abc import Callable
from dataclasses import dataclass

from lifeline.clock import EpochClock, epoch_clock

log = logging.getLogger("lifeline.clock")

Peer = Callable[[], float]  # returns the peer's time, seconds since 1970
DEFAULT_THRESHOLD = 60.0  # seconds of offset before the node warns
REMEASURE_SECONDS = 60.0


@dataclass(frozen=True)
class Skew:
    offset: float  # seconds this node's clock is ahead of its peers (negative: behind)
    peers: int  # how many peers answered
    measured_at: float

    def warning(self, threshold: float = DEFAULT_THRESHOLD) -> str | None:
        if self.peers == 0 or abs(self.offset) <= threshold:
            return None
        direction = "ahead of" if self.offset > 0 else "behind"
        return (
            f"This node's clock is {abs(self.offset):.0f} s {direction} its peers'; logins still work "
            "(second-factor codes are checked against the peers' time), but fix the clock (NTP)."
        )


class ClockSkew:
    def __init__(
        self,
        peers: list[Peer],
        *,
        clock: EpochClock = epoch_clock,
        threshold: float = DEFAULT_THRESHOLD,
    ) -> None:
        self.peers = peers
        self.clock = clock
        self.threshold = threshold
        self._last: Skew | None = None
        self._lock = threading.Lock()

    def measure(self) -> Skew:
        offsets: list[float] = []
        for peer in self.peers:
            sent = self.clock()
            try:
                theirs = peer()
            except Exception as error:  # noqa: BLE001 - a peer that is down is no measurement
                log.info("clock peer did not answer: %s", error)
                continue
            received = self.clock()
            offsets.append((sent + received) / 2 - theirs)
        skew = Skew(statistics.median(offsets) if offsets else 0.0, len(offsets), self.clock())
        warning = skew.warning(self.threshold)
        if warning:
            log.warning(warning)
        with self._lock:
            self._last = skew
        return skew

    def current(self) -> Skew:
        """The last measurement, renewed once a minute."""
        with self._lock:
            last = self._last
        if last is None or self.clock() - last.measured_at > REMEASURE_SECONDS:
            return self.measure()
        return last

    def peer_time(self) -> float:
        """Now, by the peers' clocks: what a second-factor code is checked against."""
        return self.clock() - self.current().offset
