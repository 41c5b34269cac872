"""`/status`: a node's components and incidents for people (issue 23), and the fields
`/status.json` gains from them.

Public, and refreshed by everyone during an outage: both are served from the node's
IncidentBoard (status/board.py), computed at most once every few seconds, and answered with
`Cache-Control: public, max-age=10`. The page is rendered without the viewer (no name, no form
token in its top bar), so a shared cache may hand it to anyone; it varies only by language.
Nothing on it names a patient or a member of staff. For each open incident it tells, per hospital,
how many staff could not log in or were refused since it began (status/affected.py: totals only,
no department or role), computed at most once every 30 seconds per incident (`AffectedCache`),
never per request.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import TYPE_CHECKING, Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from lifeline import jsontext
from lifeline.replication.status import StatusBoard
from lifeline.status.affected import Affected, AffectedCache, affected
from lifeline.status.board import CACHE_CONTROL, IncidentBoard, Snapshot, author, board_of, public_json
from lifeline.status.incidents import Incident
from lifeline.web.layout import CURRENT, render
from lifeline.web.pages.chart import words

if TYPE_CHECKING:
    from lifeline.fhir.service import FhirService
    from lifeline.replication.site import SiteNode

HEADERS = {"Cache-Control": CACHE_CONTROL, "Vary": "Cookie, Accept-Language"}
log = logging.getLogger("lifeline.web")


def board_for(service: FhirService, site: SiteNode | None) -> IncidentBoard:
    """The node's one incident board in this process (made on first use)."""
    found = board_of(str(service.settings.node_id))
    if found is None or found.service is not service:
        node = StatusBoard(service, site)
        found = IncidentBoard(service, lambda: node.answer().status)
    return found


async def snapshot(board: IncidentBoard) -> Snapshot:
    fresh = board.fresh()  # on the event loop: a flood within the seconds never takes a thread
    return fresh if fresh is not None else await run_in_threadpool(board.snapshot)


_MERGED: dict[int, tuple[Any, Any, bytes]] = {}


def status_json(status: dict[str, Any], found: Snapshot) -> bytes:
    """/status.json: the node's status with its components and open incidents (cached per pair)."""
    key = id(found)
    kept = _MERGED.get(key)
    if kept is not None and kept[0] is status and kept[1] is found:
        return kept[2]
    merged = jsontext.dumps({**status, **public_json(found)})
    _MERGED.clear()
    _MERGED[key] = (status, found, merged)
    return merged


def page_data(found: Snapshot, language: str, counted: dict[str, Affected] | None = None) -> dict[str, Any]:
    """What /status shows, in the reader's language (times in Danish time); `counted`, who each
    open incident affects, gives the per-hospital totals."""
    counted = counted or {}
    return {
        "overall": found.overall,
        "node_name": found.node.get("node"),
        "role": found.node.get("role"),
        "mode": found.node.get("mode"),
        "components": found.components,
        "open": [{**_incident(i, language), "totals": public_totals(counted.get(i.id))} for i in found.open],
        "history": [_incident(i, language) for i in found.history],
        "as_of": _when(found.node.get("time"), language),
    }


def public_totals(counted: Affected | None) -> list[dict[str, Any]]:
    """Per hospital, how many staff could not log in and how many were refused: totals only."""
    if counted is None:
        return []
    rows: dict[str, dict[str, Any]] = {}
    for what, tally in (("logins", counted.logins), ("requests", counted.requests)):
        for total in tally.hospitals:
            row = rows.setdefault(total.hospital, {"hospital": total.hospital, "logins": 0, "requests": 0})
            row[what] = total.staff
            row["at_least"] = row.get("at_least", False) or tally.lower_bound
    return sorted(rows.values(), key=lambda row: (-row["logins"] - row["requests"], row["hospital"]))


def _when(value: str | None, language: str) -> str | None:
    shown = words.when(value, language)
    return shown["text"] if shown else None


def _incident(incident: Incident, language: str) -> dict[str, Any]:
    minutes = None
    if incident.resolved_at:
        began = datetime.fromisoformat(incident.began.replace("Z", "+00:00"))
        ended = datetime.fromisoformat(incident.resolved_at.replace("Z", "+00:00"))
        minutes = max(0, round((ended - began).total_seconds() / 60))
    return {
        "id": incident.id,
        "title": incident.title,
        "impact": incident.impact,
        "status": incident.status,
        "components": incident.components,
        "began": _when(incident.began, language),
        "resolved": _when(incident.resolved_at, language),
        "expected_back": _when(incident.expected_back, language),
        "hours": None if minutes is None else minutes // 60,
        "minutes": None if minutes is None else minutes % 60,
        "updates": [
            {"at": _when(u.at, language), "status": u.status, "text": u.text, "automatic": author(u) == "automatic"}
            for u in reversed(incident.updates)
        ],
    }


def routes(service: FhirService, site: SiteNode | None) -> list[Route]:
    board = board_for(service, site)
    totals = AffectedCache(board.clock)

    def count(found: Snapshot) -> dict[str, Affected]:
        def one(incident: Incident) -> Affected:
            return totals.get(
                incident.id, lambda: affected(service.repo, incident, node=found.node, components=found.components)
            )

        try:
            return {incident.id: one(incident) for incident in found.open}
        except Exception:  # noqa: BLE001 - the page must still tell the incidents when counting fails
            log.exception("counting who the open incidents affect failed")
            return {}

    async def counted(found: Snapshot) -> dict[str, Affected]:
        kept = {incident.id: totals.fresh(incident.id) for incident in found.open}
        if all(value is not None for value in kept.values()):  # on the event loop: no thread, no I/O
            return {key: value for key, value in kept.items() if value is not None}
        return await run_in_threadpool(count, found)

    async def status_page(request: Request) -> Response:
        found = await snapshot(board)
        page = CURRENT.get()
        language = page.language if page is not None else "en"
        values = page_data(found, language, await counted(found))
        # Rendered as nobody: the answer may be shared by a cache, so it must not carry the viewer.
        return await run_in_threadpool(render, "status.html", 200, HEADERS, viewer=None, **values)

    return [Route("/status", status_page, methods=["GET"])]


def banner(layout_node: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The open incidents for the banner of a logged-in person's page, from the cached board."""
    if not layout_node:
        return []
    board = board_of(str(layout_node.get("node")))
    if board is None:
        return []
    found = board.snapshot()
    page = CURRENT.get()
    language = page.language if page is not None else "en"
    return [_incident(i, language) for i in found.open]
