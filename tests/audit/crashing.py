"""What the crash tests share: a real `lifeline serve` process started in its own session (so that
a SIGKILL takes it and nothing else). Their database on each backend is conftest.py's `db`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx

from tests.replication.nodes import wait_until


def serve(db: str, port: int, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as handle:
        process = subprocess.Popen(
            [sys.executable, "-m", "lifeline.cli", "serve", "--db", db, "--port", str(port)],
            stdout=handle,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )

    def answers() -> bool:
        if process.poll() is not None:
            raise AssertionError(log.read_text()[-2000:])
        try:
            return httpx.get(f"http://127.0.0.1:{port}/fhir/metadata", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    wait_until(answers, 60, "the server to start")
    return process
