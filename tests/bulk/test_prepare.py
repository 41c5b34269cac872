"""The import's worker processes end with the import, even one killed with SIGKILL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path


def _children(pid: int) -> set[int]:
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").glob("*"):
        text = (task / "children").read_text() if (task / "children").exists() else ""
        found.update(int(p) for p in text.split())
    return found


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"


def test_workers_exit_when_the_import_is_killed(tmp_path):
    ndjson = tmp_path / "many.ndjson"
    with ndjson.open("w") as out:
        for i in range(200_000):
            out.write(json.dumps({"resourceType": "Patient", "id": f"p{i}", "name": [{"family": f"Holm{i}"}]}) + "\n")
    db = f"sqlite:///{tmp_path / 'l.db'}"
    subprocess.run([sys.executable, "-m", "lifeline.cli", "db", "upgrade", "--db", db], check=True, capture_output=True)
    importer = subprocess.Popen(
        [sys.executable, "-m", "lifeline.cli", "import", str(ndjson), "--db", db, "--batch-size", "100"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        workers: set[int] = set()
        for _ in range(600):  # up to 60 s for the workers to start
            workers = _children(importer.pid)
            if len(workers) >= 2:
                break
            time.sleep(0.1)
        assert workers, "the import started no worker processes"
        importer.send_signal(signal.SIGKILL)
        importer.wait(timeout=10)
        for _ in range(100):  # they notice within about a second; the resource tracker follows them
            if not any(_alive(w) for w in workers):
                break
            time.sleep(0.1)
        assert not any(_alive(w) for w in workers)
    finally:
        if importer.poll() is None:
            importer.kill()
            importer.wait()
