"""The portal as an app a patient installs on their phone (issue 25): its manifest, its service
worker and the offline page the worker shows when the portal cannot be reached.

- /portal/manifest.webmanifest (W3C Web Application Manifest, https://www.w3.org/TR/appmanifest/):
  name, start and scope /portal, standalone, the stylesheet's colours, icons at 192 and 512 px and
  a maskable one (static/icon-*.png, drawn from icon.svg by tools/portal_icons.py).
- /portal/worker.js (W3C Service Workers, https://www.w3.org/TR/service-workers/):
  static/portal-worker.js with the files it keeps: only the offline page and the static files under
  their hashed names, never a page or data of the record. Served under /portal, with
  Service-Worker-Allowed, so that its scope /portal covers the portal's first page as well.
- /portal/offline: that the portal cannot be reached, when this device last reached it, and what
  to do if it is urgent, in each language (the reader's first; static/portal-offline.js shows
  only theirs). It names no one, whoever asks: a phone may be shared.

All three are public (web/routes.py): a browser asks for a manifest and a worker's updates without
the session's cookie, and the offline page is kept for when no one can be asked.
"""

from __future__ import annotations

import hashlib
from typing import Any

from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from lifeline import jsontext
from lifeline.web import assets, i18n
from lifeline.web.layout import environment, render
from lifeline.web.pages.chart.page import language as reader_language

OFFLINE = "/portal/offline"
SCOPE = "/portal"
THEME_COLOUR = "#1b2430"  # static/app.css --ink: the top bar
BACKGROUND_COLOUR = "#f3f5f8"  # static/app.css --wash: the page
OFFLINE_FILES = ("app.css", "drafts.js", "icon.svg", "portal-offline.js")  # what base.html and the page load
REVALIDATE = {"Cache-Control": "no-cache"}  # a new release's hashed names are seen at once


def manifest(language: str) -> dict[str, Any]:
    """The web app manifest, its words in `language`."""
    gettext = i18n.translations(language).gettext
    icon = {"type": "image/png"}
    return {
        "id": SCOPE,
        "name": gettext("Lifeline: my health record"),
        "short_name": "Lifeline",
        "description": gettext("Your record from the region's hospitals: results, appointments, messages."),
        "lang": language,
        "dir": "ltr",
        "start_url": SCOPE,
        "scope": SCOPE,
        "display": "standalone",
        "theme_color": THEME_COLOUR,
        "background_color": BACKGROUND_COLOUR,
        "icons": [
            {"src": assets.static("icon-192.png"), "sizes": "192x192", **icon, "purpose": "any"},
            {"src": assets.static("icon-512.png"), "sizes": "512x512", **icon, "purpose": "any"},
            {"src": assets.static("icon-maskable-512.png"), "sizes": "512x512", **icon, "purpose": "maskable"},
        ],
    }


def worker_script() -> str:
    """static/portal-worker.js after the two names it reads: what it keeps, and under which cache
    (named by those files' hashes, so that a release's worker drops the previous one's cache)."""
    files = [OFFLINE, *(assets.static(name) for name in OFFLINE_FILES)]
    cache = "lifeline-portal-" + hashlib.sha256("\n".join(files).encode()).hexdigest()[:12]
    head = f"const FILES = {jsontext.dumps(files).decode()};\nconst CACHE = {jsontext.dumps(cache).decode()};\n"
    return head + assets.manifest()["portal-worker.js"].body.decode()


def offline_sections(first: str) -> list[Markup]:
    """The offline page's text in every language, `first` first, each rendered in its own."""
    ordered = sorted(i18n.LANGUAGES, key=lambda code: code != first)
    part = "portal/_offline_text.html"
    return [Markup(environment(code).get_template(part).render(language=code)) for code in ordered]  # noqa: S704


def routes() -> list[Route]:
    async def manifest_file(request: Request) -> Response:
        asked = request.query_params.get("lang", "")
        language = asked if asked in i18n.LANGUAGES else i18n.DEFAULT
        return Response(jsontext.dumps(manifest(language)), headers=REVALIDATE, media_type="application/manifest+json")

    async def worker(request: Request) -> Response:
        headers = {**REVALIDATE, "Service-Worker-Allowed": SCOPE}
        return Response(worker_script(), headers=headers, media_type="text/javascript; charset=utf-8")

    async def offline_page(request: Request) -> Response:
        # Nobody in the top bar, no node or incident of the moment: the page is kept, and shown later.
        quiet: dict[str, Any] = {"viewer": None, "layout_node": None, "warnings": {}, "incidents": [], "languages": {}}
        values = {**quiet, "sections": offline_sections(reader_language())}
        return render("portal/offline.html", 200, REVALIDATE, **values)

    return [
        Route("/portal/manifest.webmanifest", manifest_file, methods=["GET"]),
        Route("/portal/worker.js", worker, methods=["GET"]),
        Route(OFFLINE, offline_page, methods=["GET"]),
    ]
