"""What /status, /status.json and every page's incident banner show, computed at most once per
`MAX_AGE_SECONDS` per process (issue 23).

/status is public and will be refreshed by everyone during an outage: one computation (the open
incidents by their partial index, the last resolved ones, the registered sites) serves every
request for a few seconds, and while one thread computes, the others are given the previous
snapshot rather than a queue for the database — like replication/status.py's StatusBoard, whose
node status (the node's mode) it is given. Nothing here names a patient or a member of staff:
an update's author is shown as "operator".
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from lifeline.identity.sites import list_sites
from lifeline.status import components as parts
from lifeline.status.incidents import Incident, Update, instant, open_incidents, resolved_incidents

if TYPE_CHECKING:
    from lifeline.fhir.service import FhirService

log = logging.getLogger("lifeline.status")
MAX_AGE_SECONDS = 5.0
CACHE_CONTROL = "public, max-age=10"
HISTORY_DAYS, HISTORY_MOST = 90, 20


@dataclass(frozen=True)
class Snapshot:
    node: dict[str, Any]
    open: list[Incident]
    history: list[Incident]
    components: list[parts.Component]
    expires: float

    @property
    def overall(self) -> str:
        return parts.overall(self.components)


class IncidentBoard:
    """A node's components and incidents as served, computed at most once per `max_age` seconds."""

    def __init__(
        self,
        service: FhirService,
        node: Callable[[], dict[str, Any]],
        *,
        max_age: float = MAX_AGE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        held: Callable[[], list[Incident]] = list,
    ) -> None:
        self.service, self.node, self.max_age, self.clock = service, node, max_age, clock
        self.held = held  # incidents the watch holds in memory while the database fails (status/watch.py)
        self._computing = threading.Lock()
        self._latest: Snapshot | None = None
        _BOARDS[str(service.settings.node_id)] = self

    def fresh(self) -> Snapshot | None:
        """The latest snapshot if still fresh: no I/O, so the event loop may ask."""
        latest = self._latest
        return latest if latest is not None and self.clock() < latest.expires else None

    def forget(self) -> None:
        """Compute afresh at the next request (a test, or an operator's change in this process)."""
        self._latest = None

    def snapshot(self) -> Snapshot:
        """A fresh snapshot, computed here if need be (blocking: call from a worker thread)."""
        if not self._computing.acquire(blocking=self._latest is None):
            assert self._latest is not None
            return self._latest
        try:
            found = self.fresh()
            if found is None:
                found = self._compute()
                self._latest = found
            return found
        finally:
            self._computing.release()

    def _compute(self) -> Snapshot:
        """The snapshot; when the database fails, what is known without it: the last incidents
        read, those the watch holds in memory, and the database's own failure on every service."""
        settings = self.service.settings
        held = self.held()
        try:
            node = self.node()
            since = instant(self.service.clock() - timedelta(days=HISTORY_DAYS))
            with self.service.repo.reading() as session:
                current = open_incidents(session)
                history = resolved_incidents(session, since, HISTORY_MOST)
            central = node.get("role") == "central"
            sites = [s.site_id for s in list_sites(self.service.repo) if s.active] if central else []
        except Exception:  # noqa: BLE001 - the page must still tell what it knows
            log.exception("the status board could not read the database")
            last = self._latest
            node = {
                **(last.node if last is not None else {"node": settings.node_id, "role": settings.role}),
                "time": instant(self.service.clock()),
                "database": "unreachable",
            }
            current = last.open if last is not None else []
            history = last.history if last is not None else []
            sites = [c.site for c in last.components if c.site] if last is not None else []
            if not any(incident.id.startswith("unrecorded-database") for incident in held):
                held = [*held, _database_down(node["time"])]
        current = [*held, *current]
        found = parts.components(node, current, sites)
        return Snapshot(node, current, history, found, self.clock() + self.max_age)


def _database_down(now: str) -> Incident:
    return Incident(
        id="unrecorded-database",
        title="The record's database cannot be reached",
        impact="critical",
        status="investigating",
        components=tuple(parts.SERVICES),
        began=now,
        updates=(Update(now, "investigating", "The status page could not read the database.", "probe:database"),),
    )


_BOARDS: dict[str, IncidentBoard] = {}


def board_of(node_id: str) -> IncidentBoard | None:
    """The board of the node `node_id` served by this process (the pages' banner finds it so)."""
    return _BOARDS.get(node_id)


def public_incident(incident: Incident) -> dict[str, Any]:
    """An incident as /status.json tells it: every update's author is "operator"."""
    shown = asdict(incident)
    shown["components"] = list(incident.components)
    shown["resolvedAt"], shown["expectedBack"] = shown.pop("resolved_at"), shown.pop("expected_back")
    shown["updates"] = [{**asdict(u), "author": author(u)} for u in reversed(incident.updates)]
    return shown


def author(update: Update) -> str:
    """Who wrote an update, as the public sees it: "automatic" (a health probe) or "operator"."""
    return "automatic" if update.author.startswith("probe:") else "operator"


def public_json(snapshot: Snapshot) -> dict[str, Any]:
    """The fields /status.json adds to the node's status: components and the open incidents."""
    return {
        "overall": snapshot.overall,
        "components": [{k: v for k, v in asdict(c).items() if v is not None} for c in snapshot.components],
        "incidents": [public_incident(incident) for incident in snapshot.open],
    }
