"""What `GET /status.json` says about a node: who it is, its mode, how fresh its data is, what it
still has to send, and the conflicts waiting for a clinician (issue 7). Public: it holds no one's
data, and staff must be able to read it when nothing else works.

Public also means hammered (issue 20). A status is therefore computed from indexed counts and
writes nothing, and `StatusBoard` computes it at most once a second per process: a flood of
requests costs one computation a second, and its answers say `max-age=1` so that a cache in
front may share them. A site's change of mode is shown at once all the same, since that is what
staff and monitoring watch it for.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from lifeline import jsontext

if TYPE_CHECKING:
    from lifeline.fhir.service import FhirService
    from lifeline.replication.site import SiteNode

MAX_AGE_SECONDS = 1
CACHE_CONTROL = f"public, max-age={MAX_AGE_SECONDS}"


def node_status(service: FhirService, site: SiteNode | None) -> dict[str, Any]:
    with service.repo.reading() as session:
        open_conflicts = session.open_conflict_count()
        outbox = session.audit_outbox_size()
        # The centre's position: what has committed, numbered or about to be (the numbering round
        # itself is a write, left to the feed).
        position = session.change_head() if site is None else 0
    status: dict[str, Any] = {
        "node": service.settings.node_id,
        "role": service.settings.role,
        "time": service.clock().strftime("%Y-%m-%dT%H:%M:%SZ"),
        "openConflicts": open_conflicts,
        "auditOutbox": outbox,  # writes' audit records not yet in their chain (audit/outbox.py)
    }
    if site is None:
        status.update(
            {
                "mode": "connected",
                "position": position,
                "lagSeconds": 0.0,
                "pendingLocalChanges": 0,
                "centralLastReached": status["time"],
                "centralUnreachableSince": None,
            }
        )
    else:
        status.update(site.status())
        copies = image_copies(str(service.settings.node_id))
        if copies is not None:
            status["imageCopies"] = copies
    return status


def image_copies(node: str) -> dict[str, Any] | None:
    """A site's last round of copies of its patients' recent studies (imaging/copies.py), as that
    round published it on this process's telemetry (imaging and replication do not import each
    other); None before the first round, or where the site keeps no copies."""
    from lifeline.telemetry import TELEMETRY

    at = TELEMETRY.get_sample_value("lifeline_image_copies_last_round_timestamp_seconds", {"node": node})
    if at is None:
        return None
    figures: dict[str, Any] = {"lastRound": _iso(at)}
    for figure in ("wanted", "held", "copied", "failed", "left", "missing", "megabytes"):
        value = TELEMETRY.get_sample_value("lifeline_image_copies_round", {"node": node, "figure": figure})
        figures[figure] = None if value is None else (value if figure == "megabytes" else int(value))
    reached = TELEMETRY.get_sample_value("lifeline_image_copies_region_reached", {"node": node})
    figures["regionPacsReached"] = None if reached is None else reached == 1.0
    return figures


def _iso(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def metrics_text(status: dict[str, Any]) -> bytes:
    """The same figures in the Prometheus text format, for the region's monitoring."""
    from prometheus_client import CollectorRegistry, Gauge, generate_latest

    from lifeline.fhir.acting import METRICS
    from lifeline.telemetry import TELEMETRY

    registry = CollectorRegistry()
    labels = {"node": str(status["node"]), "role": str(status["role"])}
    figures = [
        ("lifeline_replication_lag_seconds", "Seconds the replica may be behind the centre", status.get("lagSeconds")),
        ("lifeline_replication_position", "The centre's last change applied here", status.get("position")),
        ("lifeline_replication_behind", "Changes at the centre not yet applied here", status.get("behind", 0)),
        ("lifeline_pending_local_changes", "Local changes not yet taken by the centre", status["pendingLocalChanges"]),
        ("lifeline_open_conflicts", "Conflicts waiting for a clinician", status["openConflicts"]),
        (
            "lifeline_audit_outbox",
            "Writes' audit records waiting for their place in the chain",
            status.get("auditOutbox"),
        ),
    ]
    for name, text, value in figures:
        gauge = Gauge(name, text, list(labels), registry=registry)
        gauge.labels(**labels).set(float("nan") if value is None else float(value))
    mode = Gauge("lifeline_mode", "1 for the node's current mode", [*labels, "mode"], registry=registry)
    for each in ("connected", "continuity", "healing"):
        mode.labels(**labels, mode=each).set(1.0 if status["mode"] == each else 0.0)
    # And what this process answered through the core's entry (fhir/acting.py), and its HTTP
    # requests, logins and audit appends (telemetry.py).
    return bytes(generate_latest(registry)) + bytes(generate_latest(METRICS)) + bytes(generate_latest(TELEMETRY))


@dataclass(frozen=True)
class Answer:
    """One computed status, in both of its forms."""

    status: dict[str, Any]
    json: bytes
    metrics: bytes
    expires: float  # on the board's clock
    mode: Hashable  # the site's mode when it was computed (None at the centre)


class StatusBoard:
    """A node's status as served: computed at most once per `max_age` seconds of `clock` in this
    process, and again at once when a site's mode changes. While one thread computes, others
    are given the previous answer rather than waiting for the database in a queue."""

    def __init__(
        self,
        service: FhirService,
        site: SiteNode | None,
        *,
        max_age: float = MAX_AGE_SECONDS,
        clock: Callable[[], float] = time.monotonic,  # the cached answer's age, not the time of day
    ) -> None:
        self.service = service
        self.site = site
        self.max_age = max_age
        self.clock = clock
        self._computing = threading.Lock()
        self._latest: Answer | None = None

    def fresh(self) -> Answer | None:
        """The latest answer if it is still fresh: no I/O, so the event loop may ask."""
        latest = self._latest
        if latest is None or self.clock() >= latest.expires or latest.mode != self._mode():
            return None
        return latest

    def answer(self) -> Answer:
        """A fresh answer, computed here if need be (blocking: call from a worker thread)."""
        if not self._computing.acquire(blocking=self._latest is None):
            assert self._latest is not None
            return self._latest  # another thread is computing the next one
        try:
            found = self.fresh()
            if found is None:
                mode = self._mode()
                status = node_status(self.service, self.site)
                expires = self.clock() + self.max_age
                found = Answer(status, jsontext.dumps(status), metrics_text(status), expires, mode)
                self._latest = found
            return found
        finally:
            self._computing.release()

    def _mode(self) -> Hashable:
        return None if self.site is None else (self.site.mode, self.site.mode_since)
