"""The routes of what the hospitals wrote about the patient (web/routes.py declares them
PATIENT_ONLY): their notes (notes.py) and their scans and other reports with the scans' images
(imaging.py). No address names a patient: the record shown is the session's (people.py: a parent
may choose a child's under 15)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.routing import Route

from lifeline.imaging.stores import Stores
from lifeline.web.login import WebLogin
from lifeline.web.pages import acting, page
from lifeline.web.pages.chart.page import language
from lifeline.web.pages.portal import imaging, notes, people

ASKED = ("series", "image", "window")  # the viewer's choices in the address


def routes(web: WebLogin, stores: Stores) -> list[Route]:
    service = web.service

    def notes_page(request: Request) -> dict[str, Any]:
        core = acting(service, request)
        return notes.notes(core, people.shown_id(web, request), language(), request.query_params.get("page", ""))

    def imaging_page(request: Request) -> dict[str, Any]:
        return imaging.imaging(acting(service, request), people.shown_id(web, request), language(), stores)

    def scan_page(request: Request) -> dict[str, Any]:
        asked = {k: v[:200] for k, v in request.query_params.items() if k in ASKED}
        core, study_id = acting(service, request), request.path_params["study_id"]
        return imaging.scan(core, people.shown_id(web, request), study_id, language(), stores, asked)

    return [
        Route(notes.PATH, page("portal/notes.html", notes_page), methods=["GET"]),
        Route(imaging.PATH, page("portal/imaging.html", imaging_page), methods=["GET"]),
        Route(imaging.PATH + "/{study_id}", page("portal/scan.html", scan_page), methods=["GET"]),
    ]
