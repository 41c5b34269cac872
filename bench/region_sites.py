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

The centre's CPU is its server processes' (the uvicorn parent and workers: /proc utime + stime of
its process group); PostgreSQL's CPU is reported beside it from its backends' /proc figures
(every postgres process of the machine, so only meaningful on an otherwise idle machine).

Usage: python -m bench.region_sites [--sites 25] [--real-sites 10] [--patients 30]
[--load-seconds 30] [--rate 200]. Results go to bench/results/region_sites.json;
docs/benchmarks.md records them. A measurement, not a test: nothing asserts a time.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import shutil
import threading
import time
from contextlib import suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from tests.conftest import database_url, dispose
from tests.replication.region import Node, Region, lifeline, patients_of

from bench.__main__ import RESULTS, _machine
from bench.replication import LagWatcher, PacedWriters, Presence, _percentile, _progress, console
from lifeline.storage import open_repository

POLL_S = 0.25  # the shipped LIFELINE_REPLICATION_POLL_MS
PAGE = 1000  # what a site asks for (replication/site.py)
TICK = os.sysconf("SC_CLK_TCK")


def _cpu_of_group(leader: int) -> float:
    """CPU seconds (user + system) of every process in `leader`'s process group."""
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdecimal():
            continue
        with suppress(OSError, ValueError, IndexError):
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            if int(fields[2]) == leader:  # pgrp (the 5th field; 3rd after the command)
                total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / TICK


def _cpu_of_postgres() -> float:
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdecimal():
            continue
        with suppress(OSError, ValueError, IndexError):
            stat = (entry / "stat").read_text()
            if "(postgres)" in stat:
                fields = stat.rsplit(")", 1)[1].split()
                total += int(fields[11]) + int(fields[12])
    return total / TICK


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
    args = parser.parse_args()
    folder = RESULTS / "region-sites"
    shutil.rmtree(folder, ignore_errors=True)  # the sites' databases and logs of the last run
    folder.mkdir(parents=True)
    central_db = database_url("postgresql", folder)
    region = Region(folder, central_db)
    result: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": _machine(),
        "sites": args.sites,
        "real_sites": args.real_sites,
        "rate": args.rate,
        "load_seconds": args.load_seconds,
    }
    readers: list[FeedReader] = []
    try:
        with console.status(f"a region of {args.patients} patients at the centre"):
            region.setup(patients=args.patients)
        assert region.central.process is not None
        leader = region.central.process.pid
        with console.status(f"starting {args.real_sites} real sites (SQLite) and building their replicas"):
            for n in range(args.real_sites):
                region.add_site(f"site{n:02d}", f"sqlite:///{folder / f'site{n:02d}.db'}",
                                LIFELINE_REPLICATION_POLL_MS=str(int(POLL_S * 1000)))  # fmt: skip
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
        result["alone"] = _phase(region, leader, token, patients, args, watchers=[])
        console.log(f"writes alone: centre {result['alone']['centre_cores']:.2f} cores")

        # Phase 2: every site reading the feed.
        for site in region.sites.values():
            site.start()
        region.wait_converged(timeout=600)
        head = _head(region.central)
        readers = [FeedReader(region.central.url, s, c, head).start() for s, c in simulated]
        presences = [Presence(site.db) for site in region.sites.values()]
        result["with_sites"] = _phase(region, leader, token, patients, args, watchers=presences)
        for reader in readers:
            reader.stop()
        result["with_sites"]["simulated_pages"] = sum(r.pages for r in readers)
        result["with_sites"]["simulated_failures"] = sum(r.failures for r in readers)
        for presence in presences:
            presence.close()
        # The feed's share: the CPU of phase 2 less what its writes cost in phase 1 (per write), over
        # phase 2's time (on a machine too busy to keep the offered rate, it runs longer).
        alone, both = result["alone"], result["with_sites"]
        for part in ("centre", "postgres"):
            per_write = alone[f"{part}_cpu_s"] / max(alone["writes"], 1)
            extra = (both[f"{part}_cpu_s"] - per_write * both["writes"]) / both["seconds"]
            result[f"{part}_cores_for_all_sites"] = round(extra, 3)
        result["centre_cores_per_site"] = round(result["centre_cores_for_all_sites"] / args.sites, 4)
        _print(result)
    finally:
        for reader in readers:
            reader.stop()
        (RESULTS / "region_sites.json").write_text(json.dumps(result, indent=2))
        with console.status("stopping the region"):
            region.close()
            with suppress(Exception):
                dispose(open_repository(central_db))


