"""The routes of a patient's changes to their own appointments (web/routes.py declares them
PATIENT_ONLY): one appointment's page (cancel with a reason, the free times to move to, or the new
time offered after a downtime to accept or decline) and its three forms. Data functions in
appointment_changes.py; the appointment's id in the address is checked there against the session's
patient (`own_id`: a parent does not change a child's bookings here), so anyone else's answers 404
and writes nothing."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlencode

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from lifeline.errors import NotFound
from lifeline.web.login import WebLogin, client_host, csrf_refused, form_text, threaded
from lifeline.web.pages import answered, page
from lifeline.web.pages.chart.page import language
from lifeline.web.pages.portal import appointment_changes as changes
from lifeline.web.pages.portal.record import own_id

PATH = "/portal/appointments/{id}"
TEMPLATE = "portal/appointment_change.html"
ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")  # a FHIR id; anything else names no appointment
DONE = ("cancelled", "moved", "accepted", "declined")


def _id(request: Request) -> str:
    appointment_id = str(request.path_params["id"])
    if not ID.fullmatch(appointment_id):
        raise NotFound("No such appointment")
    return appointment_id


def routes(web: WebLogin) -> list[Route]:
    service = web.service

    def shown(request: Request) -> dict[str, Any]:
        core = changes.writer(service, request.user, client_host(request))
        appointment_id = _id(request)
        found = changes.choices(core, own_id(request.user), appointment_id, service.clock(), language())
        done = request.query_params.get("done")
        return {**found, "done": done if done in DONE else None, "csrf": request.user.csrf}

    def changed(what: str) -> Any:
        def handler(request: Request, form: FormData | None) -> Response:
            if web.checked(request, form) is None or form is None:
                return csrf_refused()
            core = changes.writer(service, request.user, client_host(request))
            appointment_id, own, now, reader = _id(request), own_id(request.user), service.clock(), language()
            version, done = form_text(form, "version"), what
            if what == "cancelled":
                reason, text = form_text(form, "reason"), form_text(form, "text")
                result = changes.cancel(core, own, appointment_id, version, reason, text, now, reader)
            elif what == "moved":
                result = changes.move(core, own, appointment_id, version, form_text(form, "slot"), now, reader)
            else:
                accept = form_text(form, "answer") == "accept"
                result = changes.answer(core, own, appointment_id, version, accept, now, reader)
                done = "accepted" if accept else "declined"
            if "done" in result:
                return RedirectResponse(f"/portal/appointments/{appointment_id}?{urlencode({'done': done})}", 303)
            return answered(request, TEMPLATE, 400, {**result, "done": None, "csrf": request.user.csrf})

        return handler

    return [
        Route(PATH, page(TEMPLATE, shown), methods=["GET"]),
        Route(f"{PATH}/cancel", threaded(changed("cancelled")), methods=["POST"]),
        Route(f"{PATH}/move", threaded(changed("moved")), methods=["POST"]),
        Route(f"{PATH}/answer", threaded(changed("answer")), methods=["POST"]),
    ]
