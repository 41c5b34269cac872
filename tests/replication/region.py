"""A whole region as real processes on loopback: a central node on PostgreSQL and site nodes (on
SQLite or PostgreSQL), each site reaching the centre through its own fault-injecting proxy, and
clinicians' clients that keep reading and writing at every site while the tests break things.

Used by the fault-injection suite (test_faults.py) and the replication benchmark (bench/).
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
from joserfc.jwk import ECKey

from lifeline.identity.keys import new_kek
from lifeline.storage import open_repository
from lifeline.storage.matching import Match
from lifeline.storage.packing import unpack
from tests.replication.fault_proxy import FaultProxy
from tests.replication.nodes import free_port, wait_until

CLIENT = "ward-app"
SCOPES = "system/*.cruds"


def lifeline(*args: str, env: dict[str, str], wrapper: list[str] | None = None) -> str:
    done = subprocess.run(
        [*(wrapper or []), sys.executable, "-m", "lifeline.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    if done.returncode != 0:
        raise AssertionError(f"lifeline {' '.join(args[:2])} failed: {done.stderr}")
    return done.stdout.strip()


@dataclass
class Node:
    """One server process (stopped, killed and started again at will, on the same port)."""

    name: str
    db: str
    port: int
    env: dict[str, str]
    args: list[str]
    log: Path
    process: subprocess.Popen[bytes] | None = None
    wrapper: list[str] = field(default_factory=list)  # e.g. faketime, for a skewed clock

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        handle = self.log.open("ab")
        command = [*self.wrapper, sys.executable, "-m", "lifeline.cli", "serve", "--db", self.db]
        command += ["--port", str(self.port), *self.args]
        # Its own process group: a kill takes the server's worker processes with it.
        env = {**self.env, "LIFELINE_LOG_DIR": str(self.log.with_suffix(""))}  # its JSON log beside its output
        self.process = subprocess.Popen(
            command, stdout=handle, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
        handle.close()
        wait_until(self._answers, 60, f"{self.name} to start (see {self.log})")

    def _answers(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            raise AssertionError(f"{self.name} exited: {self.log.read_text()[-3000:]}")
        try:
            return httpx.get(f"{self.url}/status.json", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def kill(self) -> None:
        """SIGKILL: no shutdown, no flush, as when a machine dies."""
        if self.process is not None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)
            self.process = None

    def stop(self) -> None:
        if self.process is not None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)
            self.process = None

    def status(self) -> dict[str, Any]:
        answer: dict[str, Any] = httpx.get(f"{self.url}/status.json", timeout=5).json()
        return answer


class Region:
    def __init__(self, folder: Path, central_db: str) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.kek = new_kek()
        port = free_port()
        self.env = {
            **os.environ,
            "LIFELINE_KEK": self.kek,
            "LIFELINE_ISSUER": f"http://127.0.0.1:{port}",
            "LIFELINE_TOKEN_LEEWAY_SECONDS": "5",
        }
        # Two stateless API processes on one PostgreSQL database: sites talk to either.
        self.central = Node("central", central_db, port, self.env, ["--workers", "2"], folder / "central.log")
        self.sites: dict[str, Node] = {}
        self.proxies: dict[str, FaultProxy] = {}

    def setup(self, patients: int = 8) -> None:
        lifeline("db", "upgrade", "--db", self.central.db, env=self.env)
        jwks = self.folder / "ward-app.jwks.json"
        jwks.write_text(json.dumps({"keys": [ECKey.generate_key("P-256").as_dict(private=False)]}))
        lifeline("clients", "add", CLIENT, "--kind", "backend", "--scope", SCOPES, "--jwks", str(jwks),
                 "--db", self.central.db, env=self.env)  # fmt: skip
        out = self.folder / "region"
        lifeline("generate", "--patients", str(patients), "--seed", "7", "--no-images", "--out", str(out), env=self.env)
        lifeline("import", *sorted(str(p) for p in out.glob("*.ndjson")), "--db", self.central.db, env=self.env)
        self.token()  # the centre's signing key exists, and replicates, before any site starts
        self.central.start()

    def add_site(self, site_id: str, db: str, *, wrapper: list[str] | None = None, **env: str) -> Node:
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        credential = lifeline("sites", "add", site_id, "--url", url, "--db", self.central.db, env=self.env)
        proxy = FaultProxy("127.0.0.1", self.central.port).start()
        self.proxies[site_id] = proxy
        site_env = {
            **self.env,
            "LIFELINE_ISSUER": url,
            "LIFELINE_TRUSTED_ISSUERS": self.central.url,
            "LIFELINE_SITE_CREDENTIAL": credential.splitlines()[-1],
            "LIFELINE_REPLICATION_POLL_MS": "100",
            "LIFELINE_CENTRAL_TIMEOUT_MS": "700",
            "LIFELINE_CONTINUITY_AFTER_FAILURES": "2",
            **env,
        }
        args = ["--role", "site", "--site-id", site_id, "--central", proxy.url]
        node = Node(site_id, db, port, site_env, args, self.folder / f"{site_id}.log", wrapper=wrapper or [])
        self.sites[site_id] = node
        node.start()
        return node

    def token(self, minutes: int = 60) -> str:
        """A token from the centre's key (the CLI acts as the centre): valid at every node."""
        return lifeline("token", "issue", "--client", CLIENT, "--scope", SCOPES, "--minutes", str(minutes),
                        "--db", self.central.db, env=self.env)  # fmt: skip

    def site_token(self, site_id: str, minutes: int = 60) -> str:
        """A token signed by a site's own key, as after a login there (no call to the centre)."""
        site = self.sites[site_id]
        return lifeline(
            "token",
            "issue",
            "--client",
            CLIENT,
            "--scope",
            SCOPES,
            "--minutes",
            str(minutes),
            "--db",
            site.db,
            env={**site.env, "LIFELINE_NODE_ID": site_id},
            wrapper=site.wrapper,
        )  # fmt: skip  (the site's own clock signs it)

    def wait_converged(self, timeout: float = 90) -> str:
        """Every site connected, with nothing left to send, and every node's checksum equal."""
        seen: dict[str, Any] = {}

        def converged() -> bool:
            seen.clear()
            for site_id, site in self.sites.items():
                status = site.status()
                seen[site_id] = status
                if status["mode"] != "connected" or status["pendingLocalChanges"] or status["behind"]:
                    return False
            sums = {node.name: checksum(node.db) for node in [self.central, *self.sites.values()]}
            seen["checksums"] = sums
            return len(set(sums.values())) == 1

        try:
            wait_until(converged, timeout, "every node to converge on the same record")
        except AssertionError as error:
            raise AssertionError(f"{error}; last seen: {seen}; differences: {self.differences()}") from None
        return checksum(self.central.db)

    def differences(self, limit: int = 5) -> dict[str, list[str]]:
        """The first resources in which each site differs from the centre (for a failure's message)."""
        central = current_rows(self.central.db)
        found: dict[str, list[str]] = {}
        for site_id, site in self.sites.items():
            rows = current_rows(site.db)
            keys = sorted(set(central) | set(rows))
            found[site_id] = [
                f"{k}: centre {central.get(k, (None,))[0]} site {rows.get(k, (None,))[0]}"
                for k in keys
                if central.get(k) != rows.get(k)
            ][:limit]
        return found

    def close(self) -> None:
        for site in self.sites.values():
            site.stop()
        for proxy in self.proxies.values():
            proxy.stop()
        self.central.stop()


