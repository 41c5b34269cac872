"""`/imaging/studies/{uid}/...`: the DICOMweb calls the viewer needs, proxied to the PACS.

The browser never speaks to the PACS. Each call is first put to the core as the logged-in person
(imaging/access.py): the ImagingStudy that names the study must be one they may open, and the
call is recorded in the audit trail (which study, which patient, what was asked) before a byte
of the image is sent. Only the calls below pass, with their parameters checked; the series asked
for must be one the ImagingStudy lists.

A node asks its image stores in order (imaging/stores.py): a site its own copies first, then the
region's PACS; the centre the region's PACS. Errors are OperationOutcomes (web/errors.py: the
viewer's script shows their text).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from lifeline import jsontext
from lifeline.errors import BadRequest, Forbidden, NotFound, StorageUnavailable
from lifeline.identity.sessions import csrf_matches
from lifeline.imaging import upload
from lifeline.imaging.access import opened
from lifeline.imaging.pacs import RENDERED_TYPES, checked_uid, rendered_params
from lifeline.imaging.stores import Stores
from lifeline.web.fhir_api import read_body
from lifeline.web.layout import NO_STORE
from lifeline.web.login import WebLogin
from lifeline.web.pages import acting

PREFIX = "/imaging/studies/{study}"
DICOM_JSON = "application/dicom+json"


def routes(web: WebLogin, stores: Stores) -> list[Route]:
    service = web.service

    async def proxied(request: Request) -> Response:
        params = request.path_params
        study = checked_uid(params["study"])
        series = checked_uid(params["series"], "Series Instance UID") if "series" in params else None
        if "instance" in params:  # checked here; the PACS finds it under its series
            checked_uid(params["instance"], "SOP Instance UID")
        frame = params.get("frame")
        if frame is not None and not (frame.isdecimal() and 0 < int(frame) < 100_000):
            raise NotFound(f"{frame!r} is not a frame number")
        path = request.url.path.removeprefix("/imaging")
        rendered = path.endswith("/rendered")
        query = rendered_params(dict(request.query_params)) if rendered else _no_params(request)
        found = await opened(acting(service, request), study, path)
        if series is not None and series not in found.series_uids():
            raise NotFound(f"the study {study} has no series {series}")
        accept = _rendered_type(request) if rendered else DICOM_JSON
        answer = await stores.get(path, query, accept)
        return Response(answer.body, media_type=answer.media_type, headers=NO_STORE)

    async def stored(request: Request) -> Response:
        """STOW-RS through Lifeline (imaging/upload.py): checked as the person, then to the PACS."""
        session = web.session_of(request)
        if session is None or not csrf_matches(session, request.headers.get("x-csrf-token")):
            raise Forbidden("send the session's CSRF token in the X-CSRF-Token header: nothing was stored")
        pacs = stores.region or stores.local
        if pacs is None:
            raise StorageUnavailable("This node has no image store (LIFELINE_PACS_URL); nothing was stored.")
        body = await read_body(request.receive, dict(request.headers), service.settings.max_body_bytes)
        parts = upload.parts_of(request.headers.get("content-type", ""), body)
        core = acting(service, request)
        answer = await core.exchange_async("imaging-store", lambda: upload.store(core, pacs, parts))
        return Response(jsontext.dumps(answer), status_code=200, media_type="application/json", headers=NO_STORE)

    series_path = PREFIX + "/series/{series}"
    instance_path = series_path + "/instances/{instance}"
    return [
        Route("/imaging/studies", stored, methods=["POST"]),
        Route(PREFIX + "/series", proxied, methods=["GET"]),
        Route(series_path + "/instances", proxied, methods=["GET"]),
        Route(series_path + "/metadata", proxied, methods=["GET"]),
        Route(instance_path + "/rendered", proxied, methods=["GET"]),
        Route(instance_path + "/frames/{frame}/rendered", proxied, methods=["GET"]),
    ]


def _rendered_type(request: Request) -> str:
    accept = request.headers.get("accept", "")
    return next((kind for kind in RENDERED_TYPES if kind in accept), "image/jpeg")


def _no_params(request: Request) -> dict[str, str]:
    if request.query_params:
        raise BadRequest("the image lists and metadata take no parameters here")
    return {}
