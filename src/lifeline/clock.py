"""An injectable clock, so that ETags, Last-Modified and "today" can be fixed in tests."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    return datetime.now(UTC)


def fhir_instant(moment: datetime) -> str:
    """Format an aware datetime as a FHIR instant with millisecond precision in UTC."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
