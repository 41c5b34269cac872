"""The merged region (issue 28): one centre feeding many hospital site nodes, as the Capital Region
and Region Zealand will run from 2027 (25 sites).

A real centre (`lifeline serve --workers 2` on PostgreSQL, with a generated region) and
`--real-sites` real site processes on SQLite (tests/replication/region.py, the fault suite's
region), plus simulated sites up to `--sites` in all: threads that speak the same protocol as a
site's replication loop (a registered site credential, GET /replication/changes?after=…&lean=1
every LIFELINE_REPLICATION_POLL_MS, the shipped 250 ms, taking every page until they reach the
head). Paced writers create Observations at the centre (`--rate`, default 200/s) in two phases
of `--load-seconds` each:

1. no site polling (the real sites are stopped): the centre's CPU for the writes alone;
2. every site polling: the centre's CPU again; the difference, over the number of sites, is the
   feed's cost per site. Meanwhile the lag at each real site: for every 20th write, the time from
   the centre's 201 to the row being in that site's database (queried directly).
3. sites returning from a cut (`--returning`, default 5, for `--cut-seconds`, default the issue's
   10 minutes): their proxies cut while the writes go on and the other sites keep reading, then
   healed at once with the writes still going. For each returning site: its backlog (the
   centre's versions at the heal less its position), the time until its position reaches that
   head, and until it says it is live again (connected, at the head of its last page, lagSeconds
   under a second); the centre's and PostgreSQL's CPU while they catch up, against the same
   writes during the cut; the lag at the real sites that were not cut, during the cut and during
   the catch-up (do they suffer?); and then, for `--settle-seconds`, the lag at all the real
   sites (are the returning ones back to normal?).

The real sites run with the shipped replication settings (poll, timeout, failures before
continuity), as a hospital's would.

The centre's CPU is its server processes' (the uvicorn parent and workers: /proc utime + stime of
its process group); PostgreSQL's CPU is reported beside it from its backends' /proc figures
(every postgres process of the machine, and those that exited meanwhile, so only meaningful on an
otherwise idle machine).

Usage: python -m bench.region_sites [--sites 25] [--real-sites 10] [--patients 30]
[--load-seconds 30] [--rate 200] [--returning 5] [--cut-seconds 600] [--settle-seconds 20]
(`--returning 0` skips phase 3). Results go to bench/results/region_sites.json;
docs/benchmarks.md records them. A measurement, not a test: nothing asserts a time.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import shutil
import sys
import threading
import time
from contextlib import suppress
from datetime import UTC, datetime
from typing import Any

import httpx
from rich.table import Table
from tests.conftest import database_url, dispose
from tests.replication.region import Node, Region, lifeline, patients_of

from bench.__main__ import RESULTS, _machine
from bench.cpu import cpu_of_group, cpu_of_postgres
from bench.replication import (
    LagWatcher,
    PacedWriters,
    Presence,
    _defaults,
    _percentile,
    _progress,
    _status,
    _versions_at,
    console,
)
from lifeline.storage import open_repository

POLL_S = 0.25  # the shipped LIFELINE_REPLICATION_POLL_MS
SAMPLE_EVERY = 20  # every 20th write is timed to the real sites
STATUS_POLL_S = 0.1  # how often a returning site's status is read
LIVE_LAG_S = 1.0  # a returning site is live again once it says it is less behind than this
PAGE = 1000  # what a site asks for (replication/site.py)


class FeedReader:
    """A simulated site: its credential, its position, a page every POLL_S (every page at once
    while it is behind), as replication/site.py's loop reads the feed."""

    def __init__(self, central: str, site_id: str, credential: str, start: int) -> None:
        self.central, self.site_id, self.credential, self.after = central, site_id, credential, start
        self.pages = self.failures = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"feed-{site_id}", daemon=True)

    def start(self) -> FeedReader:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)

    def _run(self) -> None:
        headers = {"authorization": f"Bearer {self.credential}"}
        with httpx.Client(base_url=self.central, headers=headers, timeout=10) as http:
            while not self._stop.is_set():
                try:
                    while True:
                        page = http.get("/replication/changes", params={"after": self.after, "limit": PAGE, "lean": 1})
                        page.raise_for_status()
                        body = page.json()
                        self.pages += 1
                        self.after = int(body["last"])
                        if self.after >= int(body["head"]) or not body["changes"]:
                            break
                except (httpx.HTTPError, KeyError, ValueError):
                    self.failures += 1
                self._stop.wait(POLL_S)


