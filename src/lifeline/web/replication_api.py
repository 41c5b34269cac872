"""The replication API between the centre and its site nodes, and every node's status.

`/replication/*` answers registered site nodes only (their credential, identity/sites.py):
never an app or a user, whatever their token. `/status.json` and `/metrics` are public: they
hold no one's data, and staff must be able to read them when nothing else works; they are
computed at most once a second, from indexed counts, and write nothing (replication/status.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from lifeline.errors import BadRequest, MethodNotAllowed
from lifeline.identity import sites
from lifeline.replication import audit_merge, feed, replay, status
from lifeline.web.errors import FHIR_JSON, error_answer

if TYPE_CHECKING:
    from lifeline.fhir.service import FhirService
    from lifeline.replication.site import SiteNode

_JSON = "application/json"


def routes(service: FhirService, site: SiteNode | None) -> list[Route]:
    board = status.StatusBoard(service, site)  # public, so computed at most once a second, however often asked
    cached = {"cache-control": status.CACHE_CONTROL}

    async def current() -> status.Answer:
        fresh = board.fresh()  # on the event loop: a flood within the second never takes a thread
        return fresh if fresh is not None else await run_in_threadpool(board.answer)

    async def node_status(request: Request) -> Response:
        return Response((await current()).json, media_type=_JSON, headers=cached)

    async def metrics(request: Request) -> Response:
        return Response((await current()).metrics, media_type="text/plain; version=0.0.4", headers=cached)

    async def changes(request: Request) -> Response:
        lean = request.query_params.get("lean") == "1"
        return await _answer(request, lambda found, body: feed.feed_page(service, found, *_page(request), lean=lean))

    async def compartment(request: Request) -> Response:
        patient = request.query_params.get("patient", "")
        if not patient:
            return await _answer(request, lambda found, body: _missing("patient"))
        return await _answer(request, lambda found, body: feed.compartment_page(service, found, patient))

    async def outbox(request: Request) -> Response:
        def take(found: sites.Site, body: Any) -> bytes:
            items = body.get("changes") if isinstance(body, dict) else None
            stream = body.get("stream") if isinstance(body, dict) else None
            if not isinstance(items, list) or not isinstance(stream, str):
                raise BadRequest('The body must be {"stream": "...", "changes": [...]}')
            try:
                changes = [replay.SiteChange.from_json(item) for item in items]
            except (KeyError, TypeError, ValueError) as error:
                raise BadRequest(f"A change is malformed: {error}") from None
            taken = replay.take_changes(service, found.site_id, stream, changes)
            return orjson.dumps({"outcomes": [t.outcome for t in taken], "stamps": [t.stamp for t in taken]})

        return await _answer(request, take)

    async def audit(request: Request) -> Response:
        def copy(found: sites.Site, body: Any) -> bytes:
            if body is None:
                return orjson.dumps({"seq": audit_merge.copied_head(service.repo, found.site_id)})
            items = body.get("records") if isinstance(body, dict) else None
            if not isinstance(items, list):
                raise BadRequest('The body must be {"records": [...]}')
            return orjson.dumps({"seq": audit_merge.take_records(service.repo, found.site_id, items)})

        return await _answer(request, copy)

    async def _answer(request: Request, work: Any) -> Response:
        try:
            if service.settings.role != "central":
                raise MethodNotAllowed("Only the central node serves the replication API")
            raw = await request.body()
            try:
                body = orjson.loads(raw) if raw else None
            except orjson.JSONDecodeError as error:
                raise BadRequest(f"The body is not valid JSON: {error}") from None
            authorization = request.headers.get("authorization")

            def run() -> bytes:
                found = sites.authenticate(service.repo, authorization)
                result: bytes = work(found, body)
                return result

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


def _missing(name: str) -> bytes:
    raise BadRequest(f"The parameter {name} is required")


def _page(request: Request) -> tuple[int, int]:
    try:
        after = int(request.query_params.get("after", "0"))
        limit = int(request.query_params.get("limit", "1000"))
    except ValueError:
        raise BadRequest("after and limit must be whole numbers") from None
    if after < 0 or limit < 0:
        raise BadRequest("after and limit must not be negative")
    return after, limit
