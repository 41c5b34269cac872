"""Hospital site nodes (issue 7): how fast a site builds its replica, how far behind it runs while
the centre takes writes, how fast it switches to continuity when the network is cut, and how
fast it catches up afterwards.

A real region, as the fault-injection suite builds it (tests/replication/region.py): a central
node on PostgreSQL and one site (SQLite; `--sites sqlite,postgresql` adds a run with a
PostgreSQL site), each a separate `lifeline serve` process, the site reaching the centre through a
fault-injecting proxy (tests/replication/fault_proxy.py). The site runs with the shipped
replication settings (poll, timeout, failures before continuity) unless told otherwise, so the
figures are those a hospital would see, not those of the tests' faster settings.

1. **Replica build**: a generated region imported at the centre; a fresh site started; the time
   until its position reaches the centre's head, as versions per second. In the same run, the
   floor: the centre's database paging the same feed in process (`Repository.changes_after`, and
   `feed_page` with its JSON), and the site's store applying the same pages in process
   (`apply.apply_changes`), so the ratio says what HTTP and the loop cost on top.
2. **Lag under load**: paced writers create Observations at the centre (default 200/s); for a
   sample of them, the time from the centre's 201 to the row being in the site's database
   (queried directly, so the measurement adds no audited reads to the site).
3. **Switch-over**: a clinician's client (the suite's `Ward`) and paced writers at the site, the
   proxy cut (reset, then blackhole); the time until the site's /status.json says continuity,
   polled every 20 ms; and whether any read or write of the clients failed.
4. **Catch-up**: a cut of `--cut-minutes` while writers create Observations at the site (default
   200/s), then heal; the time until the site is connected with nothing pending and nothing
   behind, and then that the centre holds every confirmed write (`missing_at`).
5. Optionally (`--healing-seconds N`), **healing while writing**: a shorter cut
   (`--healing-cut-seconds`), then heal while the writers at the site go on, as a ward would:
   when does the site get back to connected, and how long do its writes wait meanwhile?

Usage: python -m bench.replication [--patients 200] [--load-seconds 30] [--cut-minutes 2]
       [--sites sqlite[,postgresql]] [--healing-seconds 0]
Results are printed and written to var/bench/replication-<time>.json; docs/benchmarks.md records
them. This is a measurement, not a test: nothing asserts a time.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import queue
import shutil
import signal
import sqlite3
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

import httpx
import orjson
import psycopg
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table
from tests.conftest import database_url, dispose
from tests.replication.region import Node, Region, Ward, missing_at, patients_of

from bench.__main__ import PG_URL, _machine
from bench.auth import settings as bench_settings
from bench.service import BenchService
from lifeline.config import Settings
from lifeline.identity import sites
from lifeline.replication import apply
from lifeline.replication.feed import feed_page
from lifeline.storage import open_repository

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "var" / "bench"
# A log file or a pipe gets the table at full width (rich would fold it to 80 columns).
console = Console(width=None if sys.stdout.isatty() else 150)

# The targets (issue 7).
LAG_P99_TARGET_S = 2.0
SWITCH_TARGET_S = 5.0
CATCH_UP_TARGET_S = 60.0
SCENARIO_CUT_MINUTES = 10
SCENARIO_RATE = 200.0

# How often each wait looks again; every wait also has a deadline.
STATUS_POLL_S = 0.02  # switch-over: the status is read every 20 ms
PRESENCE_POLL_S = 0.01  # lag: one query for every sampled write not yet seen at the site
WAIT_POLL_S = 0.1
FEED_PAGE = 1000  # what a site asks for (replication/site.py _PULL_PAGE)
OBSERVATION_CODE = {"system": "http://loinc.org", "code": "8310-5", "display": "Body temperature"}


def _defaults() -> dict[str, Any]:
    """The shipped defaults of the settings this benchmark passes to its sites."""
    return {f.name: f.default for f in fields(Settings)}


# --------------------------------------------------------------------------------------------
# Load: paced writers, and finding their writes at another node.


@dataclass
class PacedWriters:
    """Threads that create Observations at `rate` per second in total, on a fixed schedule (write
    n is due at start + n / rate), so a slow answer does not lower the offered rate: a writer that
    falls behind sends its next write at once. Keeps every confirmed write (id -> value, for
    `missing_at`), every failure, every answer's latency, and every `sample_every`-th write's id
    with the moment its 201 arrived (for the lag measurement)."""

    base: str
    token: str
    patients: list[str]
    rate: float
    threads: int
    sample_every: int = 0
    confirmed: dict[str, float] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    samples: queue.SimpleQueue[tuple[str, float]] = field(default_factory=queue.SimpleQueue)
    started: float = 0.0
    ended: float = 0.0
    _next: int = 0
    _deadline: float = math.inf
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _stop: threading.Event = field(default_factory=threading.Event)
    _workers: list[threading.Thread] = field(default_factory=list)

    def start(self, seconds: float | None = None) -> PacedWriters:
        self.started = time.monotonic()
        self._deadline = math.inf if seconds is None else self.started + seconds
        for n in range(self.threads):
            worker = threading.Thread(target=self._run, name=f"bench-writer-{n}", daemon=True)
            worker.start()
            self._workers.append(worker)
        return self

    def stop(self) -> None:
        """Stop sending (writes in flight finish; each has the client's 10 s timeout)."""
        self._stop.set()
        for worker in self._workers:
            worker.join(30)
        self.ended = self.ended or time.monotonic()

    def join(self) -> None:
        """Wait for a run started with `seconds` to end by itself."""
        for worker in self._workers:
            while worker.is_alive():
                worker.join(0.5)
        self.ended = time.monotonic()

    @property
    def done(self) -> bool:
        return all(not w.is_alive() for w in self._workers)

    @property
    def written(self) -> int:
        return len(self.confirmed)

    @property
    def achieved_rate(self) -> float:
        end = self.ended or time.monotonic()
        return len(self.confirmed) / max(end - self.started, 1e-9)

    def _ticket(self) -> int:
        with self._lock:
            self._next += 1
            return self._next

    def _run(self) -> None:
        headers = {"authorization": f"Bearer {self.token}", "content-type": "application/fhir+json"}
        with httpx.Client(base_url=f"{self.base}/fhir", headers=headers, timeout=10) as http:
            while not self._stop.is_set():
                n = self._ticket()
                due = self.started + (n - 1) / self.rate
                if due >= self._deadline:
                    return
                wait = due - time.monotonic()
                if wait > 0 and self._stop.wait(wait):
                    return
                self._write(http, n)

    def _write(self, http: httpx.Client, n: int) -> None:
        value = round(35 + (n % 61) / 10, 1)  # missing_at compares the value written
        body = {
            "resourceType": "Observation",
            "status": "final",
            "code": {"coding": [OBSERVATION_CODE]},
            "subject": {"reference": f"Patient/{self.patients[n % len(self.patients)]}"},
            "valueQuantity": {"value": value, "unit": "Cel", "system": "http://unitsofmeasure.org", "code": "Cel"},
        }
        sent = time.monotonic()
        try:
            answer = http.post("/Observation", content=orjson.dumps(body))
        except httpx.HTTPError as error:
            with self._lock:
                self.failures.append(repr(error))
            return
        answered = time.monotonic()
        if answer.status_code != 201:
            with self._lock:
                self.failures.append(f"{answer.status_code} {answer.text[:200]}")
            return
        res_id = str(answer.json()["id"])
        with self._lock:
            self.confirmed[res_id] = value
            self.latencies.append(answered - sent)
        if self.sample_every and n % self.sample_every == 0:
            self.samples.put((res_id, answered))


class Presence:
    """Which of some Observations a node's database holds, asked of the database directly (a read
    through the site's API would add an audited access, and its audit record, per probe)."""

    def __init__(self, db: str) -> None:
        self._sqlite: sqlite3.Connection | None = None
        self._pg: psycopg.Connection[Any] | None = None
        if db.startswith("sqlite:///"):
            self._sqlite = sqlite3.connect(db[len("sqlite:///") :], timeout=5, check_same_thread=False)
            self._sqlite.execute("PRAGMA query_only = 1")
        else:
            conninfo, _, schema = db.partition("?schema=")
            self._pg = psycopg.connect(conninfo, autocommit=True)
            self._pg.execute(f'SET search_path TO "{schema}"')

    def present(self, ids: list[str]) -> set[str]:
        found: set[str] = set()
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            if self._sqlite is not None:
                marks = ",".join("?" * len(chunk))
                sql = f"SELECT res_id FROM resource WHERE res_type = 'Observation' AND res_id IN ({marks})"
                found.update(r[0] for r in self._sqlite.execute(sql, chunk))
            elif self._pg is not None:
                sql = "SELECT res_id FROM resource WHERE res_type = 'Observation' AND res_id = ANY(%s)"
                found.update(r[0] for r in self._pg.execute(sql, (chunk,)))
        return found

    def close(self) -> None:
        if self._sqlite is not None:
            self._sqlite.close()
        if self._pg is not None:
            self._pg.close()


class LagWatcher:
    """Takes the writers' samples as they come and probes the site's database for them every
    10 ms; a sample's lag is from the centre's 201 to the first probe that found it (so it
    includes up to one probe interval and the probe itself: an upper bound)."""

    def __init__(self, presence: Presence, samples: queue.SimpleQueue[tuple[str, float]]) -> None:
        self.presence = presence
        self.samples = samples
        self.lags: list[float] = []
        self.pending: dict[str, float] = {}
        self._stop = threading.Event()
        self._closing = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-lag", daemon=True)

    def start(self) -> LagWatcher:
        self._thread.start()
        return self

    def finish(self, timeout: float) -> None:
        """Wait (bounded) for every sample still pending to show up, then stop."""
        self._closing.set()
        deadline = time.monotonic() + timeout
        while self._thread.is_alive() and time.monotonic() < deadline:
            self._thread.join(0.2)
        self._stop.set()
        self._thread.join(5)

    def _drain(self) -> None:
        with suppress(queue.Empty):
            while True:
                res_id, answered = self.samples.get_nowait()
                self.pending[res_id] = answered

    def _run(self) -> None:
        while not self._stop.is_set():
            self._drain()
            if self.pending:
                try:
                    found = self.presence.present(list(self.pending))
                except (sqlite3.Error, psycopg.Error):
                    found = set()  # the site's database busy for longer than the probe waits: next probe
                seen = time.monotonic()
                for res_id in found:
                    self.lags.append(seen - self.pending.pop(res_id))
            elif self._closing.is_set():
                return
            self._stop.wait(PRESENCE_POLL_S)


# --------------------------------------------------------------------------------------------
# Small helpers.


def _status(node: Node) -> dict[str, Any] | None:
    """A node's /status.json, or None if it did not answer (the site is busy, or restarting)."""
    try:
        answer: dict[str, Any] = httpx.get(f"{node.url}/status.json", timeout=5).json()
        return answer
    except (httpx.HTTPError, ValueError):
        return None


def _wait_status(
    node: Node, done: Callable[[dict[str, Any]], bool], timeout: float, interval: float = WAIT_POLL_S
) -> tuple[float | None, dict[str, Any] | None]:
    """Poll a node's status until `done` holds; seconds waited (None on timeout), last status."""
    started = time.monotonic()
    last: dict[str, Any] | None = None
    while time.monotonic() - started < timeout:
        status = _status(node)
        if status is not None:
            last = status
            if done(status):
                return time.monotonic() - started, status
        time.sleep(interval)
    return None, last


def _settled(status: dict[str, Any]) -> bool:
    return status["mode"] == "connected" and not status["pendingLocalChanges"] and not status["behind"]


def _percentile(values: list[float], p: float) -> float | None:
    """Nearest-rank percentile (None for no values)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, math.ceil(p / 100 * len(ordered)) - 1))]


def _latency_summary(latencies: list[float]) -> dict[str, float | None]:
    return {
        "p50_ms": _ms(_percentile(latencies, 50)),
        "p99_ms": _ms(_percentile(latencies, 99)),
        "max_ms": _ms(max(latencies) if latencies else None),
    }


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 1)


def _versions_at(db: str) -> int:
    """Every version a PostgreSQL node holds: the head its change feed will reach once numbered
    (the numbering is gap-free, storage/sequencing.py)."""
    conninfo, _, schema = db.partition("?schema=")
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f'SET search_path TO "{schema}"')
        row = conn.execute("SELECT count(*) FROM resource_version").fetchone()
    return int(row[0]) if row else 0


def _load() -> list[float]:
    """The machine's load average: a run that shared the machine says so in its results."""
    return [round(x, 2) for x in os.getloadavg()]


@contextmanager
def _launch_times() -> Iterator[dict[str, float]]:
    """When each node's process was launched (Region.add_site starts the site and waits for it
    to answer; the replica build is timed from the launch)."""
    launched: dict[str, float] = {}
    original = Node.start

    def start(node: Node) -> None:
        launched[node.name] = time.monotonic()
        original(node)

    Node.start = start  # type: ignore[method-assign,assignment]
    try:
        yield launched
    finally:
        Node.start = original  # type: ignore[method-assign]


def _progress() -> Progress:
    return Progress(
        SpinnerColumn(),
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[note]}"),
        console=console,
    )


