"""The staff login pages (password, TOTP or recovery code, enrolment, password change) and logging
out, with what every login page shares (WebLogin: sessions, cookies, CSRF, the shared steps).
The steps themselves are identity/login.py; these routes carry them to the browser. Passkeys are
web/passkeys.py, the patients' login web/citizen_login.py.

Cookies: HttpOnly, SameSite=Lax, Path=/, and over https Secure with the `__Host-` prefix (which
pins the cookie to this host). Every form that changes anything carries the session's CSRF token,
checked in constant time (a wrong or missing one is a 403). The session id changes at every step
of a login, so an id planted before the login is worth nothing after it. Errors are shown beside
the field they concern.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlsplit

import orjson
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from lifeline import jsontext, telemetry
from lifeline.audit import events as audit_events
from lifeline.clock import epoch_clock
from lifeline.config import issuer_of
from lifeline.cpr import CPR_SYSTEM
from lifeline.fhir.acting import Acting
from lifeline.fhir.request import FhirRequest
from lifeline.fhir.service import FhirService
from lifeline.identity import device_cookies, form_tokens, records
from lifeline.identity.citizen import CitizenLogin, CitizenLoginConfig
from lifeline.identity.login import ENROLMENT_REFUSED, LoginFailed, StaffLogin
from lifeline.identity.sessions import ANONYMOUS, PENDING, STAFF, Sessions, WebSession, csrf_matches
from lifeline.identity.sessions import log_out_everywhere as raise_sessions_epoch
from lifeline.identity.state import StateCounterStore
from lifeline.identity.throttle import LoginThrottle
from lifeline.identity.totp import provisioning_uri
from lifeline.identity.webauthn_factor import RelyingParty
from lifeline.web.layout import render

__all__ = ["WebLogin", "render", "routes"]  # render: the pages' one renderer (web/layout.py)

COOKIE = "lifeline-session"
SESSION_IN_SCOPE = "lifeline.session"
SECURE_COOKIE = "__Host-lifeline-session"
# The login form's own cookie, shown without a session (identity/form_tokens.py).
FORM_COOKIE, SECURE_FORM_COOKIE = "lifeline-login-form", "__Host-lifeline-login-form"
# A browser that has completed a staff login, known to the login throttle (identity/device_cookies.py).
DEVICE_COOKIE, SECURE_DEVICE_COOKIE = "lifeline-device", "__Host-lifeline-device"
CSRF_REFUSED = "This form has expired or did not come from Lifeline. Go back, reload the page and try again."
_CONTROL = re.compile(r"[\x00-\x20\x7f\\]")

Handler = Callable[[Request, FormData | None], Response]


def local_path(target: str | None, default: str = "/") -> str:
    """`target` if it is a path on this server, else `default`: never an open redirect."""
    if not target or not target.startswith("/") or target.startswith("//") or _CONTROL.search(target):
        return default
    parts = urlsplit(target)
    return target if not parts.scheme and not parts.netloc else default


def threaded(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    """Read the form on the event loop, then run the handler (database, argon2) in a worker thread."""

    async def endpoint(request: Request) -> Response:
        form = await request.form() if request.method == "POST" else None
        return await run_in_threadpool(handler, request, form)

    return endpoint


def relying_party_of(issuer: str) -> RelyingParty:
    """Passkeys are bound to this node's public host (the rp id) and origin, both from the issuer."""
    parts = urlsplit(issuer)
    return RelyingParty(id=parts.hostname or "localhost", name="Lifeline", origin=f"{parts.scheme}://{parts.netloc}")


