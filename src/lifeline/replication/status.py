"""What `GET /status.json` says about a node: who it is, its mode, how fresh its data is, what it
still has to send, and the conflicts waiting for a clinician (issue 7). Public: it holds no one's
data, and staff must be able to read it when nothing else works."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from lifeline.replication import conflicts

if TYPE_CHECKING:
    from lifeline.fhir.service import FhirService
    from lifeline.replication.site import SiteNode


def node_status(service: FhirService, site: SiteNode | None) -> dict[str, Any]:
    position = service.repo.sequence() if site is None else 0  # the centre numbers what has committed
    with service.repo.reading() as session:
        open_conflicts = len(conflicts.open_conflicts(session))
    status: dict[str, Any] = {
        "node": service.settings.node_id,
        "role": service.settings.role,
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "openConflicts": open_conflicts,
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
    return status


def metrics_text(status: dict[str, Any]) -> bytes:
    """The same figures in the Prometheus text format, for the region's monitoring."""
    from prometheus_client import CollectorRegistry, Gauge, generate_latest

    registry = CollectorRegistry()
    labels = {"node": str(status["node"]), "role": str(status["role"])}
    figures = [
        ("lifeline_replication_lag_seconds", "Seconds the replica may be behind the centre", status.get("lagSeconds")),
        ("lifeline_replication_position", "The centre's last change applied here", status.get("position")),
        ("lifeline_replication_behind", "Changes at the centre not yet applied here", status.get("behind", 0)),
        ("lifeline_pending_local_changes", "Local changes not yet taken by the centre", status["pendingLocalChanges"]),
        ("lifeline_open_conflicts", "Conflicts waiting for a clinician", status["openConflicts"]),
    ]
    for name, text, value in figures:
        gauge = Gauge(name, text, list(labels), registry=registry)
        gauge.labels(**labels).set(float("nan") if value is None else float(value))
    mode = Gauge("lifeline_mode", "1 for the node's current mode", [*labels, "mode"], registry=registry)
    for each in ("connected", "continuity", "healing"):
        mode.labels(**labels, mode=each).set(1.0 if status["mode"] == each else 0.0)
    return bytes(generate_latest(registry))
