"""Incidents that open and resolve by themselves in a real region (issue 23): a centre on
PostgreSQL with two server processes, a hospital site on SQLite behind a proxy that can cut it
off, and a site on PostgreSQL whose clock runs five minutes ahead (libfaketime), every node
probing itself each second. Drives each automatic incident and reads what `/status.json`,
`/status` and `/metrics` say."""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from lifeline.storage import open_repository
from tests.conftest import database_url, dispose, require_postgres
from tests.replication.nodes import wait_until
from tests.replication.region import Node, Region, lifeline

SKEW = ["faketime", "-f", "+5m"]
PROBE = "probe-central"


@pytest.fixture(scope="module")
def region(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Region]:
    require_postgres()
    if shutil.which("faketime") is None:
        pytest.fail("faketime is needed for the clock-skew incident (make test installs it)")
    folder = tmp_path_factory.mktemp("incidents")
    central_db, roskilde_db = database_url("postgresql", folder), database_url("postgresql", folder)
    built = Region(folder, central_db)
    built.env.update(
        LIFELINE_PROBE_SECONDS="1",
        LIFELINE_SITE_SILENT_SECONDS="4",
        LIFELINE_LOGIN_FAILURES_ALARM="5",
        LIFELINE_CLOCK_SKEW_SECONDS="60",
        LIFELINE_REPLICATION_STALL_SECONDS="3",
    )
    try:
        built.setup(patients=3)
        # The centre's synthetic probe: its account, then the centre started again to use it.
        lifeline("probe", "account", "--db", central_db, env=built.env)
        built.central.stop()
        built.central.env = {**built.env, "LIFELINE_PROBE_USER": PROBE}
        built.central.start()
        built.add_site("herlev", f"sqlite:///{folder / 'herlev.db'}")
        built.add_site("roskilde", roskilde_db, wrapper=SKEW, FAKETIME_DONT_FAKE_MONOTONIC="1")
        built.wait_converged(180)
        yield built
    finally:
        built.close()
        for db in (central_db, roskilde_db):
            dispose(open_repository(db))


def _open(node: Node) -> list[dict[str, Any]]:
    return list(node.status()["incidents"])


def _titled(node: Node, title: str) -> dict[str, Any] | None:
    return next((incident for incident in _open(node) if incident["title"] == title), None)


def _component(node: Node, key: str) -> str:
    return next(c["status"] for c in node.status()["components"] if c["key"] == key)


def test_a_healthy_centre_passes_its_synthetic_probe(region: Region) -> None:
    passing = ('lifeline_probe_ok{node="central",probe="synthetic"} 1.0', 'probe="database"} 1.0')
    # Either of the centre's two server processes answers; each publishes the rounds it ran.
    wait_until(lambda: all(line in _metrics(region.central) for line in passing), 90, "the probes at the centre")
    assert not [i for i in _open(region.central) if i["title"].startswith("The synthetic")]


def test_a_site_whose_clock_is_wrong_says_so_by_itself(region: Region) -> None:
    roskilde = region.sites["roskilde"]
    wait_until(lambda: _titled(roskilde, "This node's clock is wrong") is not None, 30, "the clock incident")
    incident = _titled(roskilde, "This node's clock is wrong")
    assert incident is not None and incident["components"] == ["staff-login"] and incident["impact"] == "minor"
    (first,) = incident["updates"]
    assert "ahead of" in first["text"] and first["author"] == "automatic"
    seconds = int(first["text"].split("clock is ")[1].split(" s")[0])
    assert 290 <= seconds <= 310  # faketime's five minutes
    assert _component(roskilde, "staff-login") == "degraded"
    assert _titled(region.sites["herlev"], "This node's clock is wrong") is None  # herlev's clock is right


