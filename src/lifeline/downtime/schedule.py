"""A site node making its downtime reports again every LIFELINE_DOWNTIME_MINUTES (issue 23):
one background thread, started and stopped with the node (as the audit indexer and the
replication loop are), that runs the same export as `lifeline downtime export --all`.

It reads as the site node itself (`site:<node id>`, read and search only: `site_reader` in
identity/principal.py), through the core's audited entry, so every run is on the trail. A
failed run is logged and tried again next time; it never stops the node. Nothing runs when no
key is set or the interval is 0."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from lifeline.config import Settings
from lifeline.downtime import export
from lifeline.fhir.service import FhirService
from lifeline.identity.principal import site_reader

log = logging.getLogger("lifeline.downtime")
CLIENT = "lifeline-downtime"


class Regenerator:
    """Makes every ward's and clinic's report now, then again each `every_seconds`."""

    def __init__(
        self, service: FhirService, settings: Settings | None = None, every_seconds: float | None = None
    ) -> None:
        self.service = service
        self.settings = settings or service.settings
        self.every = every_seconds if every_seconds is not None else self.settings.downtime_minutes * 60
        self.runs = 0
        self.last_error: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.on_run: Callable[[int], None] = lambda runs: None

    @classmethod
    def for_node(cls, service: FhirService) -> Regenerator | None:
        """The regenerator of a site node with a key and an interval; None elsewhere."""
        settings = service.settings
        if settings.role != "site" or not settings.downtime_key or settings.downtime_minutes <= 0:
            return None
        return cls(service)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="lifeline-downtime", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def run_once(self) -> list[export.Made]:
        core = self.service.as_user(site_reader(self.settings.node_id, CLIENT), None, "HOPERAT")
        return export.run(core, self.settings, export.plan(core, [], [], True), self.service.clock())

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                made = self.run_once()
                self.last_error = None
                log.info("downtime reports made: %d", len(made))
            except Exception as error:  # noqa: BLE001 (a failed run must not stop the node)
                self.last_error = str(error)
                log.exception("downtime reports could not be made")
            self.runs += 1
            self.on_run(self.runs)
            self._stop.wait(self.every)
