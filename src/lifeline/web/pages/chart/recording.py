"""The routes of a chart form that records care (issue 21, "Record care"): notes, vital signs,
orders, doses given — one way for all of them.

GET shows the form with the chart's header; POST checks the session's CSRF token, reads and
checks the form (`drafted`), refuses a login not linked to a practitioner (nothing could name
them as author), shows the problems beside their fields with nothing written (400), writes
through the core as the clinician (`save`, which answers where the result shows) and redirects
there (POST-redirect-GET, so a reload sends nothing again). The core's own refusal (its
validation) is shown in its words; a patient outside care is the chart's refusal (`refusing`);
storage that is down is the error page. What makes a second send write nothing is the form's
one-time key (form_key.py).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, TypeVar

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from lifeline.access.errors import Withheld
from lifeline.errors import FhirError, StorageUnavailable
from lifeline.web.layout import NO_STORE, render
from lifeline.web.login import WebLogin, csrf_refused, threaded
from lifeline.web.pages import page
from lifeline.web.pages.chart.page import refusing


class Draft(Protocol):
    """A form as filled in: what is wrong with it by field, and the core's words if it refused."""

    problems: dict[str, str]
    refusal: str


D = TypeVar("D", bound=Draft)


def routes(
    web: WebLogin,
    path: str,
    template: str,
    *,
    shown: Callable[[Request, D], dict[str, Any]],
    blank: Callable[[], D],
    drafted: Callable[[Request, FormData], D],
    save: Callable[[Request, D, str], str],
) -> list[Route]:
    """The GET and POST of the form at `path`: `shown(request, draft)` is the page's data (the
    form as filled in), `blank()` a fresh form, `drafted(request, form)` the posted form checked,
    `save(request, draft, author)` writes it as Practitioner `author` and answers where to go."""

    def data(request: Request) -> dict[str, Any]:
        return shown(request, blank())

    def written(request: Request, form: FormData | None) -> Response:
        if web.checked(request, form) is None or form is None:
            return csrf_refused()
        draft = drafted(request, form)
        author = request.user.fhir_user or ""
        if not author.startswith("Practitioner/"):
            draft.problems["author"] = "missing"
        if draft.problems:
            return render(template, 400, NO_STORE, **shown(request, draft))
        try:
            where = save(request, draft, author)
        except (StorageUnavailable, Withheld):
            raise  # the error page, or the refusal: nothing of anyone's is shown
        except FhirError as error:
            draft.refusal = str(error)
            return render(template, error.status, NO_STORE, **shown(request, draft))
        return RedirectResponse(where, 303)

    return [
        Route(path, refusing(web.service, page(template, data)), methods=["GET"]),
        Route(path, refusing(web.service, threaded(written)), methods=["POST"]),
    ]
