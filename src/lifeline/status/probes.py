"""A node's health probes (issue 23): each looks at one thing that fails in an outage and says
whether it is well, in a `Finding` that names the incident it would open.

- `database`: the record's database answers a read (else: critical, every service is down);
- `login_failures`: failed logins on this node's audit chain over the last five minutes stay
  under LIFELINE_LOGIN_FAILURES_ALARM (a login service failing, or an attack on it);
- `centre` and `replication_stall` (a site): the site reaches the centre, and its copy is not
  behind for longer than LIFELINE_REPLICATION_STALL_SECONDS;
- `silent_sites` (the centre): each registered site was heard from (its replication calls) within
  LIFELINE_SITE_SILENT_SECONDS;
- `clock`: this node's clock is within LIFELINE_CLOCK_SKEW_SECONDS of its peers'
  (identity/clock_skew.py);
- the synthetic probe (status/synthetic.py): a real staff login, read and search.

A probe is a function of plain inputs, so that each can be driven in a test; status/watch.py runs
them every LIFELINE_PROBE_SECONDS and opens or resolves incidents by what they find.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta

from lifeline.audit.store import instant
from lifeline.clock import Clock, system_clock
from lifeline.identity.clock_skew import ClockSkew
from lifeline.status.components import REPLICATION, SERVICES
from lifeline.storage.repository import Repository

LOGIN_WINDOW_MINUTES = 5


@dataclass(frozen=True)
class Finding:
    """What one probe found. When it is not `ok`, `title`, `components` and `impact` are those of
    the incident it opens; `detail` (the figures measured, in words) is the incident's first text
    and the probe's line in `lifeline probe run`."""

    key: str  # database, login-failures, centre, replication-stall, site:<id>, clock, synthetic
    ok: bool
    title: str
    components: tuple[str, ...]
    impact: str
    detail: str


Probe = Callable[[], list[Finding]]


def database(repo: Repository) -> Probe:
    def probe() -> list[Finding]:
        try:
            with repo.reading() as session:
                session.open_conflict_count()
        except Exception as error:  # noqa: BLE001 - any failure to read is what this probe reports
            return [_database(False, f"The database did not answer a read: {_reason(error)}")]
        return [_database(True, "The database answers.")]

    return probe


def _database(ok: bool, detail: str) -> Finding:
    return Finding("database", ok, "The record's database cannot be reached", tuple(SERVICES), "critical", detail)


def login_failures(repo: Repository, node_id: str, alarm: int, clock: Clock = system_clock) -> Probe:
    def probe() -> list[Finding]:
        since = instant(clock() - timedelta(minutes=LOGIN_WINDOW_MINUTES))
        with repo.reading() as session:
            failed = session.failed_logins_since(node_id, since, alarm + 1)
        ok = failed <= alarm
        counted = f"more than {alarm}" if failed > alarm else str(failed)
        return [
            Finding(
                "login-failures",
                ok,
                "Many logins are failing",
                ("staff-login", "patient-login"),
                "major",
                f"{counted} failed logins in the last {LOGIN_WINDOW_MINUTES} minutes (alarm above {alarm}).",
            )
        ]

    return probe


def centre(status: Callable[[], Mapping[str, object]], stall_seconds: int) -> Probe:
    """A site: cut off from the centre, or its copy of the record stalled behind it."""

    def probe() -> list[Finding]:
        now = status()
        mode = str(now.get("mode", "connected"))
        lag = now.get("lagSeconds")
        cut_off = Finding(
            "centre",
            mode != "continuity",
            "Cut off from the regional centre: this hospital works on its own copy",
            (REPLICATION,),
            "major",
            f"Mode {mode}; the centre last reached {now.get('centralLastReached') or 'never'}"
            + (f"; {now['lastError']}" if now.get("lastError") else "")
            + ".",
        )
        stalled = mode == "connected" and isinstance(lag, int | float) and lag > stall_seconds
        behind = Finding(
            "replication-stall",
            not stalled,
            "Changes from the centre are arriving late",
            (REPLICATION,),
            "minor",
            f"{lag if lag is not None else 'unknown'} s behind the centre, {now.get('behind', 0)} changes"
            f" waiting (alarm above {stall_seconds} s).",
        )
        return [cut_off, behind]

    return probe


def silent_sites(
    heard: Callable[[Sequence[str]], Mapping[str, float]],
    sites: Callable[[], Sequence[str]],
    silent_seconds: int,
    clock: Callable[[], float],
    since: float,
) -> Probe:
    """The centre: every registered site heard from within `silent_seconds` of `clock` (epoch
    seconds; `heard` gives each site's last call, `since` when this process began listening)."""

    def probe() -> list[Finding]:
        registered = list(sites())
        now, last = clock(), heard(registered)
        found = []
        for site in registered:
            seen = last.get(site)
            quiet = now - (seen if seen is not None else since)
            found.append(
                Finding(
                    f"site:{site}",
                    quiet <= silent_seconds,
                    f"No word from the {site} site node",
                    (f"{REPLICATION}:{site}",),
                    "major",
                    f"Last heard {round(quiet)} s ago" if seen is not None else f"Not heard for {round(quiet)} s",
                )
            )
        return found

    return probe


def clock(skew: ClockSkew, threshold: int) -> Probe:
    def probe() -> list[Finding]:
        measured = skew.measure()
        off = abs(measured.offset)
        direction = "ahead of" if measured.offset > 0 else "behind"
        detail = (
            f"No peer answered to compare clocks with ({len(skew.peers)} known)."
            if measured.peers == 0
            else f"This node's clock is {off:.0f} s {direction} its {measured.peers} peers'"
            f" (alarm above {threshold} s)."
        )
        return [
            Finding(
                "clock",
                measured.peers == 0 or off <= threshold,
                "This node's clock is wrong",
                ("staff-login",),
                "minor",
                detail,
            )
        ]

    return probe


def _reason(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0]}" if text else type(error).__name__