# --------------------------------------------------------------------------------------------
# 1. Replica build, and its floor.


def measure_build(region: Region, site_id: str, site_db: str, args: argparse.Namespace) -> tuple[Node, dict[str, Any]]:
    """Start a fresh site and time its replica build, from the process launch and from the moment
    it answers (its replication loop starts with the server, just before it answers)."""
    with _launch_times() as launched:
        site = region.add_site(
            site_id,
            site_db,
            LIFELINE_REPLICATION_POLL_MS=str(args.poll_ms),
            LIFELINE_CENTRAL_TIMEOUT_MS=str(args.central_timeout_ms),
            LIFELINE_CONTINUITY_AFTER_FAILURES=str(args.failures),
        )
    answering = time.monotonic()
    # Not the centre's /status.json position: on PostgreSQL that is the change counter, which
    # moves only when a site reads the feed (the feed numbers committed versions first).
    head = _versions_at(region.central.db)
    timeout = 600 + head / 100  # bounded; far above any plausible build time
    with _progress() as progress:
        task = progress.add_task("replica build", total=head, note="")
        deadline = time.monotonic() + timeout
        position = 0
        while time.monotonic() < deadline:
            status = _status(site)
            if status is not None:
                position = int(status["position"])
                progress.update(task, completed=min(position, head), note=f"mode {status['mode']}")
                if position >= head:
                    break
            time.sleep(0.05)
        else:
            raise RuntimeError(f"the site did not reach the centre's head {head} in {timeout:.0f} s (at {position})")
    done = time.monotonic()
    launch = launched[site_id]
    # Everything the centre sent the site through its proxy (feed pages, back-fills, answers to
    # pushes), to compare with the size of the feed itself (the floor below).
    received = region.proxies[site_id].stats.bytes_to_client
    result = {
        "versions": head,
        "bytes_from_centre": received,
        "startup_s": round(answering - launch, 2),
        "seconds_from_launch": round(done - launch, 2),
        "seconds_from_answering": round(done - answering, 2),
        "versions_per_s": round(head / (done - launch), 1),
        "versions_per_s_after_start": round(head / max(done - answering, 1e-9), 1),
    }
    return site, result