def test_a_site_cut_off_opens_an_incident_at_both_ends_and_healing_resolves_them(region: Region) -> None:
    herlev, proxy = region.sites["herlev"], region.proxies["herlev"]
    proxy.cut()
    try:
        wait_until(lambda: _titled(herlev, CUT_OFF) is not None, 30, "the site's cut-off incident")
        assert _component(herlev, "replication") == "major_outage"
        wait_until(lambda: _titled(region.central, SILENT) is not None, 30, "the centre's silent-site incident")
        # A major incident: a partial outage of that one link (each of the centre's two processes
        # serves its own few-seconds-old snapshot, so wait for both).
        wait_until(lambda: _component(region.central, "replication:herlev") == "partial_outage", 15, "the component")
        assert _component(region.central, "replication:roskilde") == "operational"
        page = httpx.get(f"{herlev.url}/status", timeout=5).text
        assert CUT_OFF in page
    finally:
        proxy.heal()
    wait_until(lambda: _titled(herlev, CUT_OFF) is None, 60, "the cut-off incident to resolve by itself")
    wait_until(lambda: _titled(region.central, SILENT) is None, 60, "the silent-site incident to resolve")
    # The page (cached for a few seconds) moves it to the past incidents, with how long it lasted.
    wait_until(lambda: _past(herlev, CUT_OFF), 30, "the page to list the cut-off among the past incidents")


def _past(node: Node, title: str) -> bool:
    page = httpx.get(f"{node.url}/status", timeout=5).text
    return title in page.partition('id="history"')[2]


def test_a_site_that_cannot_apply_the_centres_changes_says_they_arrive_late(region: Region) -> None:
    """The site reaches the centre but cannot write what it pulls (its database locked by another
    program): connected, falling behind — and the incident cannot be written either, so it is
    shown from memory, and written with its start time once the database is free."""
    herlev = region.sites["herlev"]
    path = herlev.db.removeprefix("sqlite:///")
    lock = sqlite3.connect(path, isolation_level=None, timeout=30)
    lock.execute("BEGIN EXCLUSIVE")  # WAL: the site still reads, nobody else writes
    try:
        token = region.token()
        with httpx.Client(base_url=region.central.url, timeout=10) as client:
            for n in range(3):
                patient = {"resourceType": "Patient", "name": [{"family": f"Stall{n}"}], "gender": "female"}
                answer = client.post(
                    "/fhir/Patient", json=patient,
                    headers={"Authorization": f"Bearer {token}", "Content-Type": "application/fhir+json"},
                )  # fmt: skip
                assert answer.status_code == 201, answer.text
        wait_until(lambda: _titled(herlev, LATE) is not None, 120, "the replication-stall incident")
        assert herlev.status()["mode"] == "connected" and _component(herlev, "replication") == "degraded"
        held = _titled(herlev, LATE)
        assert held is not None and held["id"] == "unrecorded-replication-stall"  # shown from memory
    finally:
        lock.execute("ROLLBACK")
        lock.close()
    wait_until(lambda: _titled(herlev, LATE) is None, 150, "the stall incident to resolve by itself")
    wait_until(lambda: _past(herlev, LATE), 30, "the stall among the past incidents, written after all")


LATE = "Changes from the centre are arriving late"
CUT_OFF = "Cut off from the regional centre: this hospital works on its own copy"
SILENT = "No word from the herlev site node"
SYNTHETIC = "The synthetic login, read and search failed"


def test_the_synthetic_probe_opens_and_resolves_an_incident_by_itself(region: Region) -> None:
    central = region.central
    lifeline("users", "disable", PROBE, "--db", central.db, env=region.env)
    seen: list[dict[str, Any]] = []
    wait_until(lambda: bool(seen.append(_titled(central, SYNTHETIC) or {}) or seen[-1]), 90, "the probe's incident")
    assert "password step failed" in seen[-1]["updates"][-1]["text"]
    lifeline("probe", "account", "--db", central.db, env=region.env)  # the account works again
    wait_until(lambda: _titled(central, SYNTHETIC) is None, 180, "the synthetic probe's incident to resolve")


def test_failed_logins_in_bulk_open_an_incident(region: Region) -> None:
    central = region.central
    with httpx.Client(base_url=central.url, timeout=5) as client:
        for n in range(7):
            page = client.get("/login")
            csrf = page.text.split('name="csrf" value="')[1].split('"')[0]
            client.post("/login", data={"csrf": csrf, "username": f"nobody{n}", "password": "wrong", "next": "/"})
    wait_until(lambda: _titled(central, "Many logins are failing") is not None, 30, "the failed-logins incident")
    # Each of the centre's two processes serves its own few-seconds-old snapshot: wait for both.
    down = ("partial_outage", "major_outage")
    wait_until(lambda: _component(central, "staff-login") in down, 15, "staff login shown as down")


def _metrics(node: Node) -> str:
    return httpx.get(f"{node.url}/metrics", timeout=5).text
