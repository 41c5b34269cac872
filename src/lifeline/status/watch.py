"""The node's watch (issue 23): runs the health probes (status/probes.py, status/synthetic.py)
every LIFELINE_PROBE_SECONDS in one background thread, and opens and resolves incidents by what
they find, so that an outage is on the status page before anyone has to type it.

- A probe that fails opens an incident (investigating) with the probe's title, components, impact
  and the figures it measured — unless one it opened is still open. The incident's first update
  is written by `probe:<key>`, which is how the watch finds its own incidents again, after a
  restart too; the public page calls that author "automatic".
- A probe that passes `RESOLVE_AFTER` runs in a row resolves the incident it opened, saying so in
  the timeline; operators may add updates in between (`lifeline incidents update`, the operator
  page), and may resolve it themselves.
- When the incident cannot be written (the database is what failed), it is held in memory and
  shown from there (status/board.py), and written when the database answers again, with the
  time it began.

Every probe's last result is kept, and published on `/metrics` (`lifeline_probe_ok`,
`lifeline_probe_seconds`, `lifeline_probe_failures_total`, by node and probe) by the process
that ran it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from prometheus_client import Counter, Gauge

from lifeline.clock import Clock, epoch_clock, system_clock
from lifeline.status.incidents import Incident, Update, instant, open_incident, open_incidents, update_incident
from lifeline.status.probes import Finding, Probe
from lifeline.storage.repository import Repository
from lifeline.telemetry import TELEMETRY

PROBE_OK = Gauge(
    "lifeline_probe_ok", "1 if the health probe passed at its last run here, 0 if it failed", ["node", "probe"],
    registry=TELEMETRY,
)  # fmt: skip
PROBE_SECONDS = Gauge(
    "lifeline_probe_seconds", "How long the health probe's last run here took", ["node", "probe"], registry=TELEMETRY
)
PROBE_FAILURES = Counter(
    "lifeline_probe_failures", "Runs of the health probe here that failed", ["node", "probe"], registry=TELEMETRY
)

log = logging.getLogger("lifeline.status")
RESOLVE_AFTER = 2  # passing runs in a row before an incident a probe opened is resolved
AUTHOR = "probe:"


@dataclass(frozen=True)
class Result:
    finding: Finding
    at: str  # when it was found (ISO 8601, UTC)
    seconds: float  # how long the probe took


def probe_key(incident: Incident) -> str | None:
    """The probe that opened `incident`, or None if an operator did."""
    first = incident.updates[0].author if incident.updates else ""
    return first[len(AUTHOR) :] if first.startswith(AUTHOR) else None


class Watch:
    def __init__(
        self,
        repo: Repository,
        probes: Sequence[Probe],
        *,
        every_seconds: float,
        clock: Clock = system_clock,
        on_change: Callable[[], None] = lambda: None,  # an incident opened or resolved: refresh the board
        claim: Callable[[int], bool] = lambda round_: True,  # whether this process runs round N
        node_id: str = "",
        streaks: Callable[[], dict[str, int]] | None = None,
        keep_streak: Callable[[dict[str, int]], None] | None = None,
    ) -> None:
        self.node_id = node_id
        # Passing runs in a row, shared by the node's server processes where they take turns
        # (web/watching.py keeps them in node_state); in this process alone otherwise.
        self.streaks, self.keep_streak = streaks, keep_streak
        self.repo, self.probes, self.every, self.clock = repo, list(probes), every_seconds, clock
        self.on_change = on_change
        self.claim = claim
        self.results: dict[str, Result] = {}
        self.passing: dict[str, int] = {}  # passing runs in a row, by probe
        self.unrecorded: dict[str, Incident] = {}  # opened while the database could not take them
        self.runs = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="lifeline-watch", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _loop(self) -> None:
        while not self._stop.wait(self.every):
            try:
                if self._claimed():
                    self.run_once()
            except Exception:  # noqa: BLE001 - the watch must outlive any one failure
                log.exception("the health probes could not run")

    def _claimed(self) -> bool:
        """Whether this process runs this round: with several server processes on one node, one
        of them per LIFELINE_PROBE_SECONDS (two synthetic logins at once would take the same
        second-factor step, and one would fail). When the claim cannot be written — the database
        is down — every process runs, to report it."""
        try:
            return self.claim(int(epoch_clock() // self.every))
        except Exception:  # noqa: BLE001 - see above
            return True

    def run_once(self) -> list[Finding]:
        """Run every probe now and act on what they found; returns the findings."""
        with self._lock:
            found: list[Finding] = []
            for probe in self.probes:
                started = time.perf_counter()
                try:
                    each = probe()
                except Exception as error:  # noqa: BLE001 - a probe that breaks is a finding too
                    log.exception("a health probe failed to run")
                    name = getattr(probe, "__qualname__", type(probe).__name__).split(".")[0]
                    text = f"The {name} probe could not run: {type(error).__name__}: {error}"
                    each = [Finding(f"probe-{name}", False, "A health probe could not run", ("record",), "minor", text)]
                seconds = time.perf_counter() - started
                at = instant(self.clock())
                for finding in each:
                    before = self.results.get(finding.key)
                    if before is None and not finding.ok or before is not None and before.finding.ok != finding.ok:
                        log.warning(
                            "health probe %s %s: %s", finding.key, "passes" if finding.ok else "fails", finding.detail
                        )
                    self.results[finding.key] = Result(finding, at, seconds)
                    PROBE_OK.labels(self.node_id, finding.key).set(1.0 if finding.ok else 0.0)
                    PROBE_SECONDS.labels(self.node_id, finding.key).set(seconds)
                    if not finding.ok:
                        PROBE_FAILURES.labels(self.node_id, finding.key).inc()
                found += each
            self.runs += 1
            self._reconcile(found)
            return found

    def _known_streaks(self) -> dict[str, int]:
        """The passing streaks the node's processes keep (one read); {} when they cannot be read."""
        try:
            return dict(self.streaks()) if self.streaks is not None else {}
        except Exception:  # noqa: BLE001 - the database may be what fails: count here then
            return {}

    def _keep_streaks(self) -> None:
        """The streaks, for the process that runs the next round: one write, after the round's
        incidents were dealt with (a database that cannot take writes delays nothing before)."""
        if self.keep_streak is None:
            return
        try:
            self.keep_streak(dict(self.passing))
        except Exception:  # noqa: BLE001 - as above
            log.warning("could not keep the probes' streaks", exc_info=True)

    def unrecorded_incidents(self) -> list[Incident]:
        return list(self.unrecorded.values())

    def _reconcile(self, found: list[Finding]) -> None:
        try:
            with self.repo.reading() as session:
                current = open_incidents(session)
        except Exception:  # noqa: BLE001 - the database is down: keep what fails in memory
            for finding in found:
                if not finding.ok and finding.key not in self.unrecorded:
                    self.unrecorded[finding.key] = self._held(finding)
                    self.on_change()
            return
        mine = {key: incident for incident in current if (key := probe_key(incident)) is not None}
        known = self._known_streaks()
        changed = False
        for finding in found:
            before = known.get(finding.key, self.passing.get(finding.key, 0))
            self.passing[finding.key] = before + 1 if finding.ok else 0
            held = self.unrecorded.pop(finding.key, None)
            incident = mine.get(finding.key)
            if incident is None and (not finding.ok or held is not None):
                # A new failure, or one held in memory while nothing could be written: on the record now.
                incident = self._open(finding, held)
                changed = True
            if incident is not None and finding.ok and self.passing[finding.key] >= RESOLVE_AFTER:
                update_incident(
                    self.repo,
                    incident.id,
                    status="resolved",
                    text=f"Resolved by itself: the check passes again. {finding.detail}",
                    author=AUTHOR + finding.key,
                    clock=self.clock,
                )
                log.warning("incident %s resolved by the %s probe", incident.id, finding.key)
                changed = True
        if changed:
            self.on_change()
        self._keep_streaks()

    def _held(self, finding: Finding) -> Incident:
        now = instant(self.clock())
        return Incident(
            id=f"unrecorded-{finding.key}",
            title=finding.title,
            impact=finding.impact,
            status="investigating",
            components=finding.components,
            began=now,
            updates=(Update(now, "investigating", finding.detail, AUTHOR + finding.key),),
        )

    def _open(self, finding: Finding, held: Incident | None) -> Incident | None:
        """The incident of a failing probe, written now (if it was held in memory, with the time it
        began); None, and held in memory, when it cannot be written."""
        clock = self.clock
        if held is not None:
            began = datetime.fromisoformat(held.began.replace("Z", "+00:00"))
            clock = lambda: began  # noqa: E731 - the held incident's own time
        try:
            made = open_incident(
                self.repo,
                title=finding.title,
                impact=finding.impact,
                components=list(finding.components),
                text=held.updates[0].text if held is not None else finding.detail,
                author=AUTHOR + finding.key,
                clock=clock,
            )
        except Exception:  # noqa: BLE001 - cannot be written now: held, shown, written later
            log.exception("the incident of the %s probe could not be written", finding.key)
            self.unrecorded[finding.key] = held or self._held(finding)
            return None
        log.warning("incident %s opened by the %s probe: %s", made.id, finding.key, made.updates[0].text)
        return made