def measure_floor(central_db: str, site_id: str, site_backend: str, folder: Path, head: int) -> dict[str, Any]:
    """How fast, in process: the centre's database pages the feed (changes_after alone, then
    feed_page with its JSON, which is what the centre serves), and a fresh site store applies the
    same pages (apply_changes, which is what the site does with each page)."""
    repo = open_repository(central_db)
    central = BenchService(repo, bench_settings(central_db), trail="off")
    member = sites.get_site(repo, site_id)
    assert member is not None, f"the centre does not know site {site_id}"
    try:
        started = time.perf_counter()
        after, count = 0, 0
        while after < head:
            versions = repo.changes_after(after, FEED_PAGE)
            if not versions:
                break
            after, count = int(versions[-1].change_seq or after), count + len(versions)
        changes_s = time.perf_counter() - started
        started = time.perf_counter()
        pages: list[bytes] = []
        after = 0
        while after < head:
            page = feed_page(central, member, after, FEED_PAGE)
            last = int(orjson.loads(page)["last"])
            if last <= after:
                break
            pages.append(page)
            after = last
        feed_s = time.perf_counter() - started
    finally:
        repo.close()
    url = f"sqlite:///{folder / 'apply-floor.db'}" if site_backend == "sqlite" else database_url("postgresql", folder)
    site_repo = open_repository(url, node_id="apply-floor")
    try:
        site_repo.migrate()
        service = BenchService(site_repo, bench_settings(url, node_id="apply-floor"), trail="off")
        service.registry  # noqa: B018 - load the search parameters before timing
        applied = 0.0
        for page in pages:
            parsed = orjson.loads(page)  # parsed outside the timing, as the site's client does
            started = time.perf_counter()
            referred = apply.apply_changes(service, parsed["changes"], int(parsed["last"]))
            apply.missing_patients(service, referred)  # the site asks this after every page too
            applied += time.perf_counter() - started
    finally:
        dispose(site_repo)
    return {
        "versions": count,
        "changes_after_per_s": round(count / changes_s, 1),
        "feed_page_per_s": round(count / feed_s, 1),
        "apply_per_s": round(count / applied, 1),
        # Paging then applying, one after the other, as the site's loop does.
        "serial_per_s": round(count / (feed_s + applied), 1),
        "feed_bytes": sum(len(page) for page in pages),
    }


