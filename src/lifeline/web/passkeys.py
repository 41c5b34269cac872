"""Passkeys (WebAuthn) on the login pages: registering one from the account page, and using one
instead of a code at the second step. The ceremony itself is identity/webauthn_factor.py and
identity/login.py; these routes speak JSON with static/passkeys.js (served by web/assets.py), which hands the options to
navigator.credentials and posts the answer back with the session's CSRF token. The challenge stays
in the session and answers one request."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from lifeline import jsontext
from lifeline.identity.login import ENROLMENT_REFUSED, LoginFailed, PasskeyCeremony
from lifeline.identity.sessions import STAFF, WebSession, csrf_matches
from lifeline.web.login import CSRF_REFUSED, WebLogin, client_host, text_or_none

JsonHandler = Callable[[Request, Any], Response]
_JSON_BYTES = 64 * 1024  # a passkey's answer is a few kilobytes at most


def threaded_json(handler: JsonHandler) -> Callable[[Request], Awaitable[Response]]:
    """Read a JSON body (POST) on the event loop, then run the handler in a worker thread."""

    async def endpoint(request: Request) -> Response:
        body: Any = None
        if request.method == "POST":
            raw = b""
            async for chunk in request.stream():
                raw += chunk
                if len(raw) > _JSON_BYTES:
                    return json_answer({"error": "The request is too large."}, 413)
            try:
                body = orjson.loads(raw)
            except orjson.JSONDecodeError:
                return json_answer({"error": "The request is not JSON."}, 400)
        return await run_in_threadpool(handler, request, body)

    return endpoint


def json_answer(body: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None) -> Response:
    # Ceremony options carry a one-time challenge: never cached.
    headers = {"Cache-Control": "no-store"} | (headers or {})
    return Response(jsontext.dumps(body), status, headers, media_type="application/json")


def passkey_refused(failed: LoginFailed) -> Response:
    """A refused passkey step as JSON, for the script to show beside its button."""
    if failed.retry_after:
        return json_answer({"error": failed.message}, 429, {"Retry-After": str(failed.retry_after)})
    status = 403 if failed.message == ENROLMENT_REFUSED else 400
    return json_answer({"error": failed.message, "field": failed.field or "passkey"}, status)


def routes(web: WebLogin) -> list[Route]:
    def begin(session: WebSession, key: str, start: Callable[[str], PasskeyCeremony]) -> Response:
        """A ceremony's options for the browser; its challenge is kept in the session for one answer."""
        assert session.username is not None
        try:
            ceremony = start(session.username)
        except LoginFailed as failed:
            return passkey_refused(failed)
        session.data[key] = ceremony.kept
        web.sessions.save(session)
        return json_answer(ceremony.options)

    def passkey_login(request: Request, body: Any) -> Response:
        """GET: options for navigator.credentials.get(); POST: its answer, in place of a code."""
        session = web.pending_session(request, "second-factor")
        if session is None or session.username is None:
            return json_answer({"error": "The login has expired. Start again.", "location": "/login"}, 401)
        if request.method == "GET":
            return begin(session, "passkey", web.staff.begin_passkey_login)
        if not isinstance(body, dict) or not csrf_matches(session, text_or_none(body.get("csrf"))):
            return json_answer({"error": CSRF_REFUSED}, 403)
        kept = session.data.pop("passkey", None)
        web.sessions.save(session)  # the challenge answers one request
        answer = body.get("credential")
        try:
            if not isinstance(answer, dict):
                raise LoginFailed("The passkey sent no answer. Try again.", "passkey")
            device = web.device_of(request)
            user = web.staff.passkey_second_factor(session.username, answer, kept, client_host(request), device)
        except LoginFailed as failed:
            return passkey_refused(failed)
        renewed, target = web.completed(session, user.must_change_password, user.practitioner)
        answered = web.with_cookie(request, json_answer({"location": target}), renewed)
        return web.remember_device(request, answered, session.username)

    def passkey_registration(request: Request, body: Any) -> Response:
        """GET: options for navigator.credentials.create(); POST: its answer, stored with the user."""
        session = web.session_of(request)
        if request.method == "POST" and (
            session is None or not isinstance(body, dict) or not csrf_matches(session, text_or_none(body.get("csrf")))
        ):
            return json_answer({"error": CSRF_REFUSED}, 403)
        if session is None or session.kind != STAFF or session.username is None:
            return json_answer({"error": "Log in as staff first.", "location": "/login"}, 401)
        if request.method == "GET":
            return begin(session, "passkey_registration", web.staff.begin_passkey_registration)
        kept = session.data.pop("passkey_registration", None)
        web.sessions.save(session)
        answer = body.get("credential")
        try:
            if not isinstance(answer, dict):
                raise LoginFailed("The passkey sent no answer. Try again.", "passkey")
            user = web.staff.register_passkey(session.username, answer, kept, text_or_none(body.get("label")) or "")
        except LoginFailed as failed:
            return passkey_refused(failed)
        return json_answer({"label": user.passkeys[-1]["label"], "location": "/login"})

    return [
        Route("/login/second-factor/passkey", threaded_json(passkey_login), methods=["GET", "POST"]),
        Route("/login/passkeys", threaded_json(passkey_registration), methods=["GET", "POST"]),
    ]