def _phase(
    region: Region, leader: int, token: str, patients: list[str], args: argparse.Namespace, watchers: list[Presence]
) -> dict[str, Any]:
    writers = PacedWriters(region.central.url, token, patients, rate=args.rate, threads=args.threads,
                           sample_every=20 if watchers else 0)  # fmt: skip
    queues: list[queue.SimpleQueue[tuple[str, float]]] = [queue.SimpleQueue() for _ in watchers]
    lag_watchers = [LagWatcher(presence, q).start() for presence, q in zip(watchers, queues, strict=True)]
    fan_out_stop = threading.Event()

    def fan_out() -> None:  # every sampled write to every site's watcher
        while not fan_out_stop.is_set():
            try:
                sample = writers.samples.get(timeout=0.1)
            except queue.Empty:
                continue
            for q in queues:
                q.put(sample)

    spreader = threading.Thread(target=fan_out, daemon=True)
    spreader.start()
    cpu0, pg0, t0 = _cpu_of_group(leader), _cpu_of_postgres(), time.monotonic()
    writers.start(args.load_seconds)
    with _progress() as progress:
        task = progress.add_task("writes at the centre", total=args.load_seconds, note="")
        while not writers.done:
            progress.update(task, completed=min(time.monotonic() - writers.started, args.load_seconds),
                            note=f"{writers.written} written")  # fmt: skip
            time.sleep(0.5)
    writers.join()
    seconds = time.monotonic() - t0
    cpu1, pg1 = _cpu_of_group(leader), _cpu_of_postgres()
    fan_out_stop.set()
    spreader.join(5)
    for watcher in lag_watchers:
        watcher.finish(timeout=60)
    per_site = [
        {"lag_p50_s": _r(_percentile(w.lags, 50)), "lag_p99_s": _r(_percentile(w.lags, 99)),
         "samples": len(w.lags), "not_seen": len(w.pending)}
        for w in lag_watchers
    ]  # fmt: skip
    worst = max((s["lag_p99_s"] or 0.0 for s in per_site), default=None)
    return {
        "seconds": round(seconds, 1),
        "writes": writers.written,
        "achieved_rate": round(writers.achieved_rate, 1),
        "write_failures": len(writers.failures),
        "centre_cpu_s": round(cpu1 - cpu0, 2),
        "postgres_cpu_s": round(pg1 - pg0, 2),
        "centre_cores": round((cpu1 - cpu0) / seconds, 3),
        "postgres_cores": round((pg1 - pg0) / seconds, 3),
        "per_site": per_site,
        "worst_site_lag_p99_s": worst,
        "load": [round(x, 2) for x in os.getloadavg()],
    }


def _r(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def _print(result: dict[str, Any]) -> None:
    alone, both = result["alone"], result["with_sites"]
    console.print(
        f"writes alone: {alone['achieved_rate']}/s, centre {alone['centre_cores']} cores,"
        f" postgres {alone['postgres_cores']}"
    )
    console.print(
        f"with {result['sites']} sites ({result['real_sites']} real): {both['achieved_rate']}/s, centre"
        f" {both['centre_cores']} cores, postgres {both['postgres_cores']}; feed cost"
        f" {result['centre_cores_for_all_sites']} cores for all sites, {result['centre_cores_per_site']} a site"
    )
    console.print(f"lag p99 at the real sites: worst {both['worst_site_lag_p99_s']} s; {both['per_site']}")


if __name__ == "__main__":
    main()