# --------------------------------------------------------------------------------------------
# 2. Lag under load.


def measure_lag(
    region: Region, site: Node, token: str, patients: list[str], args: argparse.Namespace
) -> dict[str, Any]:
    """Writes at the centre, found at the site: the data age a clinician at the site sees (the
    site's own lagSeconds is coarser: it says when the site last caught up, not per write)."""
    writers = PacedWriters(
        region.central.url, token, patients, rate=args.rate, threads=args.threads, sample_every=args.sample_every
    )
    presence = Presence(site.db)
    watcher = LagWatcher(presence, writers.samples).start()
    most_behind, highest_lag = 0, 0.0
    try:
        writers.start(args.load_seconds)
        with _progress() as progress:
            task = progress.add_task("lag under load", total=args.load_seconds, note="")
            while not writers.done:
                status = _status(site)
                if status is not None:
                    most_behind = max(most_behind, int(status.get("behind") or 0))
                    highest_lag = max(highest_lag, float(status.get("lagSeconds") or 0))
                elapsed = time.monotonic() - writers.started
                note = f"{writers.written} written, {len(watcher.lags)} seen at the site, behind {most_behind} max"
                progress.update(task, completed=min(elapsed, args.load_seconds), note=note)
                time.sleep(0.25)
        writers.join()
        watcher.finish(timeout=60)
    finally:
        writers.stop()
        watcher.finish(timeout=0)
        presence.close()
    lags = watcher.lags
    p99 = _percentile(lags, 99)
    return {
        "offered_rate": args.rate,
        "seconds": round(writers.ended - writers.started, 2),
        "writes": writers.written,
        "achieved_rate": round(writers.achieved_rate, 1),
        "write_failures": len(writers.failures),
        "first_failures": writers.failures[:3],
        "write_latency": _latency_summary(writers.latencies),
        "samples": len(lags) + len(watcher.pending),
        "samples_not_seen_in_60s": len(watcher.pending),
        "lag_p50_s": _round(_percentile(lags, 50)),
        "lag_p95_s": _round(_percentile(lags, 95)),
        "lag_p99_s": _round(p99),
        "lag_max_s": _round(max(lags) if lags else None),
        "status_most_behind": most_behind,
        "status_highest_lag_s": highest_lag,
        "met": p99 is not None and p99 < LAG_P99_TARGET_S and not watcher.pending,
    }


def _round(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)


# --------------------------------------------------------------------------------------------
# 3. Switch-over to continuity.


