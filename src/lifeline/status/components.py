"""A node's components and the status of each, as its /status page shows them (issue 23).

The components: staff login, patient login, the record (reads and writes), search, logistics, the
portal, imaging; at the centre, replication to each registered hospital site (`replication:<site>`,
identity/sites.py); at a site node, replication to the centre (`replication`) and the site node
itself (`node`, its mode from replication/status.py's node status).

The rule, kept simple so a reader can check it by hand:

1. Every open incident that names a component sets it from its impact: none → operational,
   minor → degraded, major → partial outage, critical → major outage. The worst wins.
2. A site's own mode: in continuity (cut off from the centre) "replication to the centre" is a
   major outage and the node is degraded, while the record keeps working locally; healing
   (catching up) makes both degraded.
3. A component's status is the worst of the two; the page's overall line is the worst of all.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from lifeline.errors import BadRequest
from lifeline.status.incidents import Incident

OPERATIONAL, DEGRADED, PARTIAL, MAJOR = "operational", "degraded", "partial_outage", "major_outage"
LEVELS = (OPERATIONAL, DEGRADED, PARTIAL, MAJOR)  # from best to worst
BY_IMPACT = {"none": OPERATIONAL, "minor": DEGRADED, "major": PARTIAL, "critical": MAJOR}
SERVICES = ("staff-login", "patient-login", "record", "search", "logistics", "portal", "imaging")
REPLICATION, NODE = "replication", "node"


@dataclass(frozen=True)
class Component:
    key: str  # staff-login, record, replication:herlev, ...
    status: str  # one of LEVELS
    site: str | None = None  # the hospital site a replication component reaches
    mode: str | None = None  # the node component: connected, continuity or healing


def worst(statuses: Iterable[str]) -> str:
    return max(statuses, key=LEVELS.index, default=OPERATIONAL)


def keys(role: str, sites: Sequence[str]) -> list[str]:
    """The components of a node: at the centre replication to each site, at a site its own."""
    fixed = list(SERVICES)
    if role == "central":
        return [*fixed, *(f"{REPLICATION}:{site}" for site in sites)]
    return [*fixed, REPLICATION, NODE]


def check_components(names: Sequence[str], role: str, sites: Sequence[str]) -> list[str]:
    """The components an operator named, each known on this node (else BadRequest)."""
    known = keys(role, sites)
    unknown = [name for name in names if name not in known]
    if unknown:
        raise BadRequest(f"unknown component {unknown[0]!r}: one of {', '.join(known)}")
    return list(dict.fromkeys(names))


def components(node: dict[str, Any], open_incidents: Sequence[Incident], sites: Sequence[str]) -> list[Component]:
    """Each component of the node whose status is `node` (replication/status.py), by the rule above."""
    role = str(node.get("role", "central"))
    mode = str(node.get("mode", "connected"))
    from_incidents: dict[str, list[str]] = {}
    for incident in open_incidents:
        for key in incident.components:
            from_incidents.setdefault(key, []).append(BY_IMPACT.get(incident.impact, OPERATIONAL))
    from_mode = (
        {
            "continuity": {REPLICATION: MAJOR, NODE: DEGRADED},
            "healing": {REPLICATION: DEGRADED, NODE: DEGRADED},
        }.get(mode, {})
        if role != "central"
        else {}
    )
    found = []
    for key in keys(role, sites):
        status = worst([*from_incidents.get(key, []), from_mode.get(key, OPERATIONAL)])
        site = key.split(":", 1)[1] if key.startswith(f"{REPLICATION}:") else None
        found.append(Component(key, status, site=site, mode=mode if key == NODE else None))
    return found


def overall(found: Sequence[Component]) -> str:
    return worst(component.status for component in found)
