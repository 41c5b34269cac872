"""A real `lifeline serve` process on loopback, for the tests that drive it over HTTP: started on
a free port with its own key-encryption key file, waited for (bounded) until /healthz answers,
and stopped (SIGTERM to its process group, SIGKILL if it will not go) with its database disposed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from lifeline.storage import open_repository
from tests.conftest import dispose
from tests.replication.nodes import free_port

LIFELINE = [sys.executable, "-m", "lifeline.cli"]


@dataclass
class Served:
    port: int
    process: subprocess.Popen[bytes]
    db: str
    env: dict[str, str]  # the server's environment: a command line run with it shares its key and port
    log: Path

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base(self) -> str:
        return f"{self.origin}/fhir"

    def cli(self, *args: str) -> str:
        """`lifeline ARGS` against this server's database, as an operator runs it beside the server."""
        done = subprocess.run([*LIFELINE, *args, "--db", self.db], capture_output=True, text=True, env=self.env)
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()


@contextmanager
def serving(
    db: str, folder: Path, *, env: Mapping[str, str] = {}, args: tuple[str, ...] = (), keep_db: bool = False
) -> Iterator[Served]:
    """`lifeline serve --db DB` until the block ends; `env` adds to (or overrides) the environment."""
    port = free_port()
    environment = {
        **os.environ,
        "LIFELINE_KEK_FILE": str(folder / "lifeline.kek"),
        "LIFELINE_PORT": str(port),  # the issuer of the tokens `lifeline token issue` prints
        **env,
    }
    log = folder / f"serve-{port}.log"
    with log.open("wb") as handle:
        process = subprocess.Popen(
            [*LIFELINE, "serve", "--db", db, "--host", "127.0.0.1", "--port", str(port), *args],
            stdout=handle,
            stderr=subprocess.STDOUT,
            env=environment,
            start_new_session=True,
        )
    served = Served(port, process, db, environment, log)
    try:
        wait_for(served.origin, process, log)
        yield served
    finally:
        stop(served)
        if not keep_db:
            dispose(open_repository(db))  # a test's PostgreSQL schema goes with it


def wait_for(origin: str, process: subprocess.Popen[bytes], log: Path) -> None:
    """Until the server at `origin` answers /healthz (bounded); its log's tail if it stops or never does."""
    for _ in range(300):  # up to 30 s of pauses, and each probe's own second at most
        if process.poll() is not None:
            raise AssertionError(f"the server stopped:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(f"{origin}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"the server did not answer:\n{log.read_text()[-3000:]}")


def stop(served: Served) -> None:
    if served.process.poll() is None:
        os.killpg(served.process.pid, signal.SIGTERM)
    try:
        served.process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(served.process.pid, signal.SIGKILL)
        served.process.wait(timeout=10)