def measure_switch(
    region: Region, site: Node, site_id: str, token: str, patients: list[str], args: argparse.Namespace
) -> list[dict[str, Any]]:
    """Cut, time the switch, keep working in continuity for a moment, heal, wait until settled:
    `--switch-repeats` times for each way of cutting. Each repetition has its own clients, so
    their failures are that repetition's."""
    proxy = region.proxies[site_id]
    runs: list[dict[str, Any]] = []
    with _progress() as progress:
        task = progress.add_task("switch-over", total=2 * args.switch_repeats, note="")
        for mode in ("reset", "blackhole"):
            for repeat in range(args.switch_repeats):
                progress.update(task, note=f"{mode} #{repeat + 1}")
                runs.append(_one_switch(proxy, site, region, token, patients, mode, args))
                progress.advance(task)
                last = runs[-1]
                switched = "never" if last["switch_s"] is None else f"{last['switch_s']:.2f} s"
                progress.console.log(
                    f"{mode} #{repeat + 1}: continuity after {switched}; failures {last['failures']}; "
                    f"healed in {last['heal_s']} s"
                )
    return runs


def _one_switch(
    proxy: Any, site: Node, region: Region, token: str, patients: list[str], mode: str, args: argparse.Namespace
) -> dict[str, Any]:
    waited, status = _wait_status(site, _settled, 120)
    if waited is None:
        raise RuntimeError(f"the site did not settle before a cut: {status}")
    ward = Ward(site.url, token, patients)
    writers = PacedWriters(site.url, token, patients, rate=args.switch_rate, threads=4)
    ward.start()
    writers.start()
    try:
        time.sleep(2)  # both clients are working, through the centre (connected: write-through)
        cut_at = time.monotonic()
        proxy.cut(mode)
        switch, status = _wait_status(site, lambda s: s["mode"] == "continuity", 30, STATUS_POLL_S)
        time.sleep(2)  # working in continuity
        proxy.heal()
        heal, _ = _wait_status(site, _settled, 300)
        latencies = list(writers.latencies)  # every write of this repetition, before and after the cut
    finally:
        proxy.heal()
        ward.stop()
        writers.stop()
    confirmed = {**ward.confirmed, **writers.confirmed}
    lost = missing_at(region.central.db, confirmed) if heal is not None else sorted(confirmed)
    return {
        "cut": mode,
        "switch_s": _round(switch),
        "met": switch is not None and switch < SWITCH_TARGET_S,
        "mode_seen": None if status is None else status["mode"],
        "reads": ward.reads,
        "writes": len(confirmed),
        "failures": len(ward.read_failures) + len(ward.write_failures) + len(writers.failures),
        "first_failures": (ward.read_failures + ward.write_failures + writers.failures)[:3],
        "longest_write_s": _round(max(latencies) if latencies else None),
        "heal_s": _round(heal, 2),
        "lost_at_centre": len(lost),
        "cut_to_heal_s": round(time.monotonic() - cut_at, 2),
    }


# --------------------------------------------------------------------------------------------
# 4. Catch-up after a cut.


