"""Who is asking, before any page runs (starlette `middleware/authentication.py`): the session
cookie (identity/sessions.py through WebLogin) becomes a `PageUser` in the ASGI scope
(`request.user`), the language is chosen (web/i18n.py), and the route's access, declared once in
web/routes.py, is enforced:

- a protected page asked without a login: GET goes to /login?next=<the page> (303); a form sent
  without one is refused (403, as a form without its CSRF token is);
- a staff-only page asked by a patient, or a patient-only one by staff: 403.

Forms still carry the session's CSRF token, checked by each handler (`WebLogin.checked`): the
middleware says who, the token says the form came from Lifeline.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from starlette.authentication import AuthCredentials
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse
from starlette.routing import BaseRoute, Match

from lifeline.errors import Forbidden
from lifeline.identity import records
from lifeline.identity.sessions import PATIENT as PATIENT_SESSION
from lifeline.identity.sessions import STAFF as STAFF_SESSION
from lifeline.identity.sessions import WebSession
from lifeline.web import i18n
from lifeline.web.errors import send_error_page
from lifeline.web.layout import ANONYMOUS, CURRENT, PATIENT, STAFF, PageContext, PageUser
from lifeline.web.login import SESSION_IN_SCOPE, WebLogin, login_url
from lifeline.web.routes import LOGGED_IN, PATIENT_ONLY, PUBLIC, STAFF_ONLY

ASGIApp = Callable[[dict[str, Any], Any, Any], Awaitable[None]]
NOT_LOGGED_IN = "This form needs you to be logged in. Log in and try again."
WRONG_KIND = {STAFF_ONLY: "This page is for staff.", PATIENT_ONLY: "This page is for patients."}


def user_of(web: WebLogin, session: WebSession | None) -> PageUser:
    """The person a live session belongs to (blocking: reads the session's user record)."""
    if session is None or not session.logged_in:
        return PageUser(session=session)
    if session.kind == STAFF_SESSION:
        user = records.get_user(web.service.repo, session.username) if session.username else None
        roles = ("staff", *(user.extra_roles if user else ()))
        name = session.username or ""
        return PageUser(session, STAFF, session.username, name, session.fhir_user, roles)
    kind = PATIENT if session.kind == PATIENT_SESSION else ANONYMOUS
    return PageUser(session, kind, session.username, session.fhir_user or "", session.fhir_user, ())


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
                if request.method not in ("GET", "HEAD"):
                    await send_error_page(scope, receive, send, Forbidden(NOT_LOGGED_IN))
                    return
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
