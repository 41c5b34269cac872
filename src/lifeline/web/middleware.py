"""Who is asking, before any page runs (starlette `middleware/authentication.py`): the session
cookie (identity/sessions.py through WebLogin) becomes a `PageUser` in the ASGI scope
(`request.user`), the language is chosen (web/i18n.py), and the route's access, declared once in
web/routes.py, is enforced:

- a protected page asked without a login goes to /login?next=<the page> (303); so does a form sent
  without one (its session ended while the person typed), to the page it came from, where
  static/drafts.js puts the typed text back; the form itself is not acted on;
- a staff-only page asked by a patient, or a patient-only one by staff: 403.

Forms still carry the session's CSRF token, checked by each handler (`WebLogin.checked`): the
middleware says who, the token says the form came from Lifeline.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import replace
from typing import Any

import orjson
from starlette.authentication import AuthCredentials
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse
from starlette.routing import BaseRoute, Match

from lifeline.errors import FhirError, Forbidden
from lifeline.fhir.request import FhirRequest
from lifeline.identity import records
from lifeline.identity.sessions import PATIENT as PATIENT_SESSION
from lifeline.identity.sessions import STAFF as STAFF_SESSION
from lifeline.identity.sessions import WebSession
from lifeline.web import i18n
from lifeline.web.errors import send_error_page
from lifeline.web.layout import ANONYMOUS, CURRENT, PATIENT, STAFF, PageContext, PageUser
from lifeline.web.login import SESSION_IN_SCOPE, WebLogin, login_url
from lifeline.web.pages.chart import header
from lifeline.web.routes import LOGGED_IN, PATIENT_ONLY, PUBLIC, STAFF_ONLY

NAME_KEPT = "practitionerName"  # the session's copy of its practitioner's name
ASGIApp = Callable[[dict[str, Any], Any, Any], Awaitable[None]]
WRONG_KIND = {STAFF_ONLY: "This page is for staff.", PATIENT_ONLY: "This page is for patients."}


def user_of(web: WebLogin, session: WebSession | None) -> PageUser:
    """The person a live session belongs to (blocking: reads the session's user record)."""
    if session is None or not session.logged_in:
        return PageUser(session=session)
    if session.kind == STAFF_SESSION:
        user = records.get_user(web.service.repo, session.username) if session.username else None
        roles = ("staff", *(user.extra_roles if user else ()))
        staff = PageUser(session, STAFF, session.username, session.username or "", session.fhir_user, roles)
        return replace(staff, display_name=person_name(web, staff) or staff.display_name)
    kind = PATIENT if session.kind == PATIENT_SESSION else ANONYMOUS
    person = PageUser(session, kind, session.username, session.fhir_user or "", session.fhir_user, ())
    # A patient sees their own name in the top bar, never a Patient/id.
    return replace(person, display_name=person_name(web, person) or person.display_name) if kind == PATIENT else person


def person_name(web: WebLogin, user: PageUser) -> str | None:
    """The name of the practitioner a staff login is linked to, or of a patient's own Patient, as
    the top bar shows who is logged in: read once per session through the core as that person
    (on the trail like any read), then kept with the session. None when the login names no
    person, or one with no name the person may read."""
    session = user.session
    if session is None:
        return None
    if NAME_KEPT not in session.data:
        reference = user.fhir_user or ""
        name = ""
        res_type, _, res_id = reference.partition("/")
        if res_type in ("Practitioner", "Patient") and res_id:
            asking = FhirRequest("read", res_type, res_id)
            try:
                answer = web.service.as_user(user.principal, None, user.purpose).handle(asking)
                found = orjson.loads(answer.raw) if answer.raw is not None else answer.resource or {}
                name = header.name(found) if isinstance(found, dict) else ""
            except FhirError:  # no such person, or not to be read: the login name is shown
                name = ""
        session.data[NAME_KEPT] = name
        web.sessions.save(session)
    return str(session.data[NAME_KEPT]) or None


class PageMiddleware:
    """Session -> `scope["user"]`, language -> `scope["language"]`, and the access of each route."""

    def __init__(
        self,
        app: ASGIApp,
        web: WebLogin,
        routes: list[BaseRoute],
        access: Mapping[str, str],
        context: Callable[[PageUser, str, str], PageContext],
    ) -> None:
        self.app, self.web, self.routes, self.access, self.context = app, web, routes, access, context

    def access_of(self, scope: dict[str, Any]) -> str:
        for route in self.routes:
            match, _ = route.matches(scope)
            if match != Match.NONE:
                return self.access[getattr(route, "path", "")]
        return PUBLIC  # no route: the router answers 404

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        has_cookie = self.web.cookie_name(request) in request.cookies
        session = await run_in_threadpool(self.web.session_of, request) if has_cookie else None
        user = await run_in_threadpool(user_of, self.web, session) if session is not None else PageUser()
        language = i18n.chosen(request.cookies.get(i18n.COOKIE), request.headers.get("accept-language"))
        scope[SESSION_IN_SCOPE] = session  # the handlers' `web.session_of` reads it, not the store again
        scope["user"], scope["auth"], scope["language"] = user, AuthCredentials(list(user.roles)), language
        path = scope.get("path", "/")
        token = CURRENT.set(self.context(user, language, path))
        try:
            access = self.access_of(scope)
            if access != PUBLIC and not user.is_authenticated:
                # To the login and back: a page to its address, a form (its session ended while
                # the person typed) to the page it was sent from, which static/drafts.js refills.
                query = scope.get("query_string", b"").decode("latin-1")
                await RedirectResponse(login_url(path + ("?" + query if query else "")), 303)(scope, receive, send)
                return
            if (access == STAFF_ONLY and user.kind != STAFF) or (access == PATIENT_ONLY and user.kind != PATIENT):
                await send_error_page(scope, receive, send, Forbidden(WRONG_KIND[access]))
                return
            assert access in (PUBLIC, LOGGED_IN, STAFF_ONLY, PATIENT_ONLY)
            await self.app(scope, receive, send)
        finally:
            CURRENT.reset(token)