def measure_catch_up(
    region: Region, site: Node, site_id: str, token: str, patients: list[str], args: argparse.Namespace
) -> dict[str, Any]:
    """A cut with the site writing on its own, then heal with the writers stopped, so the time
    is that of replaying a fixed backlog: pushing the outbox (`push_s`), then pulling the centre's
    feed up to its head (which brings the site's own writes back, as the centre stamped them)."""
    proxy = region.proxies[site_id]
    waited, status = _wait_status(site, _settled, 300)
    if waited is None:
        raise RuntimeError(f"the site did not settle before the cut: {status}")
    cut_seconds = args.cut_minutes * 60
    writers = PacedWriters(site.url, token, patients, rate=args.rate, threads=args.threads)
    proxy.cut("reset")
    try:
        writers.start(cut_seconds)
        with _progress() as progress:
            task = progress.add_task(f"cut for {args.cut_minutes:g} min, writing", total=cut_seconds, note="")
            while not writers.done:
                elapsed = time.monotonic() - writers.started
                note = f"{writers.written} written ({writers.achieved_rate:.0f}/s), {len(writers.failures)} failed"
                progress.update(task, completed=min(elapsed, cut_seconds), note=note)
                time.sleep(0.5)
        writers.join()
    finally:
        writers.stop()
    before = _status(site) or {}
    pending = int(before.get("pendingLocalChanges") or 0)
    position_before = int(before.get("position") or 0)
    proxy.heal()
    healed = time.monotonic()
    timeout = 600 + 2 * cut_seconds
    pushed_at: float | None = None
    done_at: float | None = None
    last: dict[str, Any] = before
    modes: dict[str, int] = {}  # status polls per mode seen while catching up
    errors: list[str] = []  # the site's lastError values seen meanwhile (a push timing out, say)
    with _progress() as progress:
        task = progress.add_task("catch-up", total=max(pending, 1), note="")
        while time.monotonic() - healed < timeout:
            status = _status(site)
            if status is not None:
                last = status
                modes[status["mode"]] = modes.get(status["mode"], 0) + 1
                if status.get("lastError") and len(errors) < 5 and status["lastError"] not in errors:
                    errors.append(status["lastError"])
                left = int(status["pendingLocalChanges"])
                if pushed_at is None and left == 0:
                    pushed_at = time.monotonic()
                progress.update(
                    task,
                    completed=pending - left,
                    note=f"{status['mode']}, {left} to push, {status['behind']} behind",
                )
                if _settled(status):
                    done_at = time.monotonic()
                    break
            time.sleep(WAIT_POLL_S)
    seconds = None if done_at is None else done_at - healed
    with console.status(f"checking that the centre holds all {writers.written} confirmed writes"):
        lost = missing_at(region.central.db, writers.confirmed)
    rate = None if seconds is None else pending / seconds
    result: dict[str, Any] = {
        "cut_minutes": args.cut_minutes,
        "offered_rate": args.rate,
        "writes": writers.written,
        "achieved_rate": round(writers.achieved_rate, 1),
        "write_failures": len(writers.failures),
        "first_failures": writers.failures[:3],
        "write_latency": _latency_summary(writers.latencies),
        "pending_at_heal": pending,
        "push_s": _round(None if pushed_at is None else pushed_at - healed, 2),
        "catch_up_s": _round(seconds, 2),
        "pulled_back": int(last.get("position") or 0) - position_before,
        "replayed_per_s": _round(rate, 1),
        "lost_at_centre": len(lost),
        "modes_seen": modes,
        "errors_seen": errors,
        "last_status": last,
    }
    scenario_writes = int(SCENARIO_RATE * SCENARIO_CUT_MINUTES * 60)
    if rate:
        projected = scenario_writes / rate
        result["scenario_writes"] = scenario_writes
        result["scenario_projected_s"] = round(projected, 1)
        result["extrapolated"] = not (args.cut_minutes >= SCENARIO_CUT_MINUTES and pending >= 0.95 * scenario_writes)
        measured = seconds if not result["extrapolated"] else projected
        result["met"] = measured is not None and measured < CATCH_UP_TARGET_S and not lost
    else:
        result["met"] = False
    return result


def measure_healing_under_load(
    region: Region, site: Node, site_id: str, token: str, patients: list[str], args: argparse.Namespace
) -> dict[str, Any]:
    """Optional (`--healing-seconds`): a short cut, then heal while the writers at the site go on
    at the same rate, as a ward would. Does the site get back to connected while writes continue,
    and how long after they stop does it settle?"""
    proxy = region.proxies[site_id]
    waited, status = _wait_status(site, _settled, 300)
    if waited is None:
        raise RuntimeError(f"the site did not settle before the cut: {status}")
    writers = PacedWriters(site.url, token, patients, rate=args.rate, threads=args.threads)
    proxy.cut("reset")
    connected_after: float | None = None
    modes: dict[str, int] = {}
    try:
        writers.start()
        time.sleep(args.healing_cut_seconds)
        pending = int((_status(site) or {}).get("pendingLocalChanges") or 0)
        written_at_heal = writers.written
        proxy.heal()
        healed = time.monotonic()
        with _progress() as progress:
            task = progress.add_task("healing while writing", total=args.healing_seconds, note="")
            while time.monotonic() - healed < args.healing_seconds:
                status = _status(site)
                if status is not None:
                    modes[status["mode"]] = modes.get(status["mode"], 0) + 1
                    note = f"{status['mode']}, {status['pendingLocalChanges']} to push, {status['behind']} behind"
                    progress.update(task, completed=time.monotonic() - healed, note=note)
                    if status["mode"] == "connected" and connected_after is None:
                        connected_after = time.monotonic() - healed
                        break
                time.sleep(WAIT_POLL_S)
    finally:
        writers.stop()
        proxy.heal()
    settled, last = _wait_status(site, _settled, 600)
    return {
        "cut_seconds": args.healing_cut_seconds,
        "pending_at_heal": pending,
        "written_while_healing": writers.written - written_at_heal,
        "achieved_rate": round(writers.achieved_rate, 1),
        "write_failures": len(writers.failures),
        "first_failures": writers.failures[:3],
        "write_latency": _latency_summary(writers.latencies),
        "connected_while_writing_s": _round(connected_after, 2),
        "watched_s": args.healing_seconds,
        "modes_seen": modes,
        "settled_after_writers_stopped_s": _round(settled, 2),
        "last_status": last,
    }


# --------------------------------------------------------------------------------------------
# One region per site backend.


