"""One clock, injectable, so that ETags, Last-Modified, token expiry and "today" can be fixed in tests.

Every module that reads the time takes a clock whose default comes from here: `system_clock` for
moments (versions, audit records), `epoch_clock` for seconds since 1970 (tokens, sessions, login
throttling, one-time codes), which is `system_clock` in seconds. A test fixes the time by handing
one fixed `Clock` to each part, through `epoch_of` where the part counts in seconds. Durations and
timeouts (caches, progress rates) are measured on a monotonic clock instead: a wall clock jumps.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, tzinfo
from zoneinfo import ZoneInfo

Clock = Callable[[], datetime]
EpochClock = Callable[[], float]  # seconds since 1970
# The region's own time zone: what "today" means on a page.
COPENHAGEN = ZoneInfo("Europe/Copenhagen")


def system_clock() -> datetime:
    return datetime.now(UTC)


def epoch_clock() -> float:
    """Now in seconds since 1970, read from `system_clock`."""
    return system_clock().timestamp()


def epoch_of(clock: Clock) -> EpochClock:
    """`clock` read in seconds since 1970, for the modules that count in seconds."""
    return lambda: clock().timestamp()


def today(clock: Clock = system_clock, tz: tzinfo = COPENHAGEN) -> date:
    """The date in `tz` (Danish time unless told): at 23:30 UTC it is already tomorrow there."""
    return clock().astimezone(tz).date()


def fhir_instant(moment: datetime) -> str:
    """Format an aware datetime as a FHIR instant with millisecond precision in UTC."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