class Spreader:
    """Every sampled write to the lag watchers of the moment: phase 3 swaps them at its turns (the
    heal, the last site live), so each watcher's lags are those of writes made in its window."""

    def __init__(self, samples: queue.SimpleQueue[tuple[str, float]]) -> None:
        self.samples = samples
        self._targets: list[queue.SimpleQueue[tuple[str, float]]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-spreader", daemon=True)

    def start(self) -> Spreader:
        self._thread.start()
        return self

    def watch(self, dbs: list[str]) -> list[LagWatcher]:
        """New watchers, one a site database (each with its own connection), in place of the last
        ones: those go on until their pending samples show up, and are finished with `_lags`."""
        watchers = [LagWatcher(Presence(db), queue.SimpleQueue()).start() for db in dbs]
        with self._lock:
            self._targets = [w.samples for w in watchers]
        return watchers

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                sample = self.samples.get(timeout=0.1)
            except queue.Empty:
                continue
            with self._lock:
                targets = self._targets
            for target in targets:
                target.put(sample)


class Returning:
    """A site coming back from a cut, its status read every STATUS_POLL_S by its own thread (a
    site busy applying answers slowly, and must not delay the others' clocks), until it is live
    again. Times are from the heal to the answer that showed it (an upper bound)."""

    def __init__(self, node: Node, head: int, at_return: dict[str, Any], healed: float, timeout: float) -> None:
        self.node, self.head, self.healed, self.timeout = node, head, healed, timeout
        self.start_position = int(at_return.get("position") or 0)
        self.mode_at_return = at_return.get("mode")
        self.position = self.start_position
        self.last: dict[str, Any] = at_return
        self.reached_s: float | None = None  # its position at the centre's head at the heal
        self.live_s: float | None = None  # connected, at the head of its last page, lag < 1 s
        self.modes: dict[str, int] = {}  # status reads per mode seen
        self.errors: list[str] = []  # its lastError values seen (a page timing out, say)
        self._thread = threading.Thread(target=self._run, name=f"return-{node.name}", daemon=True)

    @property
    def backlog(self) -> int:
        return max(self.head - self.start_position, 0)

    @property
    def done(self) -> bool:
        return not self._thread.is_alive()

    def start(self) -> Returning:
        self._thread.start()
        return self

    def join(self) -> None:
        self._thread.join()

    def _run(self) -> None:
        while self.live_s is None and time.monotonic() - self.healed < self.timeout:
            status = _status(self.node)
            if status is not None:
                since = time.monotonic() - self.healed
                self.last, self.position = status, int(status["position"])
                self.modes[status["mode"]] = self.modes.get(status["mode"], 0) + 1
                if status.get("lastError") and len(self.errors) < 5 and status["lastError"] not in self.errors:
                    self.errors.append(status["lastError"])
                if self.reached_s is None and self.position >= self.head:
                    self.reached_s = since
                lag = status.get("lagSeconds")
                if (
                    self.reached_s is not None
                    and status["mode"] == "connected"
                    and not status["behind"]
                    and lag is not None
                    and lag < LIVE_LAG_S
                ):
                    self.live_s = since
            time.sleep(STATUS_POLL_S)

    def summary(self) -> dict[str, Any]:
        return {
            "mode_at_return": self.mode_at_return,
            "position_at_return": self.start_position,
            "backlog": self.backlog,
            "to_head_at_return_s": _r(self.reached_s),
            "to_live_s": _r(self.live_s),
            "catch_up_per_s": None if not self.reached_s else round(self.backlog / self.reached_s, 1),
            # Everything it applied until live, the writes made meanwhile included.
            "applied_until_live": self.position - self.start_position,
            "modes_seen": self.modes,
            "errors_seen": self.errors,
        }


def _head(central: Node) -> int:
    return int(httpx.get(f"{central.url}/status.json", timeout=5).json().get("position") or 0)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.region_sites")
    parser.add_argument("--sites", type=int, default=25)
    parser.add_argument("--real-sites", type=int, default=10)
    parser.add_argument("--patients", type=int, default=30)
    parser.add_argument("--load-seconds", type=int, default=30)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--threads", type=int, default=16)
    parser.add_argument("--returning", type=int, default=5, help="real sites cut and returning at once (0: no phase 3)")
    parser.add_argument("--cut-seconds", type=float, default=600, help="how long they are cut, the region writing")
    parser.add_argument("--settle-seconds", type=float, default=20, help="lag at every real site once all are back")
    args = parser.parse_args()
    if not 0 <= args.returning <= args.real_sites:
        parser.error("--returning takes 0 up to --real-sites")
    folder = RESULTS / "region-sites"
    shutil.rmtree(folder, ignore_errors=True)  # the sites' databases and logs of the last run
    folder.mkdir(parents=True)
    central_db = database_url("postgresql", folder)
    region = Region(folder, central_db)
    result: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": _machine(),
        "command": " ".join(["python -m bench.region_sites", *sys.argv[1:]]),
        "sites": args.sites,
        "real_sites": args.real_sites,
        "rate": args.rate,
        "load_seconds": args.load_seconds,
    }
    # The shipped replication settings, not the fault suite's faster ones (Region.add_site's).
    shipped = _defaults()
    readers: list[FeedReader] = []
    try:
        with console.status(f"a region of {args.patients} patients at the centre"):
            region.setup(patients=args.patients)
        assert region.central.process is not None
        leader = region.central.process.pid
        with console.status(f"starting {args.real_sites} real sites (SQLite) and building their replicas"):
            for n in range(args.real_sites):
                region.add_site(
                    f"site{n:02d}",
                    f"sqlite:///{folder / f'site{n:02d}.db'}",
                    LIFELINE_REPLICATION_POLL_MS=str(int(POLL_S * 1000)),
                    LIFELINE_CENTRAL_TIMEOUT_MS=str(shipped["central_timeout_ms"]),
                    LIFELINE_CONTINUITY_AFTER_FAILURES=str(shipped["continuity_after_failures"]),
                )
            region.wait_converged(timeout=600)
        console.log(f"{args.real_sites} real sites built their replicas")
        simulated = []
        for n in range(args.sites - args.real_sites):
            site_id = f"sim{n:02d}"
            out = lifeline("sites", "add", site_id, "--url", "http://127.0.0.1:9", "--db", central_db, env=region.env)
            simulated.append((site_id, out.splitlines()[-1]))
        token = region.token(minutes=24 * 60)
        patients = patients_of(central_db, limit=200)

        # Phase 1: the writes alone (the real sites stopped, no reader).
        for site in region.sites.values():
            site.stop()
        result["alone"] = _phase(region, leader, token, patients, args, watched=[])
        console.log(f"writes alone: centre {result['alone']['centre_cores']:.2f} cores")

        # Phase 2: every site reading the feed.
        for site in region.sites.values():
            site.start()
        region.wait_converged(timeout=600)
        head = _head(region.central)
        readers = [FeedReader(region.central.url, s, c, head).start() for s, c in simulated]
        watched = [site.db for site in region.sites.values()]
        result["with_sites"] = _phase(region, leader, token, patients, args, watched=watched)
        result["with_sites"]["simulated_pages"] = sum(r.pages for r in readers)
        result["with_sites"]["simulated_failures"] = sum(r.failures for r in readers)
        # The feed's share: the CPU of phase 2 less what its writes cost in phase 1 (per write), over
        # phase 2's time (on a machine too busy to keep the offered rate, it runs longer).
        alone, both = result["alone"], result["with_sites"]
        for part in ("centre", "postgres"):
            result[f"{part}_cores_for_all_sites"] = _extra_cores(alone, both, part)
        result["centre_cores_per_site"] = round(result["centre_cores_for_all_sites"] / args.sites, 4)
        _print(result)

        # Phase 3: sites returning from a cut at once, the region writing on (the readers too).
        if args.returning:
            pages, failures = sum(r.pages for r in readers), sum(r.failures for r in readers)
            result["return"] = _return_from_cut(region, leader, token, patients, args)
            result["return"]["simulated_pages"] = sum(r.pages for r in readers) - pages
            result["return"]["simulated_failures"] = sum(r.failures for r in readers) - failures
            _print_return(result["return"])
    finally:
        for reader in readers:
            reader.stop()
        (RESULTS / "region_sites.json").write_text(json.dumps(result, indent=2))
        with console.status("stopping the region"):
            region.close()
            with suppress(Exception):
                dispose(open_repository(central_db))


