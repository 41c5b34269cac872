"""A central node and site nodes in this test process: the centre is a real uvicorn server on a
loopback port (it can be stopped and started again on the same port, as after a crash); a site is
its ASGI app under a TestClient, whose lifespan runs the site's replication loop for real."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import uvicorn
from starlette.testclient import TestClient

from lifeline.config import Settings
from lifeline.fhir.service import FhirService
from lifeline.identity import sites
from lifeline.identity.keys import new_kek
from lifeline.storage import open_repository
from lifeline.web.app import create_app, site_node
from tests.conftest import database_url, dispose

REGION_KEK = new_kek()  # one key-encryption key for the region: users' TOTP secrets open anywhere
SCOPES = "system/*.cruds"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_until(condition: Callable[[], bool], timeout: float = 20.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


class CentralNode:
    def __init__(self, backend: str, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.settings = Settings(db=database_url(backend, folder), issuer=self.url, kek=REGION_KEK, port=self.port)
        self.repo = open_repository(self.settings.db)
        self.repo.migrate()
        self.service = FhirService(self.repo, self.settings)
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        app = create_app(self.service, close_on_shutdown=False)
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="on")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        wait_until(lambda: self._server is not None and self._server.started, 10, "the centre to listen")

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(10)
        self._server = None

    def add_site(self, site_id: str, url: str, **options: Any) -> str:
        return sites.add_site(self.repo, site_id, url, **options)

    def token(self) -> str:
        return self.service.identity.issue(subject="tests", client_id="tests", scopes=SCOPES, lifetime=3600)

    def close(self) -> None:
        self.stop()
        if self.service.auditor is not None:
            self.service.auditor.close()
        dispose(self.repo)


class SiteNode:
    """A site's app under a TestClient; `.node` is its replication (lifeline.replication.site)."""

    def __init__(
        self,
        central: CentralNode,
        site_id: str,
        backend: str,
        folder: Path,
        site_options: dict[str, Any] | None = None,
        client: bool = True,
        **settings: Any,
    ) -> None:
        """`client=False`: no TestClient (and no replication loop) here; the caller serves
        `.app` itself, a real server whose lifespan runs the loop (the browser tests)."""
        folder.mkdir(parents=True, exist_ok=True)
        url = f"http://{site_id}.test"
        credential = central.add_site(site_id, url, **(site_options or {}))
        self.credential = credential
        base = Settings(
            db=database_url(backend, folder),
            node_id=site_id,
            role="site",
            central=central.url,
            site_credential=credential,
            issuer=url,
            kek=REGION_KEK,
            replication_poll_ms=100,
            central_timeout_ms=500,
            continuity_after_failures=2,
        )
        self.settings = replace(base, **settings)
        self.repo = open_repository(self.settings.db, node_id=site_id)
        self.repo.migrate()
        self.service = FhirService(self.repo, self.settings)
        self.node = site_node(self.service)
        assert self.node is not None
        self.app = create_app(self.service, close_on_shutdown=False, site=self.node)
        self.client: TestClient | None = None
        if client:
            self.client = TestClient(self.app, base_url=url)
            self.client.__enter__()

    def token(self) -> str:
        return self.service.identity.issue(subject="tests", client_id="tests", scopes=SCOPES, lifetime=3600)

    def close(self) -> None:
        if self.client is not None:
            self.client.__exit__(None, None, None)
        if self.service.auditor is not None:
            self.service.auditor.close()
        dispose(self.repo)
