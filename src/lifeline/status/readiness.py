"""Whether this node is ready for requests (issue 28): what `/readyz` answers a load balancer.

- `database`: the database answers one small read within LIFELINE_READY_TIMEOUT_MS;
- `migrations`: that read finds every migration this code knows applied (storage/migrations.py):
  a node started on an older schema, or beside a newer one being migrated, is not ready;
- `shedding`: the node is not refusing work to protect itself: the app passes its admission
  control's `Gate.shedding` (web/admission.py); `sheds()`, never, is for a check without one.

Liveness (`/healthz`) asks nothing of this: a node whose database is down is alive and not ready.

One read at a time: while the database has not answered the last, later probes wait for that same
answer, so a hung database ties up one thread, not one per probe. The answer names the check
that failed and never the driver's message (the probe is public).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Callable
from dataclasses import dataclass

from lifeline.storage.repository import Repository


def sheds() -> bool:
    """Never shedding: the check of a node without admission control (the app passes its own,
    web/admission.py `Gate.shedding`)."""
    return False


@dataclass(frozen=True)
class Check:
    name: str  # database | migrations | shedding
    ok: bool
    detail: str


@dataclass(frozen=True)
class Readiness:
    checks: tuple[Check, ...]

    @property
    def ready(self) -> bool:
        return all(check.ok for check in self.checks)

    def failed(self) -> list[str]:
        return [check.name for check in self.checks if not check.ok]


class ReadinessCheck:
    """The checks over one repository, the database's allowed in `timeout_seconds`."""

    def __init__(self, repo: Repository, timeout_seconds: float, shedding: Callable[[], bool] = sheds) -> None:
        self._repo = repo
        self._timeout = timeout_seconds
        self._shedding = shedding
        self._thread = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="lifeline-ready")
        self._asking: concurrent.futures.Future[list[int]] | None = None

    async def answer(self) -> Readiness:
        if self._asking is None or self._asking.done():
            self._asking = self._thread.submit(self._repo.migrations_missing)
        try:
            missing = await asyncio.wait_for(asyncio.shield(asyncio.wrap_future(self._asking)), self._timeout)
        except TimeoutError:
            database = Check("database", False, f"no answer within {round(self._timeout * 1000)} ms")
            migrations = Check("migrations", False, "unknown: the database did not answer")
        except Exception:  # noqa: BLE001 - any failure to read is what this check reports
            database = Check("database", False, "the read failed")
            migrations = Check("migrations", False, "unknown: the database did not answer")
        else:
            database = Check("database", True, "answers")
            behind = f"{len(missing)} not applied: {', '.join(map(str, missing))}; run `lifeline db upgrade`"
            migrations = Check("migrations", not missing, behind if missing else "current")
        shedding = self._shedding()
        return Readiness((database, migrations, Check("shedding", not shedding, "shedding" if shedding else "no")))

    def close(self) -> None:
        """Stop taking checks; one waiting on a hung database is left to end by itself."""
        self._thread.shutdown(wait=False, cancel_futures=True)