def _phase(
    region: Region, leader: int, token: str, patients: list[str], args: argparse.Namespace, watched: list[str]
) -> dict[str, Any]:
    writers = PacedWriters(region.central.url, token, patients, rate=args.rate, threads=args.threads,
                           sample_every=SAMPLE_EVERY if watched else 0)  # fmt: skip
    spreader = Spreader(writers.samples).start()
    watchers = spreader.watch(watched)
    before = _cpu_now(leader)
    writers.start(args.load_seconds)
    with _progress() as progress:
        task = progress.add_task("writes at the centre", total=args.load_seconds, note="")
        while not writers.done:
            progress.update(task, completed=min(time.monotonic() - writers.started, args.load_seconds),
                            note=f"{writers.written} written")  # fmt: skip
            time.sleep(0.5)
    writers.join()
    window = _window(before, _cpu_now(leader), writers.written)
    spreader.stop()
    per_site = _lags(watchers)
    return {
        **window,
        "achieved_rate": round(writers.achieved_rate, 1),
        "write_failures": len(writers.failures),
        "per_site": per_site,
        "worst_site_lag_p99_s": _worst(per_site),
        "load": [round(x, 2) for x in os.getloadavg()],
    }


def _return_from_cut(
    region: Region, leader: int, token: str, patients: list[str], args: argparse.Namespace
) -> dict[str, Any]:
    """Phase 3: `--returning` real sites cut for `--cut-seconds` while the centre takes the paced
    writes and the other sites read on, then healed at once, the writes going on."""
    names = list(region.sites)
    returning, not_cut = names[: args.returning], names[args.returning :]
    dbs = {name: region.sites[name].db for name in names}
    writers = PacedWriters(region.central.url, token, patients, rate=args.rate, threads=args.threads,
                           sample_every=SAMPLE_EVERY)  # fmt: skip
    spreader = Spreader(writers.samples).start()
    back: list[Returning] = []
    try:
        cut_watchers = spreader.watch([dbs[n] for n in not_cut])
        for name in returning:
            region.proxies[name].cut("reset")
        cut_started, cut_sites = _cpu_now(leader), _sites_cpu(region, names)
        writers.start()
        with _progress() as progress:
            task = progress.add_task(f"{len(returning)} sites cut, the region writing", total=args.cut_seconds, note="")
            while (elapsed := time.monotonic() - writers.started) < args.cut_seconds:
                note = f"{writers.written} written ({writers.achieved_rate:.0f}/s), {len(writers.failures)} failed"
                progress.update(task, completed=elapsed, note=note)
                time.sleep(0.5)
        at_return = {name: _status(region.sites[name]) or {} for name in returning}
        # Every version committed at the centre: the head its feed reaches once they are numbered.
        head = _versions_at(region.central.db)
        healed_cpu, healed_sites, written_at_heal = _cpu_now(leader), _sites_cpu(region, names), writers.written
        catch_up_watchers = spreader.watch([dbs[n] for n in not_cut])
        for name in returning:
            region.proxies[name].heal()
        healed = time.monotonic()
        timeout = 600 + 2 * args.cut_seconds  # bounded; far above any plausible catch-up
        back = [Returning(region.sites[n], head, at_return[n], healed, timeout).start() for n in returning]
        with _progress() as progress:
            tasks = [progress.add_task(f"{r.node.name} back", total=max(r.backlog, 1), note="") for r in back]
            while not all(r.done for r in back):
                for task, r in zip(tasks, back, strict=True):
                    note = f"{r.last.get('mode')}, {r.last.get('behind')} behind"
                    if r.live_s is not None:
                        note = f"live after {r.live_s:.1f} s"
                    progress.update(task, completed=min(r.position - r.start_position, r.backlog), note=note)
                time.sleep(0.5)
        caught_cpu, caught_sites, written_caught = _cpu_now(leader), _sites_cpu(region, names), writers.written
        settle_watchers = spreader.watch([dbs[n] for n in names])
        with _progress() as progress:
            task = progress.add_task("every real site reading", total=args.settle_seconds, note="")
            settled = time.monotonic()
            while (elapsed := time.monotonic() - settled) < args.settle_seconds:
                progress.update(task, completed=elapsed, note=f"{writers.written} written")
                time.sleep(0.5)
    finally:
        writers.stop()
        spreader.stop()
        for name in returning:
            region.proxies[name].heal()
    during_cut = _window(cut_started, healed_cpu, written_at_heal)
    catch_up = _window(healed_cpu, caught_cpu, written_caught - written_at_heal)
    # Where the rest of the two cores went: the site processes themselves, cut and not cut.
    for window, before, after in ((during_cut, cut_sites, healed_sites), (catch_up, healed_sites, caught_sites)):
        for group, members in (("returning", returning), ("not_cut", not_cut)):
            spent = sum(after[n] - before[n] for n in members)
            window[f"{group}_sites_cores"] = round(spent / window["seconds"], 3)
    cut_lags, catch_up_lags = _lags(cut_watchers), _lags(catch_up_watchers)
    settle_lags = dict(zip(names, _lags(settle_watchers), strict=True))
    return {
        "returning": returning,
        "not_cut": not_cut,
        "cut_seconds": args.cut_seconds,
        "head_at_return": head,
        "writes": writers.written,
        "write_failures": len(writers.failures),
        "first_failures": writers.failures[:3],
        "during_cut": {**during_cut, "not_cut_lag": cut_lags, "worst_not_cut_lag_p99_s": _worst(cut_lags)},
        "catch_up": {
            **catch_up,
            # What the catch-up costs beyond the same writes (and the other sites' reading) as
            # during the cut, per write, over the catch-up's time.
            "centre_cores_for_catch_up": _extra_cores(during_cut, catch_up, "centre"),
            "postgres_cores_for_catch_up": _extra_cores(during_cut, catch_up, "postgres"),
            "sites": {r.node.name: r.summary() for r in back},
            "all_live_s": None if any(r.live_s is None for r in back) else max(r.live_s or 0 for r in back),
            "not_cut_lag": catch_up_lags,
            "worst_not_cut_lag_p99_s": _worst(catch_up_lags),
        },
        "settled": {
            "seconds": args.settle_seconds,
            "returning_lag": [settle_lags[n] for n in returning],
            "not_cut_lag": [settle_lags[n] for n in not_cut],
        },
        "load": [round(x, 2) for x in os.getloadavg()],
    }


