"""lifeline.clock: the one clock every module takes its default from, so one fixed clock drives them."""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

import lifeline
from lifeline import clock
from lifeline.audit import store
from lifeline.clock import epoch_clock, epoch_of, system_clock, today
from lifeline.identity import records, sites
from lifeline.identity.clock_skew import ClockSkew
from lifeline.identity.login import StaffLogin
from lifeline.identity.node import NodeIdentity
from lifeline.identity.sessions import Sessions
from lifeline.identity.throttle import LoginThrottle
from lifeline.identity.tokens import TokenVerifier, issue_token
from lifeline.identity.totp import verify_totp
from lifeline.replication.site import SiteNode
from lifeline.storage import migrate

SOURCE = Path(lifeline.__file__).parent
WALL_CLOCK = re.compile(r"\btime\.time\b|datetime\.now\(|\.utcnow\(|\bdate\.today\(|\btime\.(gm|local)time\(\)")
MEASURING = re.compile(r"\btime\.(monotonic|perf_counter)\b")
# Durations and timeouts: a monotonic clock, which no wall-clock jump disturbs.
MEASURES = {
    "access/care.py",
    "cli/main.py",
    "cli/generate.py",
    "generate/driver.py",
    "replication/status.py",
    "status/board.py",  # the status board's cache age
    "web/request_id.py",  # each request's duration, for its log line and latency histogram
    "status/watch.py",  # how long each health probe took
    "status/synthetic.py",  # how long the synthetic probe's login, read and search took
    "imaging/orthanc.py",  # how long Orthanc may take to start and to stop
    "demo/citizen_provider.py",  # how long the demo's identity provider may take to start
    "storage/sqlite.py",  # how long a reader's statement has run (the statement time limit)
    "storage/postgres.py",  # when this process last analyzed a table; how long a failed replica is left alone
    "storage/repository.py",  # when this process last read the database's packing switch
    "web/admission.py",  # how long a credential's class is kept; how long /readyz says "shedding"
    "web/rate_limits.py",  # how long a process counts in memory after Redis failed
    "audit/recorder.py",  # how long since the writes' records last moved into the chain
}


def _fixed(moment: datetime) -> Callable[[], datetime]:
    return lambda: moment


def _files_matching(pattern: re.Pattern[str]) -> set[str]:
    return {
        path.relative_to(SOURCE).as_posix() for path in SOURCE.rglob("*.py") if pattern.search(path.read_text("utf-8"))
    }


def test_only_the_clock_reads_the_wall_clock() -> None:
    assert _files_matching(WALL_CLOCK) - {"clock.py"} == set()


def test_monotonic_clocks_only_measure_durations() -> None:
    assert _files_matching(MEASURING) <= MEASURES


@pytest.mark.parametrize(
    ("takes_a_clock", "default"),
    [
        (Sessions, epoch_clock),
        (issue_token, epoch_clock),
        (TokenVerifier, epoch_clock),
        (ClockSkew, epoch_clock),
        (StaffLogin, epoch_clock),
        (LoginThrottle, epoch_clock),
        (verify_totp, epoch_clock),
        (NodeIdentity, epoch_clock),
        (SiteNode, epoch_clock),
        (records.put_record, system_clock),
        (sites.add_site, system_clock),
        (store.append, system_clock),
        (store.append_in, system_clock),
        (migrate.apply_pending, system_clock),
    ],
)
def test_the_modules_default_to_the_clock(takes_a_clock: Any, default: Any) -> None:
    assert inspect.signature(takes_a_clock).parameters["clock"].default is default


def test_epoch_clock_reads_the_system_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    moment = datetime(2026, 11, 22, 8, 0, 30, tzinfo=UTC)
    monkeypatch.setattr(clock, "system_clock", _fixed(moment))
    assert epoch_clock() == moment.timestamp()


def test_a_fixed_clock_counts_in_seconds_too() -> None:
    moment = datetime(2026, 11, 22, 8, 0, 30, tzinfo=UTC)
    assert epoch_of(_fixed(moment))() == moment.timestamp() == 1795334430.0


@pytest.mark.parametrize(
    ("utc", "danish"),
    [
        (datetime(2026, 11, 22, 22, 59, tzinfo=UTC), date(2026, 11, 22)),  # 23:59 in Copenhagen
        (datetime(2026, 11, 22, 23, 0, tzinfo=UTC), date(2026, 11, 23)),  # midnight there, winter time
        (datetime(2026, 6, 30, 22, 30, tzinfo=UTC), date(2026, 7, 1)),  # summer time: two hours ahead
        (datetime(2026, 12, 31, 23, 30, tzinfo=UTC), date(2027, 1, 1)),  # a new year before London's
    ],
)
def test_today_is_the_date_in_copenhagen(utc: datetime, danish: date) -> None:
    assert today(_fixed(utc)) == danish


def test_today_in_another_zone() -> None:
    assert today(_fixed(datetime(2026, 11, 22, 23, 30, tzinfo=UTC)), UTC) == date(2026, 11, 22)
