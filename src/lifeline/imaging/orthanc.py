"""Running Orthanc, Debian's PACS, for the demo and the tests (`lifeline images pacs`).

Production runs its PACS as its own service (docs/architecture.md "Images"); here a node's
operator or `make demo` starts one Orthanc per store folder: listening on loopback only, with its
DICOMweb plugin, no DICOM network port, no REST writes to the file system, no Lua. Lifeline then
speaks to it through DICOMweb alone, at http://127.0.0.1:<port>/dicom-web.
https://orthanc.uclouvain.be/book/users/configuration.html
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

PLUGIN_FOLDERS = ("/usr/share/orthanc/plugins", "/usr/lib/orthanc")
DICOMWEB_PLUGIN = "libOrthancDicomWeb.so"
NAME = "lifeline-pacs"
START_SECONDS = 30.0  # how long Orthanc may take to open its database and listen
INSTALL = "apt-get install -y orthanc orthanc-dicomweb (make pacs does it)"


class OrthancMissing(FileNotFoundError):
    """Orthanc or its DICOMweb plugin is not installed here."""


class OrthancFailed(OSError):
    """Orthanc did not start (or stopped at once)."""


@dataclass
class Orthanc:
    """One Orthanc over `folder`, listening on 127.0.0.1:`port`."""

    folder: Path
    port: int
    process: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/dicom-web"

    @property
    def pid_file(self) -> Path:
        return self.folder / "orthanc.pid"

    def config(self) -> dict[str, object]:
        storage = str((self.folder / "storage").resolve())
        return {
            "Name": NAME,
            "StorageDirectory": storage,
            "IndexDirectory": storage,
            "HttpPort": self.port,
            "HttpBindAddress": "127.0.0.1",  # Lifeline is the only client: the browser never comes here
            "RemoteAccessAllowed": False,
            "AuthenticationEnabled": False,
            "DicomServerEnabled": False,
            "ExecuteLuaEnabled": False,
            "RestApiWriteToFileSystemEnabled": False,
            "HttpCompressionEnabled": False,  # rendered frames are already compressed images
            "StorageCompression": False,
            "ConcurrentJobs": 2,
            "HttpThreadsCount": 16,
            "Plugins": [plugin()],
            "DicomWeb": {"Enable": True, "Root": "/dicom-web/", "EnableWado": False, "StudiesMetadata": "Full"},
        }

    def answers(self) -> bool:
        try:
            return httpx.get(f"http://127.0.0.1:{self.port}/system", timeout=1.0).json().get("Name") == NAME
        except (httpx.HTTPError, ValueError):
            return False

    def start(self, *, log: Path | None = None) -> subprocess.Popen[bytes] | None:
        """Start Orthanc in the background, unless ours already answers on the port; wait until
        it answers. None: it was already running."""
        if self.answers():
            return None
        binary = shutil.which("Orthanc") or shutil.which("Orthanc", path="/usr/sbin")
        if binary is None:
            raise OrthancMissing(f"Orthanc is not installed: {INSTALL}")
        (self.folder / "storage").mkdir(parents=True, exist_ok=True)
        config = self.folder / "orthanc.json"
        config.write_text(json.dumps(self.config(), indent=2))
        output = open(log or self.folder / "orthanc.log", "ab")  # noqa: SIM115 - the child keeps it
        process = subprocess.Popen([binary, str(config)], stdout=output, stderr=output, start_new_session=True)
        output.close()
        self.pid_file.write_text(str(process.pid))
        deadline = time.monotonic() + START_SECONDS
        while time.monotonic() < deadline:
            if process.poll() is not None:
                log_file = self.folder / "orthanc.log"
                raise OrthancFailed(f"Orthanc stopped at start (exit {process.returncode}); see {log_file}")
            if self.answers():
                self.process = process
                return process
            time.sleep(0.1)
        process.kill()
        raise OrthancFailed(f"Orthanc did not answer on port {self.port} within {START_SECONDS:.0f} s")

    def stop(self) -> bool:
        """Stop the Orthanc this folder started; False: none was running."""
        if self.process is not None:  # started by this object: wait for it, leaving no zombie
            self.process.terminate()
            self.process.wait(timeout=START_SECONDS)
            self.process = None
            self.pid_file.unlink(missing_ok=True)
            return True
        try:
            pid = int(self.pid_file.read_text())
        except (OSError, ValueError):
            return False
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            self.pid_file.unlink(missing_ok=True)
            return False
        deadline = time.monotonic() + START_SECONDS
        while time.monotonic() < deadline and self.answers():
            time.sleep(0.1)
        self.pid_file.unlink(missing_ok=True)
        return True


def plugin() -> str:
    for folder in PLUGIN_FOLDERS:
        candidate = Path(folder) / DICOMWEB_PLUGIN
        if candidate.exists():
            return str(candidate)
    found = sorted(Path("/usr/lib/orthanc").glob(DICOMWEB_PLUGIN + "*")) if Path("/usr/lib/orthanc").exists() else []
    if found:
        return str(found[0])
    raise OrthancMissing(f"Orthanc's DICOMweb plugin is not installed: {INSTALL}")