def _cpu_now(leader: int) -> tuple[float, float, float]:
    """The centre's CPU seconds, PostgreSQL's, and the moment."""
    return cpu_of_group(leader), cpu_of_postgres(), time.monotonic()


def _sites_cpu(region: Region, names: list[str]) -> dict[str, float]:
    """Each real site's CPU seconds (its server's process group)."""
    return {n: cpu_of_group(p.pid) if (p := region.sites[n].process) is not None else 0.0 for n in names}


def _window(before: tuple[float, float, float], after: tuple[float, float, float], writes: int) -> dict[str, Any]:
    seconds = max(after[2] - before[2], 1e-9)
    centre, postgres = after[0] - before[0], after[1] - before[1]
    return {
        "seconds": round(seconds, 1),
        "writes": writes,
        "write_rate": round(writes / seconds, 1),
        "centre_cpu_s": round(centre, 2),
        "postgres_cpu_s": round(postgres, 2),
        "centre_cores": round(centre / seconds, 3),
        "postgres_cores": round(postgres / seconds, 3),
    }


def _extra_cores(base: dict[str, Any], window: dict[str, Any], part: str) -> float:
    """`window`'s CPU less what its writes cost in `base` (per write), over `window`'s time."""
    per_write = base[f"{part}_cpu_s"] / max(base["writes"], 1)
    return round((window[f"{part}_cpu_s"] - per_write * window["writes"]) / window["seconds"], 3)


