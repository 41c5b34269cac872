"""The replication API between the centre and its site nodes, and every node's status.

`/replication/*` answers registered site nodes only (their credential, identity/sites.py):
never an app or a user, whatever their token. `/status.json` and `/metrics` are public: they
hold no one's data, and staff must be able to read them when nothing else works; they are
computed at most once a second, from indexed counts, and write nothing (replication/status.py).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import orjson
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from lifeline import jsontext
from lifeline.errors import BadRequest, FhirError, MethodNotAllowed
from lifeline.fhir.acting import Exchanged
from lifeline.identity.sites import Site
from lifeline.replication import audit_merge, contacts, feed, replay, status
from lifeline.web.errors import FHIR_JSON, error_answer
from lifeline.web.login import client_host
from lifeline.web.status_page import board_for, snapshot, status_json

if TYPE_CHECKING:
    from lifeline.fhir.service import FhirService
    from lifeline.replication.site import SiteNode

_JSON = "application/json"
HOPERAT = "HOPERAT"  # v3 ActReason: healthcare operations (keeping a hospital's replica)


def routes(service: FhirService, site: SiteNode | None) -> list[Route]:
    board = status.StatusBoard(service, site)  # public, so computed at most once a second, however often asked
    cached = {"cache-control": status.CACHE_CONTROL}
    incidents = board_for(service, site)  # components and open incidents, added to /status.json (issue 23)

    async def current() -> status.Answer:
        fresh = board.fresh()  # on the event loop: a flood within the second never takes a thread
        return fresh if fresh is not None else await run_in_threadpool(board.answer)

    async def node_status(request: Request) -> Response:
        answer = await current()
        return Response(status_json(answer.status, await snapshot(incidents)), media_type=_JSON, headers=cached)

    async def metrics(request: Request) -> Response:
        return Response((await current()).metrics, media_type="text/plain; version=0.0.4", headers=cached)

    async def changes(request: Request) -> Response:
        lean = request.query_params.get("lean") == "1"

        def page(site: Site, body: Any) -> Exchanged:
            return feed.feed_exchange(service, site, *_page(request), lean=lean)

        return await _answer(request, "replication-feed", page)

    async def compartment(request: Request) -> Response:
        def page(site: Site, body: Any) -> Exchanged:
            patient = request.query_params.get("patient", "")
            if not patient:
                raise BadRequest("The parameter patient is required")
            return feed.compartment_page(service, site, patient)

        return await _answer(request, "replication-compartment", page)

    async def outbox(request: Request) -> Response:
        return await _answer(request, "replication-outbox", lambda s, body: replay.exchange(service, s.site_id, body))

    async def audit(request: Request) -> Response:
        return await _answer(
            request, "replication-audit", lambda s, body: audit_merge.exchange(service, s.site_id, body)
        )

    async def _answer(request: Request, name: str, work: Callable[[Site, Any], Exchanged]) -> Response:
        """A registered site's exchange, through the core's audited entry as that site: what it
        sends or takes of anyone's data is on the trail before the answer leaves."""
        address = client_host(request)
        try:
            if service.settings.role != "central":
                raise MethodNotAllowed("Only the central node serves the replication API")
            raw = await request.body()
            authorization = request.headers.get("authorization")

            def run() -> bytes:
                try:
                    site, principal = service.identity.site(authorization)
                except FhirError as refused:
                    _record_refusal(service, address, name, refused)
                    raise
                contacts.of(service.settings.node_id, service.repo).heard(site.site_id)  # the silent-site probe's input
                # Read only for a proven site: to anyone else the answer is the 401, whatever was sent.
                try:
                    body = jsontext.loads(raw) if raw else None
                except orjson.JSONDecodeError as error:
                    raise BadRequest(f"The body is not valid JSON: {error}") from None
                answer: bytes = service.as_user(principal, address, HOPERAT).exchange(name, lambda: work(site, body))
                return answer

            return Response(await run_in_threadpool(run), media_type=_JSON)
        except Exception as error:  # noqa: BLE001 - answered in the one error shape
            code, payload, headers = error_answer(error)
            return Response(
                payload, status_code=code, headers={k.decode(): v.decode() for k, v in headers}, media_type=FHIR_JSON
            )

    return [
        Route("/status.json", node_status),
        Route("/metrics", metrics),
        Route("/replication/changes", changes),
        Route("/replication/compartment", compartment),
        Route("/replication/outbox", outbox, methods=["POST"]),
        Route("/replication/audit", audit, methods=["GET", "POST"]),
    ]


def _record_refusal(service: FhirService, address: str | None, name: str, refused: FhirError) -> None:
    """A refused credential is on the trail too (as nobody: no site was proven)."""

    def refuse() -> Exchanged:
        raise refused

    try:
        service.as_user(None, address).exchange(name, refuse)
    except FhirError as error:
        if error is not refused:
            raise


def _page(request: Request) -> tuple[int, int]:
    try:
        after = int(request.query_params.get("after", "0"))
        limit = int(request.query_params.get("limit", "1000"))
    except ValueError:
        raise BadRequest("after and limit must be whole numbers") from None
    if after < 0 or limit < 0:
        raise BadRequest("after and limit must not be negative")
    return after, limit
