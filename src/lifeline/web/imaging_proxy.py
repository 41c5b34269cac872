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

from lifeline.errors import BadRequest, NotFound
from lifeline.fhir.service import FhirService
from lifeline.imaging.access import opened
from lifeline.imaging.pacs import RENDERED_TYPES, checked_uid, rendered_params
from lifeline.imaging.stores import Stores
from lifeline.web.layout import NO_STORE
from lifeline.web.pages import acting

PREFIX = "/imaging/studies/{study}"
DICOM_JSON = "application/dicom+json"


def routes(service: FhirService, stores: Stores) -> list[Route]:
    async def proxied(request: Request) -> Response:
        params = request.path_params
        study = checked_uid(params["study"])
        series = checked_uid(params["series"], "Series Instance UID") if "series" in params else None
        instance = checked_uid(params["instance"], "SOP Instance UID") if "instance" in params else None
        frame = params.get("frame")
        if frame is not None and not (frame.isdigit() and 0 < int(frame) < 100_000):
            raise NotFound(f"{frame!r} is not a frame number")
        path = request.url.path.removeprefix("/imaging")
        rendered = path.endswith("/rendered")
        query = rendered_params(dict(request.query_params)) if rendered else _no_params(request)
        found = await opened(acting(service, request), study, path)
        if series is not None and series not in found.series_uids():
            raise NotFound(f"the study {study} has no series {series}")
        accept = _rendered_type(request) if rendered else DICOM_JSON
        answer = await stores.get(path, query, accept)
        del instance  # checked above; the PACS finds it under its series
        return Response(answer.body, media_type=answer.media_type, headers=NO_STORE)

    series_path = PREFIX + "/series/{series}"
    instance_path = series_path + "/instances/{instance}"
    return [
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
