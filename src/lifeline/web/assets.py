"""The static files (web/static/: one stylesheet, small scripts), served under names that carry
a hash of their content: /static/app.3f2a9c41d0be.css. Such a name never changes meaning, so it
is cached for a year as immutable, and a new release is fetched at once because its names differ.

The hashes are computed once, at start, from the files the package ships. A name without the
current hash (an unhashed name, or a stale hash from an older release) is a 404, not a redirect:
an old page asking for its old stylesheet must not be handed, under a name cached as immutable
for a year, content that is not what the name promised; and nothing here links to an unhashed
name, so only a stale page or a guess asks for one.
"""

from __future__ import annotations

import hashlib
import mimetypes
from dataclasses import dataclass
from functools import cache
from importlib.resources import files

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from lifeline.errors import NotFound

PREFIX = "/static/"
IMMUTABLE = "public, max-age=31536000, immutable"
_TYPES = {".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8"}


@dataclass(frozen=True)
class Asset:
    name: str  # app.css
    hashed: str  # app.3f2a9c41d0be.css
    body: bytes
    media_type: str


@cache
def manifest() -> dict[str, Asset]:
    """Every static file by its plain name; read and hashed once per process."""
    found: dict[str, Asset] = {}
    for entry in files("lifeline.web").joinpath("static").iterdir():
        if not entry.is_file() or entry.name.startswith("."):
            continue
        body = entry.read_bytes()
        stem, dot, extension = entry.name.rpartition(".")
        digest = hashlib.sha256(body).hexdigest()[:12]
        suffix = f".{extension}" if dot else ""
        media_type = _TYPES.get(suffix) or mimetypes.guess_type(entry.name)[0] or "application/octet-stream"
        found[entry.name] = Asset(entry.name, f"{stem or extension}.{digest}{suffix}", body, media_type)
    return found


@cache
def _by_hashed_name() -> dict[str, Asset]:
    return {asset.hashed: asset for asset in manifest().values()}


def static(name: str) -> str:
    """The URL of a static file under its hashed name (the templates' `static('app.css')`)."""
    return PREFIX + manifest()[name].hashed


async def serve(request: Request) -> Response:
    asset = _by_hashed_name().get(request.path_params["name"])
    if asset is None:
        raise NotFound(f"No static file {request.path_params['name']!r} (names carry their content's hash)")
    return Response(asset.body, headers={"Cache-Control": IMMUTABLE}, media_type=asset.media_type)


def routes() -> list[Route]:
    return [Route(PREFIX + "{name:path}", serve, methods=["GET", "HEAD"])]
