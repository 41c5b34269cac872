"""`lifeline serve` hands every option to its server processes: a node started with --port
advertises its issuer, OAuth endpoints and links on that port, not on the default 8080."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from lifeline.config import SettingError, from_environment, to_environment
from lifeline.identity.keys import new_kek
from tests.replication.nodes import free_port


def test_serve_advertises_the_port_it_was_given(tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    # Nothing from the environment may say where the node is: only the command line does.
    env = {k: v for k, v in os.environ.items() if k not in ("LIFELINE_PORT", "LIFELINE_HOST", "LIFELINE_ISSUER")}
    env |= {"LIFELINE_KEK": new_kek(), "LIFELINE_BASE_URL": ""}
    command = [sys.executable, "-m", "lifeline.cli", "serve", "--db", f"sqlite:///{tmp_path / 'node.db'}"]
    command += ["--host", "127.0.0.1", "--port", str(port), "--workers", "2"]
    log = tmp_path / "serve.log"
    with log.open("wb") as handle:
        process = subprocess.Popen(command, stdout=handle, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    try:
        configuration = _first_answer(f"{base}/.well-known/openid-configuration", process, log)
        assert configuration["issuer"] == base
        assert configuration["token_endpoint"] == f"{base}/oauth/token"
        smart = httpx.get(f"{base}/fhir/.well-known/smart-configuration", timeout=5).json()
        assert smart["authorization_endpoint"] == f"{base}/oauth/authorize"
        metadata = httpx.get(f"{base}/fhir/metadata", timeout=5).json()
        assert f"{base}/oauth/token" in str(metadata["rest"][0]["security"])
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)


def test_every_resolved_setting_survives_the_trip_through_the_environment() -> None:
    options = {"db": "sqlite:///x.db", "host": "::1", "port": 9123, "workers": 2, "node_id": "central"}
    resolved = from_environment({"LIFELINE_ALLOWED_HOSTS": "a.example:443", "LIFELINE_TOKEN_MINUTES": "5"}, **options)
    assert from_environment(to_environment(resolved)) == resolved


@pytest.mark.parametrize("variable", ["LIFELINE_AUTH", "LIFELINE_AUDIT"])
def test_serve_refuses_the_switches_that_turned_off_authorisation_and_the_trail(tmp_path: Path, variable: str) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("LIFELINE_AUTH", "LIFELINE_AUDIT")} | {variable: "off"}
    db = tmp_path / "node.db"
    command = [sys.executable, "-m", "lifeline.cli", "serve", "--db", f"sqlite:///{db}", "--port", str(free_port())]
    refused = subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)
    assert refused.returncode == 1
    (line,) = refused.stderr.strip().splitlines()
    assert line.startswith(f"lifeline: error: {variable} is no longer a setting: ") and "cannot be switched off" in line
    assert not db.exists()  # refused before anything was opened


@pytest.mark.parametrize("value", ["off", "required", "on"])
def test_the_removed_switches_are_refused_whatever_their_value(value: str) -> None:
    for variable in ("LIFELINE_AUTH", "LIFELINE_AUDIT"):
        with pytest.raises(SettingError, match=f"^{variable} is no longer a setting"):
            from_environment({variable: value})


def _first_answer(url: str, process: subprocess.Popen[bytes], log: Path) -> dict:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"serve exited: {log.read_text()[-2000:]}")
        try:
            answer = httpx.get(url, timeout=1)
            if answer.status_code == 200:
                return dict(answer.json())
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"serve did not answer within 60 s: {log.read_text()[-2000:]}")
