"""Two `lifeline serve` processes on one PostgreSQL database behind any load balancer (issue 28,
"Scale out"): requests alternate between them and nothing a client holds works on one process
only. A write on one is read on the other; a search's pages are walked across both by its
cursors (sealed with the node's key, which both share) and its total is carried; a conditional
create on one finds what the other wrote; the login form shown by one is accepted by the other;
history and the change sequence agree. Loopback only, bounded waits."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest

from lifeline.identity.keys import new_kek
from tests.conftest import PG_URL, database_url, require_postgres
from tests.replication.nodes import free_port
from tests.web.real_server import wait_for
from tests.web.test_login_pages import csrf_of

LIFELINE = [sys.executable, "-m", "lifeline.cli"]
PUBLIC_BASE = "http://lifeline.test/fhir"  # the load balancer's address of the FHIR API, as both say it
FHIR = {"content-type": "application/fhir+json", "accept": "application/fhir+json"}


def _environment(url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIFELINE_")}
    return env | {"LIFELINE_DB": url, "LIFELINE_KEK": new_kek(), "LIFELINE_BASE_URL": PUBLIC_BASE}


def _cli(env: dict[str, str], *args: str) -> str:
    done = subprocess.run([*LIFELINE, *args], capture_output=True, text=True, timeout=120, env=env, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture
def two(tmp_path: Path) -> Iterator[tuple[list[str], str]]:
    require_postgres()
    url = database_url("postgresql", tmp_path)
    env = _environment(url)
    _cli(env, "db", "upgrade")
    _cli(env, "clients", "add", "ward-app", "--kind", "backend", "--scope", "system/*.cruds")
    token = _cli(env, "token", "issue", "--client", "ward-app", "--scope", "system/*.cruds").strip().splitlines()[-1]
    processes, bases = [], []
    try:
        for n in range(2):
            port = free_port()
            log = tmp_path / f"serve-{n}.log"
            command = [*LIFELINE, "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
            with log.open("wb") as handle:
                processes.append(
                    subprocess.Popen(command, stdout=handle, stderr=subprocess.STDOUT, env=env, start_new_session=True)
                )
            bases.append(f"http://127.0.0.1:{port}")
            wait_for(bases[-1], processes[-1], log)
        yield bases, token
    finally:
        for process in processes:
            os.killpg(process.pid, signal.SIGTERM)
        for process in processes:
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(10)
        schema = url.rsplit("schema=", 1)[1]
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def test_requests_alternate_between_two_processes_on_one_database(two: tuple[list[str], str]) -> None:
    (a, b), token = two
    auth = {"authorization": f"Bearer {token}", **FHIR}
    with httpx.Client(timeout=30, headers=auth) as web:
        for n in range(5):  # written on both, in turn
            base = (a, b)[n % 2]
            patient = {"resourceType": "Patient", "id": f"p{n}", "name": [{"family": "Tovej"}]}
            assert web.put(f"{base}/fhir/Patient/p{n}", json=patient).status_code == 201
        read = web.get(f"{b}/fhir/Patient/p0")  # written on a
        assert read.status_code == 200 and read.json()["name"][0]["family"] == "Tovej"
        assert read.headers["etag"] == 'W/"1"'

        first = web.get(f"{a}/fhir/Patient", params={"family": "Tovej", "_count": "2", "_sort": "_id"}).json()
        assert first["total"] == 5
        seen, page, turn = [e["resource"]["id"] for e in first["entry"]], first, 1
        while nxt := next((link["url"] for link in page["link"] if link["relation"] == "next"), None):
            there = (a, b)[turn % 2]  # the cursor made by one process, opened by the other
            page = web.get(there + "/fhir" + nxt.removeprefix(PUBLIC_BASE)).json()
            assert page["total"] == 5
            seen += [e["resource"]["id"] for e in page["entry"]]
            turn += 1
        assert seen == [f"p{n}" for n in range(5)]

        again = web.post(
            f"{b}/fhir/Patient",
            json={"resourceType": "Patient", "name": [{"family": "Tovej"}]},
            headers={"if-none-exist": "_id=p1"},
        )
        assert again.status_code == 200  # the one the other process wrote: no duplicate

        web.put(f"{b}/fhir/Patient/p0", json={"resourceType": "Patient", "id": "p0", "name": [{"family": "Tovej2"}]})
        history = web.get(f"{a}/fhir/Patient/p0/_history").json()
        assert [e["resource"]["meta"]["versionId"] for e in history["entry"]] == ["2", "1"]

    with httpx.Client(timeout=30) as browser:
        shown = browser.get(f"{a}/login")
        form = {"csrf": csrf_of(shown.text), "username": "nobody", "password": "wrong"}
        assert "lifeline-login-form" in browser.cookies  # cookies name a host, not a port: b gets it too
        answer = browser.post(f"{b}/login", data=form)
        assert answer.status_code == 200 and "Form refused" not in answer.text  # the other's form: accepted
