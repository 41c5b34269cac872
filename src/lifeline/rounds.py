"""A node's background rounds: one daemon thread doing one piece of work every few seconds until
the node stops. A round that fails is logged and the next one tries again: background upkeep
(indexing the audit trail, the planner's statistics) must never stop the node."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any


class Rounds:
    """`work` (its answer unused) every `every_seconds` in a thread called `name`, from `start`
    until `stop`; a round that raises is logged to `log` as `failed`, with its traceback."""

    def __init__(
        self, name: str, work: Callable[[], Any], every_seconds: float, log: logging.Logger, failed: str
    ) -> None:
        self.every_seconds = every_seconds
        self._work, self._log, self._failed = work, log, failed
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(30)

    def _run(self) -> None:
        while not self._stop.wait(self.every_seconds):
            try:
                self._work()
            except Exception:  # noqa: BLE001 - the next round tries again; upkeep never stops the node
                self._log.exception(self._failed)
