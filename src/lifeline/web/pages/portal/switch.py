"""`POST /portal/switch`: whose record the portal shows, the parent's own or a child's (people.py).
The form names the person; the choice is kept in the session and checked against the parent's
children now, so a changed field is refused and chooses the parent's own record. Back to the
section the switch was pressed on, never to an address the form names beyond the portal's own."""

from __future__ import annotations

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from lifeline.web.login import WebLogin, csrf_refused, form_text, threaded
from lifeline.web.pages.portal import people

PATH = "/portal/switch"
# The sections a switch returns to (a thread of messages is one person's: back to the list).
SECTIONS = frozenset(
    {"/portal", "/portal/results", "/portal/appointments", "/portal/messages", "/portal/access-log"}
    | {"/portal/download", "/portal/contact"}
)


def back_to(typed: str) -> str:
    """The section to show after the switch: the one the form came from, or the record."""
    if typed.startswith("/portal/messages/"):
        return "/portal/messages"
    return typed if typed in SECTIONS else "/portal"


def routes(web: WebLogin) -> list[Route]:
    def switched(request: Request, form: FormData | None) -> Response:
        if web.checked(request, form) is None or form is None:
            return csrf_refused()
        people.choose(web, request, form_text(form, "person"))
        return RedirectResponse(back_to(form_text(form, "back")), 303)

    return [Route(PATH, threaded(switched), methods=["POST"])]
