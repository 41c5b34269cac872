"""The login pages: staff (password, TOTP, enrolment, password change), patients (the citizen
identity provider), and logging out. The steps themselves are identity/login.py and
identity/citizen.py; these routes carry them to the browser.

Cookies: HttpOnly, SameSite=Lax, Path=/, and over https Secure with the `__Host-` prefix (which
pins the cookie to this host). Every form that changes anything carries the session's CSRF token,
checked in constant time (a wrong or missing one is a 403). The session id changes at every step
of a login, so an id planted before the login is worth nothing after it. Errors are shown beside
the field they concern.

Passkeys (identity/webauthn_factor.py) speak JSON with static/passkeys.js: the page's script fetches
the ceremony's options, hands them to navigator.credentials and posts the answer back with the CSRF
token; the challenge stays in the session and answers one request. A logged-in user registers one
from the account page; at the second step a passkey completes the login just as a code does.
"""

from __future__ import annotations

import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import cache
from importlib.resources import files
from typing import Any
from urllib.parse import urlencode, urlsplit

import orjson
from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from lifeline.config import issuer_of
from lifeline.fhir.cpr import CPR_SYSTEM
from lifeline.fhir.request import FhirRequest
from lifeline.fhir.service import FhirService
from lifeline.identity import records
from lifeline.identity.citizen import CitizenLogin, CitizenLoginConfig, CitizenLoginError, LoginState
from lifeline.identity.login import ENROLMENT_REFUSED, LoginFailed, StaffLogin
from lifeline.identity.principal import OPERATOR
from lifeline.identity.sessions import ANONYMOUS, PATIENT, PENDING, STAFF, Sessions, WebSession, csrf_matches
from lifeline.identity.sessions import log_out_everywhere as raise_sessions_epoch
from lifeline.identity.state import StateCounterStore
from lifeline.identity.throttle import LoginThrottle
from lifeline.identity.totp import provisioning_uri
from lifeline.identity.webauthn_factor import RelyingParty

COOKIE = "lifeline-session"
SECURE_COOKIE = "__Host-lifeline-session"
CSRF_REFUSED = "This form has expired or did not come from Lifeline. Go back, reload the page and try again."
_CONTROL = re.compile(r"[\x00-\x20\x7f\\]")
_JSON_BYTES = 64 * 1024  # a passkey's answer is a few kilobytes at most

templates = Environment(loader=PackageLoader("lifeline.web", "templates"), autoescape=select_autoescape(["html"]))
Handler = Callable[[Request, FormData | None], Response]
JsonHandler = Callable[[Request, Any], Response]


def render(name: str, status: int = 200, headers: dict[str, str] | None = None, **context: Any) -> HTMLResponse:
    return HTMLResponse(templates.get_template(name).render(**context), status_code=status, headers=headers)


def local_path(target: str | None, default: str = "/") -> str:
    """`target` if it is a path on this server, else `default`: never an open redirect."""
    if not target or not target.startswith("/") or target.startswith("//") or _CONTROL.search(target):
        return default
    parts = urlsplit(target)
    return target if not parts.scheme and not parts.netloc else default