@dataclass
class WebLogin:
    """What the pages share: the sessions, the staff login steps and the citizen relying party."""

    service: FhirService
    clock: Callable[[], float] = epoch_clock
    code_clock: Callable[[], float] | None = None  # what phone codes are checked against
    _citizen: CitizenLogin | None = field(default=None, init=False)
    _form_hmac_key: bytes | None = field(default=None, init=False)

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

    def citizen_status(self) -> dict[str, Any] | None:
        """Whether the citizen identity provider failed last time it was asked, and when it last
        answered (ISO, UTC), for the login page; None when patient login is not set up here. Read
        from the relying party's memory, never asked now: the staff login page must not wait on it."""
        citizen = self.citizen
        if citizen is None:
            return None
        working = citizen.last_working.isoformat() if citizen.last_working else None
        return {"down": citizen.down, "lastWorking": working}

    # Sessions and cookies.

    def cookie_name(self, request: Request) -> str:
        return SECURE_COOKIE if request.url.scheme == "https" else COOKIE

    def session_of(self, request: Request) -> WebSession | None:
        if SESSION_IN_SCOPE in request.scope:  # looked up once a request, by web/middleware.py
            found: WebSession | None = request.scope[SESSION_IN_SCOPE]
            return found
        return self.sessions.get(request.cookies.get(self.cookie_name(request)))

    def with_cookie(self, request: Request, response: Response, session: WebSession) -> Response:
        return _cookie(request, response, (COOKIE, SECURE_COOKIE), session.id)

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

    def patient_for_cpr(self, cpr: str, asking: Acting) -> str | None:
        """The id of the one Patient with this CPR number, searched through the core's audited
        entry as `asking` (a staff member, or the citizen login itself)."""
        request = FhirRequest("search", "Patient", params=[("identifier", f"{CPR_SYSTEM}|{cpr}"), ("_count", "2")])
        bundle = asking.handle(request).resource or {}
        matches = []
        for entry in bundle.get("entry", []):
            resource = entry.get("resource")
            if isinstance(resource, orjson.Fragment):  # stored JSON passed through as it is
                resource = orjson.loads(jsontext.dumps(resource))
            if isinstance(resource, dict) and resource.get("resourceType") == "Patient":
                matches.append(str(resource["id"]))
        return matches[0] if len(matches) == 1 else None

    def has_passkeys(self, username: str | None) -> bool:
        user = records.get_user(self.service.repo, username) if username else None
        return user is not None and bool(user.passkeys)

    # Steps the login pages share.

    def login_form(self, request: Request, session: WebSession | None, status: int = 200, **context: Any) -> Response:
        """The login page, with the CSRF token of `session`, or without one (None: a visitor with
        no login under way) a form token bound to a cookie of its own: showing the page writes
        nothing (identity/form_tokens.py)."""
        next_path = local_path(context.pop("next", None) or request.query_params.get("next"))
        headers = {"Retry-After": str(context.pop("retry_after"))} if context.get("retry_after") else None
        context.pop("retry_after", None)
        cookie = None
        if session is None:
            cookie = request.cookies.get(self._form_cookie_name(request))
            if not form_tokens.cookie_fresh(cookie, self.clock()):
                cookie = form_tokens.new_cookie(self.clock())
        page = render(
            "login.html",
            status,
            headers,
            csrf=session.csrf if session is not None else form_tokens.token_for(self._form_key(), str(cookie)),
            next=next_path,
            citizen=self.citizen is not None,
            citizen_status=self.citizen_status(),
            **context,
        )
        if session is not None:
            return self.with_cookie(request, page, session)
        return _cookie(request, page, (FORM_COOKIE, SECURE_FORM_COOKIE), str(cookie), form_tokens.LIFETIME)

    def form_session(self, request: Request) -> WebSession | None:
        """The login under way in this browser (anonymous or pending), if any; never creates one."""
        session = self.session_of(request)
        return session if session is not None and session.kind in (ANONYMOUS, PENDING) else None

    def posted_login(self, request: Request, form: FormData | None) -> WebSession | None:
        """The session a login form was posted from: its own, if its CSRF token is right, or, for a
        form shown without a session, a new anonymous session if the form's token matches its
        cookie (the first row a visitor writes: a form was posted). None: refused."""
        session = self.checked(request, form)
        if session is not None:
            return session
        token = form.get("csrf") if form is not None else None
        cookie = request.cookies.get(self._form_cookie_name(request))
        if form_tokens.token_matches(self._form_key(), cookie, token if isinstance(token, str) else None, self.clock()):
            return self.sessions.create(ANONYMOUS)
        return None

    def _form_cookie_name(self, request: Request) -> str:
        return SECURE_FORM_COOKIE if request.url.scheme == "https" else FORM_COOKIE

    def _form_key(self) -> bytes:
        if self._form_hmac_key is None:
            self._form_hmac_key = form_tokens.form_key(self.service.identity.kek)
        return self._form_hmac_key

    def anonymous(self, request: Request) -> WebSession:
        session = self.session_of(request)
        if session is None or session.kind not in (ANONYMOUS, PENDING):
            session = self.sessions.create(ANONYMOUS)
        return session

    def account_page(self, session: WebSession) -> Response:
        staff = session.kind == STAFF
        user = records.get_user(self.service.repo, session.username) if staff and session.username else None
        return render(
            "account.html",
            who=session.username or session.fhir_user,
            csrf=session.csrf,
            staff=staff,
            passkeys=user.passkeys if user else [],
            enrolment_refused=ENROLMENT_REFUSED if self.staff.threat_level == "high" else None,
        )

    def pending_session(self, request: Request, step: str) -> WebSession | None:
        session = self.session_of(request)
        return session if session is not None and session.kind == PENDING and session.step == step else None

    def completed(self, session: WebSession, must_change: bool, practitioner: str) -> tuple[WebSession, str]:
        """The second factor was right: the session (under a new id) and where it goes next."""
        if must_change:
            return self.sessions.rotate(session, PENDING, step="password"), "/login/password"
        done = self.sessions.rotate(session, STAFF, step=None, fhir_user=f"Practitioner/{practitioner}", data={})
        self.audit("login", user=session.username, fhir_user=f"Practitioner/{practitioner}")
        return done, local_path(session.data.get("next"))

    def audit(self, kind: str, *, person: str = "staff", **details: Any) -> None:
        """A login, failed login or logout on the audit trail, durable before the answer goes;
        a login is counted too (`person`: staff or patient; telemetry.py, /metrics)."""
        node = self.service.settings.node_id
        with telemetry.AUDIT_APPEND.time():
            audit_events.record(self.service.repo, kind, node_id=node, **details)
        if kind == "login":
            telemetry.count_login(node, person, details.get("outcome", "success"))

    def finish(self, request: Request, session: WebSession, must_change: bool, **extra: Any) -> Response:
        """The second factor was right: the next step, or the completed login under a new id."""
        renewed, target = self.completed(session, must_change, extra["practitioner"])
        if renewed.kind == STAFF and extra.get("recovery_codes"):
            page = render("recovery_codes.html", codes=extra["recovery_codes"], next=target)
            return self.remember_device(request, self.with_cookie(request, page, renewed), session.username)
        return self.remember_device(
            request, self.with_cookie(request, RedirectResponse(target, 303), renewed), session.username
        )

    def device_of(self, request: Request) -> str | None:
        """The browser's device cookie, if it sent one (judged by the login, identity/login.py)."""
        return request.cookies.get(SECURE_DEVICE_COOKIE if request.url.scheme == "https" else DEVICE_COOKIE)

    def remember_device(self, request: Request, response: Response, username: str | None) -> Response:
        """After a password and a second factor were right: this browser is known for `username`, so
        an attacker elsewhere cannot throttle its logins (identity/device_cookies.py)."""
        if username:
            value = self.staff.device_cookie(username)
            _cookie(request, response, (DEVICE_COOKIE, SECURE_DEVICE_COOKIE), value, device_cookies.MAX_AGE)
        return response