def run_region(backend: str, args: argparse.Namespace, work: Path, result: dict[str, Any]) -> None:
    """Every measurement on a fresh region with a site on `backend`, into `result` as each ends
    (so a run that fails or is interrupted still leaves what it measured)."""
    folder = work / backend
    central_db = database_url("postgresql", folder)
    site_id = {"sqlite": "herlev", "postgresql": "roskilde"}[backend]
    site_db = f"sqlite:///{folder / f'{site_id}.db'}" if backend == "sqlite" else database_url("postgresql", folder)
    region = Region(folder, central_db)
    region.central.args = ["--workers", str(args.central_workers)]
    result.update({"site": site_id, "site_db": backend, "load_before": _load()})
    try:
        with console.status(f"[{backend}] generating {args.patients} patients and importing them at the centre"):
            started = time.monotonic()
            region.setup(patients=args.patients)
            result["setup_s"] = round(time.monotonic() - started, 1)
        console.log(f"[{backend}] region ready in {result['setup_s']} s")
        site, result["build"] = measure_build(region, site_id, site_db, args)
        build = result["build"]
        console.log(
            f"[{backend}] replica of {build['versions']:,} versions in {build['seconds_from_launch']} s from launch "
            f"({build['versions_per_s']:,.0f}/s; {build['versions_per_s_after_start']:,.0f}/s after the "
            f"{build['startup_s']} s start)"
        )
        with console.status(f"[{backend}] the floor: paging and applying the same feed in process"):
            floor = measure_floor(central_db, site_id, backend, folder, build["versions"])
        floor["build_over_feed_floor"] = round(build["versions_per_s_after_start"] / floor["feed_page_per_s"], 3)
        floor["build_over_serial_floor"] = round(build["versions_per_s_after_start"] / floor["serial_per_s"], 3)
        floor["bytes_received_over_feed"] = round(build["bytes_from_centre"] / max(floor["feed_bytes"], 1), 2)
        result["floor"] = floor
        console.log(
            f"[{backend}] floor: changes_after {floor['changes_after_per_s']:,.0f}/s, feed_page "
            f"{floor['feed_page_per_s']:,.0f}/s, apply {floor['apply_per_s']:,.0f}/s; build / feed floor "
            f"{floor['build_over_feed_floor']:.0%}, of paging and applying {floor['build_over_serial_floor']:.0%}; "
            f"the site received {build['bytes_from_centre'] / 1e6:,.1f} MB, "
            f"{floor['bytes_received_over_feed']}x the feed"
        )
        token = region.token(minutes=24 * 60)
        patients = patients_of(central_db, limit=200)
        result["lag"] = measure_lag(region, site, token, patients, args)
        lag = result["lag"]
        console.log(
            f"[{backend}] lag at {lag['achieved_rate']:.0f} writes/s: p50 {lag['lag_p50_s']} s, "
            f"p95 {lag['lag_p95_s']} s, p99 {lag['lag_p99_s']} s ({lag['samples']} samples)"
        )
        result["load_after_lag"] = _load()
        result["switch"] = measure_switch(region, site, site_id, token, patients, args)
        result["catch_up"] = measure_catch_up(region, site, site_id, token, patients, args)
        up = result["catch_up"]
        console.log(
            f"[{backend}] {up['pending_at_heal']} writes replayed in {up['catch_up_s']} s "
            f"({up['replayed_per_s']}/s); {up['lost_at_centre']} missing at the centre"
        )
        if args.healing_seconds > 0:
            result["healing_under_load"] = heal = measure_healing_under_load(
                region, site, site_id, token, patients, args
            )
            console.log(
                f"[{backend}] healing while writing at {heal['achieved_rate']:.0f}/s: connected after "
                f"{heal['connected_while_writing_s']} s (watched {heal['watched_s']} s); settled "
                f"{heal['settled_after_writers_stopped_s']} s after the writers stopped"
            )
        result["load_after"] = _load()
    finally:
        with console.status(f"[{backend}] stopping the region and dropping its schemas"):
            region.close()
            for db in {central_db, site_db}:
                if db.startswith("postgresql"):
                    with suppress(Exception):
                        dispose(open_repository(db))


# --------------------------------------------------------------------------------------------
# Report.


def _met(ok: bool | None) -> str:
    return "[green]met[/]" if ok else "[red]not met[/]"


