"""The demo's citizen identity provider: a real OpenID Connect provider on loopback standing in
for MitID, so that `make demo` has a patient login (issue 25). It is oidc-provider-mock (a Flask
app on authlib, https://github.com/geigerzaehler/oidc-provider-mock), the provider the tests log
in through; its login page lists the demo citizens as buttons, and each one's ID token carries
the CPR number of a generated patient (`cpr` claim, what identity/citizen.py matches on).

Demo only, and installed only with the `demo` extra (`pip install 'lifeline[demo]'`, which
`make demo` does): it vouches for whoever presses a button. It accepts any client (no
registration), so Lifeline's client id and secret below are placeholders.

`start()` runs the package's own command, `oidc-provider-mock`, in the background (left running
between runs, as the demo's PACS is; `stop()` ends it) and registers the citizens with
`PUT /users/<sub>`, again when it already runs, since it keeps its users in memory. Lifeline
never imports the package: a server's installation holds nothing that vouches for anyone.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

PORT = 8143
CLIENT_ID = "lifeline-demo"
CLIENT_SECRET = "demo-only"  # noqa: S105 - the demo provider registers no clients and checks no secret
START_SECONDS = 15.0
INSTALL = "the demo's citizen login needs the demo extra: pip install -c constraints.txt -e '.[demo]'"


class ProviderFailed(RuntimeError):
    """The demo provider could not be started or did not answer."""


@dataclass(frozen=True)
class DemoCitizen:
    """A demo citizen: the button at the provider, and the claims their ID token carries."""

    subject: str
    cpr: str
    name: str
    about: str  # what their record shows, for the printed list


def issuer(port: int = PORT) -> str:
    return f"http://127.0.0.1:{port}"


def answers(port: int = PORT) -> bool:
    """Whether an OpenID provider answers discovery on the port."""
    try:
        document = httpx.get(f"{issuer(port)}/.well-known/openid-configuration", timeout=1.0).json()
    except (httpx.HTTPError, ValueError):
        return False
    return isinstance(document, dict) and document.get("issuer") == issuer(port)


def register(citizens: Sequence[DemoCitizen], port: int = PORT) -> None:
    """Give the running provider the citizens (their claims); safe to repeat."""
    with httpx.Client(timeout=5.0) as client:
        for citizen in citizens:
            claims = {"cpr": citizen.cpr, "name": citizen.name}
            client.put(f"{issuer(port)}/users/{citizen.subject}", json=claims).raise_for_status()


def start(citizens: Sequence[DemoCitizen], folder: Path, port: int = PORT) -> subprocess.Popen[bytes] | None:
    """Start the provider in the background unless one answers on the port, then register the
    citizens. The process started, or None: it was already running."""
    started = None
    if not answers(port):
        folder.mkdir(parents=True, exist_ok=True)
        output = open(folder / "citizen-provider.log", "ab")  # noqa: SIM115 - the child keeps it
        command = [_command(), "--port", str(port), "--require-nonce", "true"]  # as MitID's broker requires
        for c in citizens:  # a button each on its login page
            command += ["--user-claims", json.dumps({"sub": c.subject, "cpr": c.cpr, "name": c.name})]
        quiet = {**os.environ, "PYTHONWARNINGS": "ignore::DeprecationWarning"}  # it still imports authlib.jose
        process = subprocess.Popen(command, stdout=output, stderr=output, start_new_session=True, env=quiet)
        output.close()
        (folder / "citizen-provider.pid").write_text(str(process.pid))
        deadline = time.monotonic() + START_SECONDS
        while not answers(port):
            if process.poll() is not None:
                raise ProviderFailed(f"the citizen provider stopped at start; see {folder / 'citizen-provider.log'}")
            if time.monotonic() > deadline:
                process.kill()
                raise ProviderFailed(f"the citizen provider did not answer on port {port} within {START_SECONDS:.0f} s")
            time.sleep(0.1)
        started = process
    register(citizens, port)
    return started


def stop(folder: Path, process: subprocess.Popen[bytes] | None = None) -> bool:
    """Stop the provider `start` started (`process`: waited for, leaving no zombie); False: none was running."""
    pid_file = folder / "citizen-provider.pid"
    if process is not None:
        process.terminate()
        process.wait(timeout=START_SECONDS)
        pid_file.unlink(missing_ok=True)
        return True
    try:
        pid = int(pid_file.read_text())
    except (OSError, ValueError):
        return False
    pid_file.unlink(missing_ok=True)
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return False
    return True


def _command() -> str:
    """The provider's command, installed beside this Python by the demo extra."""
    beside = Path(sys.executable).parent / "oidc-provider-mock"
    found = str(beside) if beside.exists() else shutil.which("oidc-provider-mock")
    if found is None:
        raise ProviderFailed(INSTALL)
    return found