def csrf_refused() -> Response:
    return render("message.html", 403, title="Form refused", message=CSRF_REFUSED)


def routes(web: WebLogin) -> list[Route]:
    def login_page(request: Request, form: FormData | None) -> Response:
        session = web.session_of(request)
        if session is not None and session.logged_in:
            return web.account_page(session)
        return web.login_form(request, web.form_session(request))  # writes nothing

    def login_submit(request: Request, form: FormData | None) -> Response:
        assert form is not None
        session = web.posted_login(request, form)
        if session is None:
            return csrf_refused()
        username, password = str(form.get("username", "")), str(form.get("password", ""))
        next_path = local_path(str(form.get("next", "")))
        try:
            user, step = web.staff.check_password(username, password, client_host(request), web.device_of(request))
            data: dict[str, Any] = {"next": next_path}
            if step == "enrol":
                enrolment = web.staff.begin_enrolment(user)
                data["enrol_secret"] = enrolment.secret
        except LoginFailed as failed:
            web.audit("login", outcome="failure", user=username, address=client_host(request), text=failed.message)
            status = 429 if failed.retry_after else 200
            errors = {failed.field or "form": failed.message}
            return web.login_form(
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

    def second_factor(request: Request, form: FormData | None) -> Response:
        session = web.pending_session(request, "second-factor")
        if session is None:
            return RedirectResponse("/login", 303)
        passkey = web.has_passkeys(session.username)
        if form is None:
            return render("second_factor.html", csrf=session.csrf, passkey=passkey)
        if not csrf_matches(session, form_text(form, "csrf")):
            return csrf_refused()
        assert session.username is not None
        try:
            user = web.staff.second_factor(
                session.username, form_text(form, "code"), client_host(request), web.device_of(request)
            )
        except LoginFailed as failed:
            web.audit(
                "login", outcome="failure", user=session.username, address=client_host(request), text=failed.message
            )
            status = 429 if failed.retry_after else 200
            errors = {"code": failed.message}
            return render("second_factor.html", status, csrf=session.csrf, passkey=passkey, errors=errors)
        return web.finish(request, session, user.must_change_password, practitioner=user.practitioner)

    def enrol(request: Request, form: FormData | None) -> Response:
        session = web.pending_session(request, "enrol")
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
        if not csrf_matches(session, form_text(form, "csrf")):
            return csrf_refused()
        try:
            user, codes = web.staff.confirm_enrolment(
                session.username, secret, form_text(form, "code"), client_host(request), web.device_of(request)
            )
        except LoginFailed as failed:
            return render("enrol.html", 429 if failed.retry_after else 200, errors={"code": failed.message}, **context)
        if user.must_change_password:
            session.data["recovery_codes"] = codes
        return web.finish(
            request, session, user.must_change_password, practitioner=user.practitioner, recovery_codes=codes
        )

    def password(request: Request, form: FormData | None) -> Response:
        session = web.session_of(request)
        forced = session is not None and session.kind == PENDING and session.step == "password"
        if session is None or not (forced or session.kind == STAFF):
            return RedirectResponse("/login", 303)
        # The forced change follows a temporary password verified in this very login; any other asks it.
        ask_current = not forced
        if form is None:
            return render("password.html", csrf=session.csrf, ask_current=ask_current)
        if not csrf_matches(session, form_text(form, "csrf")):
            return csrf_refused()
        assert session.username is not None
        try:
            user = web.staff.change_password(
                session.username,
                form_text(form, "new"),
                form_text(form, "repeated"),
                current=form_text(form, "current") if ask_current else None,
                address=client_host(request),
            )
        except LoginFailed as failed:
            status = 429 if failed.retry_after else 200
            headers = {"Retry-After": str(failed.retry_after)} if failed.retry_after else None
            errors = {failed.field if failed.field in ("current", "new", "repeated") else "form": failed.message}
            return render("password.html", status, headers, csrf=session.csrf, ask_current=ask_current, errors=errors)
        if session.kind == STAFF:
            return render("message.html", title="Password changed", message="Your password has been changed.")
        codes = session.data.get("recovery_codes")
        return web.finish(request, session, False, practitioner=user.practitioner, recovery_codes=codes)

    def account(request: Request, form: FormData | None) -> Response:
        session = web.session_of(request)
        if session is None or not session.logged_in:  # ended since the middleware looked
            return RedirectResponse(login_url("/account"), 303)
        return web.account_page(session)

    def logout(request: Request, form: FormData | None) -> Response:
        session = web.checked(request, form)
        if session is None:
            return csrf_refused()
        web.sessions.end(session.id)
        web.audit("logout", user=session.username, fhir_user=session.fhir_user)
        return web.forget_cookie(request, RedirectResponse("/login", 303))

    def logout_everywhere(request: Request, form: FormData | None) -> Response:
        session = web.checked(request, form)
        if session is None:
            return csrf_refused()
        if session.kind == STAFF and session.username is not None:
            raise_sessions_epoch(web.service.repo, session.username)
        web.sessions.end(session.id)
        web.audit("logout", user=session.username, fhir_user=session.fhir_user, text="logged out everywhere")
        return web.forget_cookie(request, RedirectResponse("/login", 303))

    return [
        Route("/login", threaded(login_page), methods=["GET"]),
        Route("/login", threaded(login_submit), methods=["POST"]),
        Route("/login/second-factor", threaded(second_factor), methods=["GET", "POST"]),
        Route("/login/enrol", threaded(enrol), methods=["GET", "POST"]),
        Route("/login/password", threaded(password), methods=["GET", "POST"]),
        Route("/account", threaded(account), methods=["GET"]),
        Route("/logout", threaded(logout), methods=["POST"]),
        Route("/logout/everywhere", threaded(logout_everywhere), methods=["POST"]),
    ]


def form_text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


def text_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def client_host(request: Request) -> str | None:
    return request.client.host if request.client else None


def login_url(next_path: str) -> str:
    return "/login?" + urlencode({"next": local_path(next_path)})


def _cookie(
    request: Request, response: Response, names: tuple[str, str], value: str, max_age: int | None = None
) -> Response:
    """Set one of Lifeline's cookies: HttpOnly, SameSite=Lax, the whole site; over HTTPS Secure
    and under its `__Host-` name (`names`: plain, secure), which no subdomain can set."""
    secure = request.url.scheme == "https"
    response.set_cookie(
        names[1] if secure else names[0], value, max_age=max_age, path="/", secure=secure, httponly=True, samesite="lax"
    )
    return response