def _print(results: dict[str, Any]) -> None:
    table = Table(title=f"Site nodes (issue 7), {results['date']} ({results['machine']})")
    for column in ("site", "measure", "figure", "target", ""):
        table.add_column(column, justify="left" if column in ("site", "measure") else "right")
    for backend, r in results["sites"].items():
        b, f, lag, up = r["build"], r["floor"], r["lag"], r["catch_up"]
        table.add_row(
            backend,
            "replica build",
            f"{b['versions']:,} versions in {b['seconds_from_launch']} s: {b['versions_per_s']:,.0f}/s "
            f"({b['versions_per_s_after_start']:,.0f}/s after start)",
            "—",
            "",
        )
        table.add_row(
            "",
            "floor: feed_page / apply / both",
            f"{f['feed_page_per_s']:,.0f} / {f['apply_per_s']:,.0f} / {f['serial_per_s']:,.0f} per s",
            "—",
            f"build {f['build_over_feed_floor']:.0%} of feed, {f['build_over_serial_floor']:.0%} of both",
        )
        table.add_row(
            "",
            f"lag at {lag['achieved_rate']:.0f} writes/s (offered {lag['offered_rate']:.0f})",
            f"p50 {lag['lag_p50_s']} s, p95 {lag['lag_p95_s']} s, p99 {lag['lag_p99_s']} s",
            f"p99 < {LAG_P99_TARGET_S:g} s",
            _met(lag["met"]),
        )
        for run in r["switch"]:
            table.add_row(
                "",
                f"switch-over ({run['cut']})",
                f"{run['switch_s']} s; {run['failures']} failed; longest write {run['longest_write_s']} s",
                f"< {SWITCH_TARGET_S:g} s",
                _met(run["met"]),
            )
        projected = ""
        if up.get("extrapolated") and up.get("scenario_projected_s") is not None:
            projected = f"; 10 min at 200/s: {up['scenario_projected_s']} s (extrapolated)"
        table.add_row(
            "",
            f"catch-up after {up['cut_minutes']:g} min cut",
            f"{up['pending_at_heal']:,} writes in {up['catch_up_s']} s ({up['replayed_per_s']}/s), "
            f"{up['lost_at_centre']} lost{projected}",
            f"10 min cut < {CATCH_UP_TARGET_S:g} s",
            _met(up["met"]),
        )
        heal = r.get("healing_under_load")
        if heal:
            table.add_row(
                "",
                f"healing while writing ({heal['pending_at_heal']:,} pending)",
                f"connected after {heal['connected_while_writing_s']} s; writes {heal['achieved_rate']:.0f}/s, "
                f"longest {heal['write_latency']['max_ms']} ms, {heal['write_failures']} failed",
                "—",
                "",
            )
    console.print(table)


def _server_versions() -> dict[str, str]:
    with psycopg.connect(PG_URL, connect_timeout=5) as conn:
        row = conn.execute("SHOW server_version").fetchone()
    return {"postgresql": str(row[0]) if row else "?", "sqlite": sqlite3.sqlite_version}


def _interrupted(signum: int, frame: FrameType | None) -> None:
    """SIGTERM as Ctrl-C: the finally blocks stop every process and drop every schema."""
    raise KeyboardInterrupt


def main() -> None:
    defaults = _defaults()
    parser = argparse.ArgumentParser(prog="python -m bench.replication", description=__doc__.split("\n\n")[0])
    parser.add_argument("--patients", type=int, default=200, help="patients in the generated region")
    parser.add_argument("--sites", default="sqlite", help="site databases to measure: sqlite, postgresql or both")
    parser.add_argument("--load-seconds", type=float, default=30, help="length of the lag measurement")
    parser.add_argument("--cut-minutes", type=float, default=2, help="length of the cut before catch-up")
    parser.add_argument("--rate", type=float, default=SCENARIO_RATE, help="writes/s offered (lag and cut)")
    parser.add_argument("--threads", type=int, default=16, help="writer threads sharing that rate")
    parser.add_argument("--sample-every", type=int, default=5, help="every n-th write is timed to the site")
    parser.add_argument("--switch-repeats", type=int, default=3, help="switch-overs per way of cutting")
    parser.add_argument("--switch-rate", type=float, default=20, help="paced writes/s at the site while cutting")
    parser.add_argument("--central-workers", type=int, default=2, help="the centre's server processes")
    parser.add_argument("--poll-ms", type=int, default=defaults["replication_poll_ms"])
    parser.add_argument("--central-timeout-ms", type=int, default=defaults["central_timeout_ms"])
    parser.add_argument("--failures", type=int, default=defaults["continuity_after_failures"])
    parser.add_argument(
        "--healing-seconds", type=float, default=0, help="also heal a short cut while writing on, watching this long"
    )
    parser.add_argument("--healing-cut-seconds", type=float, default=30, help="the cut before that healing")
    parser.add_argument("--keep", action="store_true", help="keep the work folder (logs, SQLite files)")
    args = parser.parse_args()
    backends = [b.strip() for b in args.sites.split(",") if b.strip()]
    if not backends or any(b not in ("sqlite", "postgresql") for b in backends):
        parser.error("--sites takes sqlite, postgresql or both")
    signal.signal(signal.SIGTERM, _interrupted)
    OUT.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    work = OUT / f"replication-work-{stamp}-{uuid.uuid4().hex[:6]}"
    results: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": _machine(),
        "versions": _server_versions(),
        "command": " ".join(["python -m bench.replication", *sys.argv[1:]]),
        "settings": {
            "patients": args.patients,
            "central_workers": args.central_workers,
            "replication_poll_ms": args.poll_ms,
            "central_timeout_ms": args.central_timeout_ms,
            "continuity_after_failures": args.failures,
            "rate": args.rate,
            "threads": args.threads,
        },
        "sites": {},
    }
    console.print(f"[bold]Site nodes benchmark[/] — {results['machine']}; work folder {work}")
    ok = False
    try:
        for backend in backends:
            run_region(backend, args, work, results["sites"].setdefault(backend, {}))
        ok = True
    finally:
        results["complete"] = ok
        path = OUT / f"replication-{stamp}.json"
        path.write_text(json.dumps(results, indent=2, default=str))
        console.print(f"results: {path}")
        if ok and not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        elif not ok:
            console.print(f"[yellow]the work folder (logs) is kept: {work}[/]")
    _print(results)


if __name__ == "__main__":
    main()