def current_rows(db: str) -> dict[tuple[str, str], tuple[int, bool, Any]]:
    """Every current resource and record: (type, id) -> (version, deleted, content as data)."""
    repo = open_repository(db)
    try:
        with repo.reading() as session:
            rows = session._all("SELECT res_type, res_id, version_id, deleted, content FROM resource")
    finally:
        repo.close()
    return {(t, i): (int(v), bool(d), None if c is None else orjson.loads(unpack(c) or "")) for t, i, v, d, c in rows}


def checksum(db: str) -> str:
    """A digest over every current resource and record (type, id, version, content as data)."""
    digest = hashlib.sha256()
    for key, row in sorted(current_rows(db).items()):
        digest.update(orjson.dumps([*key, *row], option=orjson.OPT_SORT_KEYS))
    return digest.hexdigest()


@dataclass
class Ward:
    """A clinician's client at one site: reads known resources and writes new Observations, and
    keeps the score: every read that failed, every write that was confirmed (with its content)."""

    base: str
    token: str
    patients: list[str]
    read_failures: list[str] = field(default_factory=list)
    write_failures: list[str] = field(default_factory=list)
    confirmed: dict[str, float] = field(default_factory=dict)  # Observation id -> value written
    reads: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(60)

    def _run(self) -> None:
        chance = random.Random(1)
        headers = {"authorization": f"Bearer {self.token}", "content-type": "application/fhir+json"}
        with httpx.Client(base_url=f"{self.base}/fhir", headers=headers, timeout=10) as http:
            while not self._stop.is_set():
                patient = chance.choice(self.patients)
                self._read(http, patient)
                if chance.random() < 0.5:
                    self._write(http, patient, round(chance.uniform(35, 41), 1))
                time.sleep(0.02)

    def _read(self, http: httpx.Client, patient: str) -> None:
        try:
            answer = http.get(f"/Patient/{patient}")
            self.reads += 1
            if answer.status_code != 200:
                self.read_failures.append(f"{answer.status_code} {answer.text[:200]}")
        except httpx.HTTPError as error:
            self.read_failures.append(repr(error))

    def _write(self, http: httpx.Client, patient: str, value: float) -> None:
        body = {
            "resourceType": "Observation",
            "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": "8310-5", "display": "Body temperature"}]},
            "subject": {"reference": f"Patient/{patient}"},
            "valueQuantity": {"value": value, "unit": "Cel", "system": "http://unitsofmeasure.org", "code": "Cel"},
        }
        try:
            answer = http.post("/Observation", content=orjson.dumps(body))
        except httpx.HTTPError as error:
            self.write_failures.append(repr(error))
            return
        if answer.status_code == 201:
            self.confirmed[answer.json()["id"]] = value
        else:
            self.write_failures.append(f"{answer.status_code} {answer.text[:200]}")


def patients_of(db: str, limit: int = 20) -> list[str]:
    repo = open_repository(db)
    try:
        with repo.reading() as session:
            return [v.res_id for v in session.search("Patient", Match(), after_key=None, limit=limit)]
    finally:
        repo.close()


def missing_at(db: str, confirmed: dict[str, float]) -> list[str]:
    """Confirmed Observations that are not at `db` with the value written."""
    repo = open_repository(db)
    lost: list[str] = []
    try:
        for res_id, value in confirmed.items():
            stored = repo.read("Observation", res_id)
            if (
                stored is None
                or stored.deleted
                or orjson.loads(stored.content or "{}")["valueQuantity"]["value"] != value
            ):
                lost.append(res_id)
    finally:
        repo.close()
    return lost


def during(action: Callable[[], None], seconds: float) -> None:
    action()
    time.sleep(seconds)
