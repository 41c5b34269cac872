"""A page is a data function plus a template (datasette's views: `views/base.py` renders the same
`data()` as HTML or, with `.json`, as JSON; `views/row.py` is one such view).

    def data(request: Request) -> dict[str, Any]:  # runs in a worker thread: it may ask the core
        return {"conflicts": ...}

    Route("/conflicts", page("conflicts.html", data))

`page()` runs `data` in a worker thread, then renders the template with its dict inside the base
layout (web/layout.py) — or, for `?_format=json` or an Accept of JSON, answers the dict itself as
JSON. The page's logic is therefore tested through its JSON, its look in a browser; the template
only renders. Both forms are `no-store` (web/security_headers.py): they show someone's data.
Who may ask is declared in web/routes.py, not here.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from lifeline import jsontext
from lifeline.fhir.acting import Acting
from lifeline.fhir.service import FhirService
from lifeline.web.errors import wants_json
from lifeline.web.layout import NO_STORE, PageUser, render
from lifeline.web.login import client_host

Data = Callable[[Request], dict[str, Any]]


def acting(service: FhirService, request: Request) -> Acting:
    """The core acting as the page's person (fhir/acting.py): every read and write a page makes
    goes through it, authorised, filtered, audited and written through like an API call."""
    user: PageUser = request.user
    return service.as_user(user.principal, client_host(request), user.purpose)


def page(template: str, data: Data) -> Callable[[Request], Awaitable[Response]]:
    """The endpoint of a page: `data` as HTML through `template`, or as JSON."""

    async def endpoint(request: Request) -> Response:
        values = await run_in_threadpool(data, request)
        if wants_json(request.scope):
            return Response(jsontext.dumps(values), headers=NO_STORE, media_type="application/json")
        return await run_in_threadpool(render, template, 200, NO_STORE, **values)

    return endpoint


def answered(request: Request, template: str, status: int, values: dict[str, Any]) -> Response:
    """A form's answer that is not a redirect (its problems beside their fields, usually 400):
    `values` through `template` with `status`, or as JSON when the request asks for JSON, as
    `page()` answers. Blocking: for a form's handler in a worker thread."""
    if wants_json(request.scope):
        return Response(jsontext.dumps(values), status, NO_STORE, media_type="application/json")
    return render(template, status, NO_STORE, **values)
