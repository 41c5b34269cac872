#!/usr/bin/env python3
"""What `make demo` meets on a fresh machine, checked on every `make test` (issue 20): the runtime
dependencies alone (no dev extras) installed into a new virtual environment, every module of the
package imported, a resource's JSON packed and unpacked with the shipped dictionary, a search
parameter's number read from the shipped list, and
`lifeline serve` started on a new SQLite database, answering `/fhir/metadata`, the login page,
and the landing page in Danish with its stylesheet (the dictionary, the translations and the
static files are package data). A module imported by src/ but installed only
by the dev extras fails here, not on a newcomer's laptop.

Usage, from the project root: python3 tools/fresh_install_check.py
Exit 0 when all is well; otherwise one line saying what failed (and the server's log).
Standard library only: it runs before, and apart from, the project's own environment.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

IMPORT_ALL = """
import importlib, pkgutil, lifeline
names = [m.name for m in pkgutil.walk_packages(lifeline.__path__, "lifeline.") if not m.name.endswith(".__main__")]
for name in names:
    importlib.import_module(name)
print(f"imported {len(names)} modules")
# The stored JSON's dictionary is package data: without it no resource could be written.
from lifeline.storage import packing
text = '{"resourceType":"Patient","id":"p","name":[{"family":"Nielsen","given":["Karen","Marie"]}],"gender":"female"}'
assert packing.unpack(packing.pack("Patient", text)) == text
# So are the search parameters' numbers: without them no index row could be written or read.
from lifeline.storage import param_numbers
assert param_numbers.parameter(param_numbers.number("Patient", "name")) == ("Patient", "name")
"""


def fail(message: str) -> None:
    print(f"fresh install check: {message}", file=sys.stderr)
    sys.exit(1)


def run(*args: str, cwd: Path | None = None) -> None:
    done = subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=900)
    if done.returncode != 0:
        fail(f"{' '.join(args[:3])} … failed:\n{(done.stdout + done.stderr)[-3000:]}")
    if done.stdout.strip():
        print(done.stdout.strip().splitlines()[-1])


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def fetch(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status, response.headers.get("content-type", "")
    except urllib.error.HTTPError as error:
        return error.code, ""


def fetch_text(url: str, headers: dict[str, str]) -> str:
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=2) as response:
        return str(response.read().decode())


def check_package_data(base: str, log_path: Path) -> None:
    """The landing page in Danish (the .po is package data) and its hashed stylesheet (so is the .css)."""
    page = fetch_text(f"{base}/", {"Accept-Language": "da"})
    stylesheet = re.search(r'<link rel="stylesheet" href="(/static/app\.[0-9a-f]+\.css)"', page)
    if "Log ind" not in page or not stylesheet:
        fail(f"the landing page is not in Danish or links no stylesheet:\n{page[:2000]}")
        return
    status, kind = fetch(base + stylesheet.group(1))
    if status != 200 or not kind.startswith("text/css"):
        fail(f"the stylesheet answered {status} {kind}:\n{log_path.read_text()[-3000:]}")


def main() -> None:
    root = Path.cwd()
    with tempfile.TemporaryDirectory(prefix="lifeline-fresh-") as folder:
        work = Path(folder)
        python = work / "venv" / "bin" / "python"
        run(sys.executable, "-m", "venv", str(work / "venv"))
        # A copy of what a clone holds, so that building the package leaves nothing in the tree.
        project = work / "project"
        shutil.copytree(root / "src", project / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        for name in ("pyproject.toml", "README.md", "constraints.txt"):
            shutil.copy(root / name, project / name)
        run(str(python), "-m", "pip", "install", "-q", "-c", str(project / "constraints.txt"), str(project))
        run(str(python), "-c", IMPORT_ALL, cwd=work)  # not from the source tree: the installed package
        port = free_port()
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("LIFELINE_")},
            "LIFELINE_KEK_FILE": str(work / "lifeline.kek"),
        }
        log = (work / "serve.log").open("wb")
        server = subprocess.Popen(
            [str(work / "venv" / "bin" / "lifeline"), "serve", "--db", f"sqlite:///{work / 'fresh.db'}",
             "--port", str(port)],
            cwd=work, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True,
        )  # fmt: skip
        try:
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 60
            status = 0
            while time.monotonic() < deadline and server.poll() is None:
                try:
                    status, _ = fetch(f"{base}/fhir/metadata")
                except (urllib.error.URLError, OSError):
                    status = 0
                if status == 200:
                    break
                time.sleep(0.3)
            if status != 200:
                fail(f"lifeline serve did not answer /fhir/metadata:\n{(work / 'serve.log').read_text()[-3000:]}")
            status, kind = fetch(f"{base}/login")
            if status != 200 or not kind.startswith("text/html"):
                fail(f"the login page answered {status} {kind}:\n{(work / 'serve.log').read_text()[-3000:]}")
            check_package_data(base, work / "serve.log")
            print(f"lifeline serve answered /fhir/metadata, /login, / (in Danish) and app.css ({base})")
        finally:
            server.terminate()
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                server.kill()
            log.close()


if __name__ == "__main__":
    main()