def _lags(watchers: list[LagWatcher]) -> list[dict[str, Any]]:
    """Each watcher's lag figures, once its pending samples have shown up (or a minute passed)."""
    summaries = []
    for watcher in watchers:
        watcher.finish(timeout=60)
        watcher.presence.close()
        lags = watcher.lags
        summaries.append({"lag_p50_s": _r(_percentile(lags, 50)), "lag_p99_s": _r(_percentile(lags, 99)),
                          "samples": len(lags), "not_seen": len(watcher.pending)})  # fmt: skip
    return summaries


def _worst(per_site: list[dict[str, Any]]) -> float | None:
    return max((s["lag_p99_s"] or 0.0 for s in per_site), default=None)


def _r(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def _print(result: dict[str, Any]) -> None:
    alone, both = result["alone"], result["with_sites"]
    console.print(
        f"writes alone: {alone['write_rate']}/s, centre {alone['centre_cores']} cores,"
        f" postgres {alone['postgres_cores']}"
    )
    console.print(
        f"with {result['sites']} sites ({result['real_sites']} real): {both['write_rate']}/s, centre"
        f" {both['centre_cores']} cores, postgres {both['postgres_cores']}; feed cost"
        f" {result['centre_cores_for_all_sites']} cores for all sites, {result['centre_cores_per_site']} a site"
    )
    console.print(f"lag p99 at the real sites: worst {both['worst_site_lag_p99_s']} s; {both['per_site']}")


def _print_return(back: dict[str, Any]) -> None:
    cut, up = back["during_cut"], back["catch_up"]
    table = Table(title=f"{len(back['returning'])} sites back from a {back['cut_seconds']:g} s cut at once")
    for column in ("site", "mode at return", "backlog", "to the head at return", "changes/s", "live again"):
        table.add_column(column, justify="left" if column in ("site", "mode at return") else "right")
    for name, site in up["sites"].items():
        table.add_row(name, str(site["mode_at_return"]), f"{site['backlog']:,}", f"{site['to_head_at_return_s']} s",
                      str(site["catch_up_per_s"]), f"{site['to_live_s']} s")  # fmt: skip
    console.print(table)
    for label, window in (("during the cut", cut), ("during the catch-up", up)):
        console.print(
            f"{label} ({window['seconds']} s): writes {window['write_rate']}/s, centre {window['centre_cores']}"
            f" cores, postgres {window['postgres_cores']}, returning sites {window['returning_sites_cores']}, the"
            f" others {window['not_cut_sites_cores']}; lag p99 at the sites not cut: worst"
            f" {window['worst_not_cut_lag_p99_s']} s; {window['not_cut_lag']}"
        )
    console.print(
        f"the catch-up's own cost: centre {up['centre_cores_for_catch_up']} cores, postgres"
        f" {up['postgres_cores_for_catch_up']}; settled: returning {back['settled']['returning_lag']},"
        f" not cut {back['settled']['not_cut_lag']}"
    )


if __name__ == "__main__":
    main()