def _threaded(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    """Read the form on the event loop, then run the handler (database, argon2) in a worker thread."""

    async def endpoint(request: Request) -> Response:
        form = await request.form() if request.method == "POST" else None
        return await run_in_threadpool(handler, request, form)

    return endpoint


def _threaded_json(handler: JsonHandler) -> Callable[[Request], Awaitable[Response]]:
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
    return Response(orjson.dumps(body), status, headers, media_type="application/json")


def relying_party_of(issuer: str) -> RelyingParty:
    """Passkeys are bound to this node's public host (the rp id) and origin, both from the issuer."""
    parts = urlsplit(issuer)
    return RelyingParty(id=parts.hostname or "localhost", name="Lifeline", origin=f"{parts.scheme}://{parts.netloc}")


@cache
def _passkeys_script() -> bytes:
    return files("lifeline.web").joinpath("static/passkeys.js").read_bytes()


@dataclass
class WebLogin:
    """What the pages share: the sessions, the staff login steps and the citizen relying party."""

    service: FhirService
    clock: Callable[[], float] = time.time
    code_clock: Callable[[], float] | None = None  # what phone codes are checked against
    _citizen: CitizenLogin | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        identity = self.service.identity
        level = self.service.settings.threat_level
        # Phone codes are checked against the peers' time (identity/clock_skew.py) unless told.
        code_clock = self.code_clock or identity.skew.peer_time
        clock = self.clock
        self.sessions = Sessions(self.service.repo, identity.state, level, clock=clock)
        throttle = LoginThrottle(StateCounterStore(identity.state), clock=clock)
        self.issuer = issuer_of(self.service.settings)
        self.staff = StaffLogin(
            self.service.repo,
            identity.state,
            throttle,
            lambda: identity.kek,
            threat_level=level,
            clock=clock,
            code_clock=code_clock,
            relying_party=relying_party_of(self.issuer),
        )

    @property
    def citizen(self) -> CitizenLogin | None:
        settings = self.service.settings
        if self._citizen is None and settings.citizen_issuer:
            config = CitizenLoginConfig(
                issuer=settings.citizen_issuer,
                client_id=settings.citizen_client_id,
                client_secret=settings.citizen_client_secret,
                redirect_uri=f"{self.issuer}/login/citizen/callback",
                cpr_claim=settings.citizen_cpr_claim,
            )
            self._citizen = CitizenLogin(config)
        return self._citizen

    # Sessions and cookies.

    def cookie_name(self, request: Request) -> str:
        return SECURE_COOKIE if request.url.scheme == "https" else COOKIE

    def session_of(self, request: Request) -> WebSession | None:
        return self.sessions.get(request.cookies.get(self.cookie_name(request)))

    def with_cookie(self, request: Request, response: Response, session: WebSession) -> Response:
        secure = request.url.scheme == "https"
        response.set_cookie(
            self.cookie_name(request), session.id, path="/", secure=secure, httponly=True, samesite="lax"
        )
        return response

    def forget_cookie(self, request: Request, response: Response) -> Response:
        secure = request.url.scheme == "https"
        response.delete_cookie(self.cookie_name(request), path="/", secure=secure, httponly=True, samesite="lax")
        return response

    def checked(self, request: Request, form: FormData | None) -> WebSession | None:
        """The session of a state-changing request, if its CSRF token is right."""
        session = self.session_of(request)
        token = form.get("csrf") if form is not None else None
        if session is None or not csrf_matches(session, token if isinstance(token, str) else None):
            return None
        return session

    def patient_for_cpr(self, cpr: str) -> str | None:
        """The id of the Patient with this CPR number, searched through the FHIR core."""
        request = FhirRequest(
            "search", "Patient", params=[("identifier", f"{CPR_SYSTEM}|{cpr}"), ("_count", "2")], principal=OPERATOR
        )
        bundle = self.service.handle(request).resource or {}
        matches = []
        for entry in bundle.get("entry", []):
            resource = entry.get("resource")
            if isinstance(resource, orjson.Fragment):  # stored JSON passed through as it is
                resource = orjson.loads(orjson.dumps(resource))
            if isinstance(resource, dict) and resource.get("resourceType") == "Patient":
                matches.append(str(resource["id"]))
        return matches[0] if len(matches) == 1 else None

    def has_passkeys(self, username: str | None) -> bool:
        user = records.get_user(self.service.repo, username) if username else None
        return user is not None and bool(user.passkeys)


def csrf_refused() -> Response:
    return render("message.html", 403, title="Form refused", message=CSRF_REFUSED)


def passkey_refused(failed: LoginFailed) -> Response:
    """A refused passkey step as JSON, for the script to show beside its button."""
    if failed.retry_after:
        return json_answer({"error": failed.message}, 429, {"Retry-After": str(failed.retry_after)})
    status = 403 if failed.message == ENROLMENT_REFUSED else 400
    return json_answer({"error": failed.message, "field": failed.field or "passkey"}, status)


def routes(web: WebLogin) -> list[Route]:
    def login_form(request: Request, session: WebSession, status: int = 200, **context: Any) -> Response:
        next_path = local_path(context.pop("next", None) or request.query_params.get("next"))
        headers = {"Retry-After": str(context.pop("retry_after"))} if context.get("retry_after") else None
        context.pop("retry_after", None)
        page = render(
            "login.html",
            status,
            headers,
            csrf=session.csrf,
            next=next_path,
            citizen=web.citizen is not None,
            **context,
        )
        return web.with_cookie(request, page, session)

    def anonymous(request: Request) -> WebSession:
        session = web.session_of(request)
        if session is None or session.kind not in (ANONYMOUS, PENDING):
            session = web.sessions.create(ANONYMOUS)
        return session

    def login_page(request: Request, form: FormData | None) -> Response:
        session = web.session_of(request)
        if session is not None and session.logged_in:
            return account_page(session)
        return login_form(request, anonymous(request))

    def account_page(session: WebSession) -> Response:
        staff = session.kind == STAFF
        user = records.get_user(web.service.repo, session.username) if staff and session.username else None
        return render(
            "account.html",
            who=session.username or session.fhir_user,
            csrf=session.csrf,
            staff=staff,
            passkeys=user.passkeys if user else [],
            enrolment_refused=ENROLMENT_REFUSED if web.staff.threat_level == "high" else None,
        )

    def login_submit(request: Request, form: FormData | None) -> Response:
        assert form is not None
        session = web.checked(request, form)
        if session is None:
            return csrf_refused()
        username, password = str(form.get("username", "")), str(form.get("password", ""))
        next_path = local_path(str(form.get("next", "")))
        try:
            user, step = web.staff.check_password(username, password, _host(request))
            data: dict[str, Any] = {"next": next_path}
            if step == "enrol":
                enrolment = web.staff.begin_enrolment(user)
                data["enrol_secret"] = enrolment.secret
        except LoginFailed as failed:
            status = 429 if failed.retry_after else 200
            errors = {failed.field or "form": failed.message}
            return login_form(
                request,
                session,
                status,
                next=next_path,
                username=username,
                errors=errors,
                retry_after=failed.retry_after,
            )
        pending = web.sessions.rotate(
            session, PENDING, username=user.username, epoch=user.sessions_epoch, step=step, data=data
        )
        target = "/login/enrol" if step == "enrol" else "/login/second-factor"
        return web.with_cookie(request, RedirectResponse(target, 303), pending)

    def pending_session(request: Request, step: str) -> WebSession | None:
        session = web.session_of(request)
        return session if session is not None and session.kind == PENDING and session.step == step else None

    def completed(session: WebSession, must_change: bool, practitioner: str) -> tuple[WebSession, str]:
        """The second factor was right: the session (under a new id) and where it goes next."""
        if must_change:
            return web.sessions.rotate(session, PENDING, step="password"), "/login/password"
        done = web.sessions.rotate(session, STAFF, step=None, fhir_user=f"Practitioner/{practitioner}", data={})
        return done, local_path(session.data.get("next"))

    def finish(request: Request, session: WebSession, must_change: bool, **extra: Any) -> Response:
        """The second factor was right: the next step, or the completed login under a new id."""
        renewed, target = completed(session, must_change, extra["practitioner"])
        if renewed.kind == STAFF and extra.get("recovery_codes"):
            page = render("recovery_codes.html", codes=extra["recovery_codes"], next=target)
            return web.with_cookie(request, page, renewed)
        return web.with_cookie(request, RedirectResponse(target, 303), renewed)

    def second_factor(request: Request, form: FormData | None) -> Response:
        session = pending_session(request, "second-factor")
        if session is None:
            return RedirectResponse("/login", 303)
        passkey = web.has_passkeys(session.username)
        if form is None:
            return render("second_factor.html", csrf=session.csrf, passkey=passkey)
        if not csrf_matches(session, _text(form, "csrf")):
            return csrf_refused()
        assert session.username is not None
        try:
            user = web.staff.second_factor(session.username, _text(form, "code"), _host(request))
        except LoginFailed as failed:
            status = 429 if failed.retry_after else 200
            errors = {"code": failed.message}
            return render("second_factor.html", status, csrf=session.csrf, passkey=passkey, errors=errors)
        return finish(request, session, user.must_change_password, practitioner=user.practitioner)

    def passkey_login(request: Request, body: Any) -> Response:
        """GET: options for navigator.credentials.get(); POST: its answer, in place of a code."""
        session = pending_session(request, "second-factor")
        if session is None or session.username is None:
            return json_answer({"error": "The login has expired. Start again.", "location": "/login"}, 401)
        if request.method == "GET":
            try:
                ceremony = web.staff.begin_passkey_login(session.username)
            except LoginFailed as failed:
                return passkey_refused(failed)
            session.data["passkey"] = ceremony.kept
            web.sessions.save(session)
            return json_answer(ceremony.options)
        if not isinstance(body, dict) or not csrf_matches(session, _string(body.get("csrf"))):
            return json_answer({"error": CSRF_REFUSED}, 403)
        kept = session.data.pop("passkey", None)
        web.sessions.save(session)  # the challenge answers one request
        answer = body.get("credential")
        try:
            if not isinstance(answer, dict):
                raise LoginFailed("The passkey sent no answer. Try again.", "passkey")
            user = web.staff.passkey_second_factor(session.username, answer, kept, _host(request))
        except LoginFailed as failed:
            return passkey_refused(failed)
        renewed, target = completed(session, user.must_change_password, user.practitioner)
        return web.with_cookie(request, json_answer({"location": target}), renewed)

    def passkey_registration(request: Request, body: Any) -> Response:
        """GET: options for navigator.credentials.create(); POST: its answer, stored with the user."""
        session = web.session_of(request)
        if request.method == "POST" and (
            session is None or not isinstance(body, dict) or not csrf_matches(session, _string(body.get("csrf")))
        ):
            return json_answer({"error": CSRF_REFUSED}, 403)
        if session is None or session.kind != STAFF or session.username is None:
            return json_answer({"error": "Log in as staff first.", "location": "/login"}, 401)
        if request.method == "GET":
            try:
                ceremony = web.staff.begin_passkey_registration(session.username)
            except LoginFailed as failed:
                return passkey_refused(failed)
            session.data["passkey_registration"] = ceremony.kept
            web.sessions.save(session)
            return json_answer(ceremony.options)
        kept = session.data.pop("passkey_registration", None)
        web.sessions.save(session)
        answer = body.get("credential")
        try:
            if not isinstance(answer, dict):
                raise LoginFailed("The passkey sent no answer. Try again.", "passkey")
            user = web.staff.register_passkey(session.username, answer, kept, _string(body.get("label")) or "")
        except LoginFailed as failed:
            return passkey_refused(failed)
        return json_answer({"label": user.passkeys[-1]["label"], "location": "/login"})

    async def passkeys_script(request: Request) -> Response:
        headers = {"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"}
        return Response(_passkeys_script(), headers=headers, media_type="text/javascript; charset=utf-8")

    def enrol(request: Request, form: FormData | None) -> Response:
        session = pending_session(request, "enrol")
        if session is None:
            return RedirectResponse("/login", 303)
        assert session.username is not None
        secret = str(session.data.get("enrol_secret", ""))
        context: dict[str, Any] = {
            "csrf": session.csrf,
            "secret": secret,
            "uri": provisioning_uri(secret, session.username),
        }
        if form is None:
            return render("enrol.html", **context)
        if not csrf_matches(session, _text(form, "csrf")):
            return csrf_refused()
        try:
            user, codes = web.staff.confirm_enrolment(session.username, secret, _text(form, "code"), _host(request))
        except LoginFailed as failed:
            return render("enrol.html", 429 if failed.retry_after else 200, errors={"code": failed.message}, **context)
        if user.must_change_password:
            session.data["recovery_codes"] = codes
        return finish(request, session, user.must_change_password, practitioner=user.practitioner, recovery_codes=codes)

    def password(request: Request, form: FormData | None) -> Response:
        session = web.session_of(request)
        if session is None or not ((session.kind == PENDING and session.step == "password") or session.kind == STAFF):
            return RedirectResponse("/login", 303)
        if form is None:
            return render("password.html", csrf=session.csrf)
        if not csrf_matches(session, _text(form, "csrf")):
            return csrf_refused()
        assert session.username is not None
        try:
            user = web.staff.change_password(session.username, _text(form, "new"), _text(form, "repeated"))
        except LoginFailed as failed:
            return render("password.html", csrf=session.csrf, errors={failed.field or "new": failed.message})
        if session.kind == STAFF:
            return render("message.html", title="Password changed", message="Your password has been changed.")
        codes = session.data.get("recovery_codes")
        return finish(request, session, False, practitioner=user.practitioner, recovery_codes=codes)

    def logout(request: Request, form: FormData | None) -> Response:
        session = web.checked(request, form)
        if session is None:
            return csrf_refused()
        web.sessions.end(session.id)
        return web.forget_cookie(request, RedirectResponse("/login", 303))

    def logout_everywhere(request: Request, form: FormData | None) -> Response:
        session = web.checked(request, form)
        if session is None:
            return csrf_refused()
        if session.kind == STAFF and session.username is not None:
            raise_sessions_epoch(web.service.repo, session.username)
        web.sessions.end(session.id)
        return web.forget_cookie(request, RedirectResponse("/login", 303))

    def citizen_begin(request: Request, form: FormData | None) -> Response:
        citizen = web.citizen
        session = anonymous(request)
        if citizen is None:
            return login_form(request, session, 404, errors={"citizen": "Patient login is not set up on this server."})
        try:
            authorisation = citizen.begin()
        except CitizenLoginError as error:
            return login_form(request, session, error.status, errors={"citizen": error.message})
        session.data = {"citizen": authorisation.state.as_dict(), "next": local_path(request.query_params.get("next"))}
        web.sessions.save(session)
        return web.with_cookie(request, RedirectResponse(authorisation.url, 303), session)

    def citizen_callback(request: Request, form: FormData | None) -> Response:
        citizen = web.citizen
        session = anonymous(request)
        if citizen is None:
            return login_form(request, session, 404, errors={"citizen": "Patient login is not set up on this server."})
        state = LoginState.from_dict(session.data.pop("citizen", None))
        web.sessions.save(session)  # the login state is single-use
        try:
            identity = citizen.finish(dict(request.query_params), state)
        except CitizenLoginError as error:
            return login_form(request, session, error.status, errors={"citizen": error.message})
        patient = web.patient_for_cpr(identity.cpr)
        if patient is None:
            message = "Lifeline holds no record for you, or more than one; please contact your clinic."
            return login_form(request, session, 403, errors={"citizen": message})
        done = web.sessions.rotate(
            session, PATIENT, username=None, fhir_user=f"Patient/{patient}", patient=patient, data={}
        )
        return web.with_cookie(request, RedirectResponse(local_path(session.data.get("next")), 303), done)

    return [
        Route("/login", _threaded(login_page), methods=["GET"]),
        Route("/login", _threaded(login_submit), methods=["POST"]),
        Route("/login/second-factor", _threaded(second_factor), methods=["GET", "POST"]),
        Route("/login/second-factor/passkey", _threaded_json(passkey_login), methods=["GET", "POST"]),
        Route("/login/passkeys", _threaded_json(passkey_registration), methods=["GET", "POST"]),
        Route("/static/passkeys.js", passkeys_script, methods=["GET"]),
        Route("/login/enrol", _threaded(enrol), methods=["GET", "POST"]),
        Route("/login/password", _threaded(password), methods=["GET", "POST"]),
        Route("/logout", _threaded(logout), methods=["POST"]),
        Route("/logout/everywhere", _threaded(logout_everywhere), methods=["POST"]),
        Route("/login/citizen", _threaded(citizen_begin), methods=["GET"]),
        Route("/login/citizen/callback", _threaded(citizen_callback), methods=["GET"]),
    ]


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


def _string(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _host(request: Request) -> str | None:
    return request.client.host if request.client else None


def login_url(next_path: str) -> str:
    return "/login?" + urlencode({"next": local_path(next_path)})
