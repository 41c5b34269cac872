"""The portal's message routes (web/routes.py declares them PATIENT_ONLY): the list of threads, one
thread, and its reply form. Data functions in messages.py; the thread's id in the address is
checked there against the session's patient, so another patient's id answers 404 and writes
nothing."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from lifeline.web.login import WebLogin, client_host, csrf_refused, form_text, threaded
from lifeline.web.pages import acting, answered, page
from lifeline.web.pages.chart.page import language
from lifeline.web.pages.portal import messages, people

PATH = "/portal/messages"
THREAD_PATH = "/portal/messages/{id}"
TEMPLATE, THREAD_TEMPLATE = "portal/messages.html", "portal/message_thread.html"


def routes(web: WebLogin) -> list[Route]:
    service = web.service

    def listed(request: Request) -> dict[str, Any]:
        return messages.threads_of(acting(service, request), people.shown_id(web, request), language())

    def opened(request: Request) -> dict[str, Any]:
        core = messages.writer(service, request.user, client_host(request))
        own = people.shown_id(web, request)
        shown = messages.thread(core, own, request.path_params["id"], service.clock(), language())
        return {**shown, "sent": request.query_params.get("sent") == "1", "csrf": request.user.csrf}

    def replied(request: Request, form: FormData | None) -> Response:
        if web.checked(request, form) is None or form is None:
            return csrf_refused()
        core = messages.writer(service, request.user, client_host(request))
        thread_id = request.path_params["id"]
        own = people.shown_id(web, request, people.REPLY)
        text, key = form_text(form, "text"), form_text(form, "key")
        shown = messages.reply(core, own, thread_id, text, key, service.clock(), language())
        if "written" in shown:
            where = f"{PATH}/{thread_id}?{urlencode({'sent': '1'})}#message-{shown['written']}"
            return RedirectResponse(where, 303)
        return answered(request, THREAD_TEMPLATE, 400, {**shown, "sent": False, "csrf": request.user.csrf})

    return [
        Route(PATH, page(TEMPLATE, listed), methods=["GET"]),
        Route(THREAD_PATH, page(THREAD_TEMPLATE, opened), methods=["GET"]),
        Route(THREAD_PATH, threaded(replied), methods=["POST"]),
    ]
