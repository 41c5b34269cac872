"""The authorisation server: OAuth 2.0 (RFC 6749) with PKCE (RFC 7636), OpenID Connect, and SMART
App Launch v2 (https://hl7.org/fhir/smart-app-launch/app-launch.html, backend-services.html).

- Discovery needs no token: /.well-known/openid-configuration, /fhir/.well-known/smart-configuration,
  /.well-known/jwks.json (the region's public keys, so any node's tokens verify).
- /oauth/authorize never redirects anywhere but a redirect URI registered for the client, exactly as
  registered; until that is established, errors are a page. PKCE S256 is required of public clients.
- /oauth/token: authorization_code (a code is taken once from node state and lives 60 s),
  refresh_token (opaque, stored as its SHA-256, rotated at each use; a reused one revokes its whole
  family; dies with the user's sessions epoch or a revoked client), client_credentials for backend
  services authenticating with a private_key_jwt (RS384, ES384, ES256) whose jti is used once.
  A staff user's access token carries their sessions epoch, so it dies with it too (identity/revocation.py).
- Every page answer forbids framing (web/security_headers.py): the consent's "Allow" cannot be clickjacked.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from typing import Any
from urllib.parse import unquote, urlencode

import orjson
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from lifeline.errors import BadRequest, Forbidden, Gone, NotFound
from lifeline.fhir.acting import Acting
from lifeline.fhir.request import FhirRequest
from lifeline.identity import records
from lifeline.identity.keys import ALGORITHM
from lifeline.identity.passwords import CorruptVerifier, verify_password
from lifeline.identity.records import Client
from lifeline.identity.scopes import MalformedScope, ScopeSet, grant_scopes
from lifeline.identity.sessions import STAFF, WebSession, csrf_matches
from lifeline.web.fhir_api import PREFIX as FHIR_PREFIX
from lifeline.web.login import WebLogin, csrf_refused, login_url, render, threaded
from lifeline.web.pages import acting

CODE_SECONDS = 60
AUTHORIZE_SECONDS = 10 * 60
OFFLINE_SECONDS = 30 * 24 * 3600
ASSERTION_MAX_SECONDS = 5 * 60
JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ASSERTION_ALGORITHMS = ["RS384", "ES384", "ES256"]
IDENTITY_SCOPES = ["openid", "fhirUser", "launch/patient", "offline_access", "online_access"]
CAPABILITIES = [
    "launch-standalone",
    "client-public",
    "client-confidential-symmetric",
    "client-confidential-asymmetric",
    "context-standalone-patient",
    "permission-v2",
    "permission-patient",
    "permission-user",
    "sso-openid-connect",
]
NOT_IN_CARE = (
    "This patient is not in your care: open their record with break the glass before launching an app for them."
)


class OAuthError(Exception):
    """An RFC 6749 §5.2 error answer."""

    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.error, self.description, self.status = error, description, status

    def response(self) -> JSONResponse:
        headers = {"Cache-Control": "no-store"}
        if self.status == 401:
            headers["WWW-Authenticate"] = 'Basic realm="lifeline"'
        body = {"error": self.error, "error_description": self.description}
        return JSONResponse(body, self.status, headers)


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def _s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode("ascii")).digest()).rstrip(b"=").decode()


def _with_query(uri: str, params: dict[str, str]) -> str:
    return uri + ("&" if "?" in uri else "?") + urlencode({k: v for k, v in params.items() if v})


def allowed_for(kind: str, granted: ScopeSet) -> ScopeSet:
    """What a person may hand an app: staff user/ and patient/ scopes, patients patient/ ones only."""
    contexts = ("user", "patient") if kind == STAFF else ("patient",)
    return ScopeSet(tuple(s for s in granted.resources if s.context in contexts), granted.others)


class AuthorizationServer:
    def __init__(self, web: WebLogin) -> None:
        self.web = web
        self.identity = web.service.identity
        self.state = self.identity.state
        self.issuer = web.issuer
        self.token_endpoint = f"{self.issuer}/oauth/token"

    # Discovery.

    def configuration(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer,
            "authorization_endpoint": f"{self.issuer}/oauth/authorize",
            "token_endpoint": self.token_endpoint,
            "jwks_uri": f"{self.issuer}/.well-known/jwks.json",
            "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
            "response_types_supported": ["code"],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": [
                "none",
                "client_secret_basic",
                "client_secret_post",
                "private_key_jwt",
            ],
            "token_endpoint_auth_signing_alg_values_supported": ASSERTION_ALGORITHMS,
            "scopes_supported": [*IDENTITY_SCOPES, "patient/*.cruds", "user/*.cruds", "system/*.cruds"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": [ALGORITHM],
            "capabilities": CAPABILITIES,
        }

    # Authorisation endpoint.

    def authorize(self, request: Request, form: FormData | None) -> Response:
        if form is not None:
            return self.approve(request, form)
        params = request.query_params
        client = records.get_client(self.web.service.repo, params.get("client_id", ""))
        redirect_uri = params.get("redirect_uri", "")
        if client is None or not client.active or client.kind == "backend":
            return render("message.html", 400, title="Unknown app", message="This app is not registered here.")
        if redirect_uri not in client.redirect_uris:  # exact match only: no open redirect
            message = "The app asked to send you to an address it has not registered, so Lifeline stops here."
            return render("message.html", 400, title="Wrong return address", message=message)
        state = params.get("state", "")

        def refuse(error: str, description: str) -> Response:
            return RedirectResponse(
                _with_query(redirect_uri, {"error": error, "error_description": description, "state": state}), 303
            )

        if params.get("response_type") != "code":
            return refuse("unsupported_response_type", "only response_type=code is supported")
        aud = params.get("aud")
        if aud is not None and aud.rstrip("/") != self.identity.audience:
            return refuse("invalid_request", f"aud must be {self.identity.audience}")
        challenge, method = params.get("code_challenge", ""), params.get("code_challenge_method", "")
        if challenge and method != "S256":
            return refuse("invalid_request", "code_challenge_method must be S256")
        if not challenge and client.kind == "public":
            return refuse("invalid_request", "a public client must send a PKCE code_challenge (S256)")
        try:
            requested = grant_scopes(params.get("scope", ""), client.scopes)
        except MalformedScope as error:
            return refuse("invalid_scope", str(error))
        session = self.web.session_of(request)
        if session is None or not session.logged_in:
            return RedirectResponse(login_url(f"{request.url.path}?{request.url.query}"), 303)
        granted = allowed_for(session.kind, requested)
        if not granted.resources and not granted.has("openid"):
            return refuse("invalid_scope", "none of the requested scopes can be granted")
        pending = {
            "id": secrets.token_urlsafe(16),
            "client_id": client.client_id,
            "redirect_uri": redirect_uri,
            "state": state,
            "scope": str(granted),
            "code_challenge": challenge,
            "nonce": params.get("nonce", ""),
        }
        session.data["authorize"] = pending
        self.web.sessions.save(session)
        return self.consent(session, client, pending)

    def consent(self, session: WebSession, client: Client, pending: dict[str, str], **extra: Any) -> Response:
        scopes = pending["scope"].split()
        return render(
            "consent.html",
            extra.pop("status", 200),
            client_name=client.name or client.client_id,
            scopes=scopes,
            csrf=session.csrf,
            request_id=pending["id"],
            ask_patient=self._asks_patient(session, ScopeSet.parse(pending["scope"])),
            **extra,
        )

    def _asks_patient(self, session: WebSession, scopes: ScopeSet) -> bool:
        in_patient_context = scopes.has("launch/patient") or any(s.context == "patient" for s in scopes.resources)
        return session.kind == STAFF and in_patient_context

    def approve(self, request: Request, form: FormData) -> Response:
        session = self.web.session_of(request)
        token = form.get("csrf")
        if (
            session is None
            or not session.logged_in
            or not csrf_matches(session, token if isinstance(token, str) else None)
        ):
            return csrf_refused()
        pending = session.data.get("authorize")
        if not pending or not secrets.compare_digest(str(form.get("request", "")), pending["id"]):
            return render("message.html", 400, title="Request expired", message="Start again from the app.")
        client = records.get_client(self.web.service.repo, pending["client_id"])
        if client is None or not client.active:
            return render("message.html", 400, title="Unknown app", message="This app is no longer registered here.")
        redirect_uri, state = pending["redirect_uri"], pending["state"]
        if form.get("decision") != "approve":
            session.data.pop("authorize", None)
            self.web.sessions.save(session)
            return RedirectResponse(_with_query(redirect_uri, {"error": "access_denied", "state": state}), 303)
        patient = session.patient
        if self._asks_patient(session, ScopeSet.parse(pending["scope"])):
            typed = str(form.get("patient", "")).strip()
            try:
                patient = self._find_patient(typed, acting(self.web.service, request))
            except Forbidden:
                errors = {"patient": NOT_IN_CARE}
                return self.consent(session, client, pending, status=200, errors=errors, patient=typed)
            if patient is None:
                errors = {"patient": "No patient has this CPR number or id."}
                return self.consent(session, client, pending, status=200, errors=errors, patient=typed)
        session.data.pop("authorize", None)
        self.web.sessions.save(session)
        code = secrets.token_urlsafe(32)
        grant = {
            "client_id": client.client_id,
            "redirect_uri": redirect_uri,
            "code_challenge": pending["code_challenge"],
            "nonce": pending["nonce"],
            "scope": pending["scope"],
            "kind": session.kind,
            "username": session.username,
            "fhir_user": session.fhir_user,
            "patient": patient,
            "epoch": session.epoch,
            "auth_time": int(session.created),
        }
        self.state.put(f"code:{_digest(code)}", grant, self.web.clock() + CODE_SECONDS)
        return RedirectResponse(_with_query(redirect_uri, {"code": code, "state": state, "iss": self.issuer}), 303)

    def _find_patient(self, typed: str, as_staff: Acting) -> str | None:
        """The patient a staff member launches an app for, looked up through the core as them:
        a search finds only patients in their care; a read of one outside it is Forbidden."""
        digits = typed.replace("-", "")
        if len(digits) == 10 and digits.isdecimal():
            return self.web.patient_for_cpr(digits, as_staff)
        if not typed:
            return None
        try:
            as_staff.handle(FhirRequest("read", "Patient", typed))
        except (NotFound, Gone, BadRequest):
            return None
        return typed

    # Token endpoint.

    def token(self, request: Request, form: FormData | None) -> Response:
        assert form is not None
        fields = {key: value for key, value in form.items() if isinstance(value, str)}
        try:
            client, method = self._authenticate(request, fields)
            grant_type = fields.get("grant_type")
            if grant_type == "authorization_code":
                body = self._authorization_code(client, fields)
            elif grant_type == "refresh_token":
                body = self._refresh(client, fields)
            elif grant_type == "client_credentials":
                body = self._client_credentials(client, method, fields)
            else:
                raise OAuthError("unsupported_grant_type", f"grant_type {grant_type!r} is not supported")
        except OAuthError as error:
            return error.response()
        return JSONResponse(body, headers={"Cache-Control": "no-store", "Pragma": "no-cache"})

    def _authenticate(self, request: Request, fields: dict[str, str]) -> tuple[Client, str]:
        repo = self.web.service.repo
        if "client_assertion" in fields or "client_assertion_type" in fields:
            return self._assertion_client(fields), "private_key_jwt"
        authorization = request.headers.get("authorization", "")
        if authorization[:6].lower() == "basic ":
            try:
                client_id, _, secret = base64.b64decode(authorization[6:]).decode().partition(":")
            except ValueError:
                raise OAuthError("invalid_client", "malformed Basic credentials", 401) from None
            return self._secret_client(unquote(client_id), unquote(secret)), "client_secret_basic"
        if "client_secret" in fields:
            return self._secret_client(fields.get("client_id", ""), fields["client_secret"]), "client_secret_post"
        client = records.get_client(repo, fields.get("client_id", ""))
        if client is None or not client.active or client.kind != "public":
            raise OAuthError("invalid_client", "unknown client, or this client must authenticate", 401)
        return client, "none"

    def _secret_client(self, client_id: str, secret: str) -> Client:
        client = records.get_client(self.web.service.repo, client_id)
        try:
            valid = client is not None and client.secret is not None and verify_password(client.secret, secret)
        except CorruptVerifier:
            valid = False
        if client is None or not valid or not client.active:
            raise OAuthError("invalid_client", "client authentication failed", 401)
        return client

    def _assertion_client(self, fields: dict[str, str]) -> Client:
        if fields.get("client_assertion_type") != JWT_BEARER:
            raise OAuthError("invalid_client", f"client_assertion_type must be {JWT_BEARER}", 401)
        assertion = fields.get("client_assertion", "")
        try:
            unverified = orjson.loads(base64.urlsafe_b64decode(assertion.split(".")[1] + "=="))
            client_id = str(unverified["iss"])
        except (IndexError, ValueError, KeyError, TypeError, orjson.JSONDecodeError):
            raise OAuthError("invalid_client", "client_assertion is not a JWT", 401) from None
        client = records.get_client(self.web.service.repo, client_id)
        if client is None or not client.active or not client.jwks:
            raise OAuthError("invalid_client", "unknown client, or it has no registered keys", 401)
        try:
            claims = jwt.decode(assertion, KeySet.import_key_set(client.jwks), algorithms=ASSERTION_ALGORITHMS).claims  # type: ignore[arg-type]
        except (JoseError, ValueError, TypeError) as error:
            raise OAuthError("invalid_client", f"client_assertion signature not verified: {error}", 401) from None
        now = self.web.clock()
        audience = claims.get("aud")
        audiences = audience if isinstance(audience, list) else [audience]
        exp = claims.get("exp")
        if claims.get("iss") != client_id or claims.get("sub") != client_id:
            raise OAuthError("invalid_client", "client_assertion iss and sub must both be the client id", 401)
        if self.token_endpoint not in audiences:
            raise OAuthError("invalid_client", f"client_assertion aud must be {self.token_endpoint}", 401)
        if not isinstance(exp, int | float) or exp <= now:
            raise OAuthError("invalid_client", "client_assertion has expired", 401)
        if exp > now + ASSERTION_MAX_SECONDS + 60:
            raise OAuthError("invalid_client", "client_assertion exp is more than 5 minutes ahead", 401)
        jti = claims.get("jti")
        if not isinstance(jti, str) or not jti:
            raise OAuthError("invalid_client", "client_assertion needs a jti", 401)
        if not self.state.add(f"jti:{_digest(client_id + ' ' + jti)}", 1, exp + 60, now):
            raise OAuthError("invalid_client", "client_assertion jti was already used (replay)", 401)
        return client

    def _authorization_code(self, client: Client, fields: dict[str, str]) -> dict[str, Any]:
        grant = self.state.take(f"code:{_digest(fields.get('code', ''))}", self.web.clock())
        if grant is None or grant["client_id"] != client.client_id:
            raise OAuthError("invalid_grant", "the code is unknown, expired or already used")
        if fields.get("redirect_uri") != grant["redirect_uri"]:
            raise OAuthError("invalid_grant", "redirect_uri differs from the authorisation request")
        challenge, verifier = grant["code_challenge"], fields.get("code_verifier", "")
        if challenge and not (verifier and secrets.compare_digest(_s256(verifier), challenge)):
            raise OAuthError("invalid_grant", "the PKCE code_verifier does not match the code_challenge")
        self._check_person(grant)
        now = self.web.clock()
        grant["refresh_expires"] = now + (OFFLINE_SECONDS if "offline_access" in grant["scope"].split() else 12 * 3600)
        grant["family"] = secrets.token_urlsafe(16)
        return self._tokens(client, grant, with_id_token=True)

    def _refresh(self, client: Client, fields: dict[str, str]) -> dict[str, Any]:
        now = self.web.clock()
        digest = _digest(fields.get("refresh_token", ""))
        grant = self.state.take(f"refresh:{digest}", now)
        if grant is None:
            used = self.state.get(f"refresh-used:{digest}", now)
            if used is not None:  # a rotated-out token came back: someone holds a copy; end the family
                self.state.put(f"refresh-revoked:{used}", 1, now + OFFLINE_SECONDS)
            raise OAuthError("invalid_grant", "the refresh token is unknown, expired or already used")
        self.state.put(f"refresh-used:{digest}", grant["family"], grant["refresh_expires"])
        if grant["client_id"] != client.client_id:
            raise OAuthError("invalid_grant", "the refresh token was issued to another client")
        if self.state.get(f"refresh-revoked:{grant['family']}", now) is not None:
            raise OAuthError("invalid_grant", "the refresh token was revoked")
        self._check_person(grant)
        if "scope" in fields:
            try:
                grant["scope"] = str(grant_scopes(fields["scope"], grant["scope"]))
            except MalformedScope as error:
                raise OAuthError("invalid_scope", str(error)) from None
        return self._tokens(client, grant, with_id_token=False)

    def _client_credentials(self, client: Client, method: str, fields: dict[str, str]) -> dict[str, Any]:
        if method != "private_key_jwt" or client.kind != "backend":
            raise OAuthError("unauthorized_client", "client_credentials is for backend services with private_key_jwt")
        try:
            granted = grant_scopes(fields.get("scope", ""), client.scopes)
        except MalformedScope as error:
            raise OAuthError("invalid_scope", str(error)) from None
        system = ScopeSet(tuple(s for s in granted.resources if s.context == "system"))
        if not system.resources:
            raise OAuthError("invalid_scope", "none of the requested system/ scopes is registered for this client")
        lifetime = self.web.service.settings.token_minutes * 60
        token = self.identity.issue(subject=client.client_id, client_id=client.client_id, scopes=str(system))
        self.web.audit("token", user=client.client_id, client_id=client.client_id, text=str(system))
        return {"access_token": token, "token_type": "Bearer", "expires_in": lifetime, "scope": str(system)}

    def _check_person(self, grant: dict[str, Any]) -> None:
        """A staff grant dies with a disabled user or a "log out everywhere"."""
        if grant["kind"] != STAFF:
            return
        user = records.get_user(self.web.service.repo, grant["username"] or "")
        if user is None or not user.active or user.sessions_epoch != grant["epoch"]:
            raise OAuthError("invalid_grant", "the user's sessions have ended")

    def _tokens(self, client: Client, grant: dict[str, Any], *, with_id_token: bool) -> dict[str, Any]:
        if not client.active:
            raise OAuthError("invalid_client", "the client was revoked", 401)
        scopes = ScopeSet.parse(grant["scope"])
        subject = grant["username"] if grant["kind"] == STAFF else grant["fhir_user"]
        lifetime = self.web.service.settings.token_minutes * 60
        token = self.identity.issue(
            subject=subject,
            client_id=client.client_id,
            scopes=str(scopes),
            fhir_user=grant["fhir_user"],
            patient=grant["patient"],
            # Disabling the user or "log out everywhere" refuses the token at once (identity/revocation.py).
            sessions_epoch=grant["epoch"] if grant["kind"] == STAFF else None,
        )
        self.web.audit(
            "token", user=subject, fhir_user=grant["fhir_user"], client_id=client.client_id, patient=grant["patient"]
        )
        body: dict[str, Any] = {"access_token": token, "token_type": "Bearer", "expires_in": lifetime}
        body["scope"] = str(scopes)
        if grant["patient"]:
            body["patient"] = grant["patient"]
        if with_id_token and scopes.has("openid"):
            body["id_token"] = self._id_token(client, grant, subject, lifetime)
        if scopes.has("offline_access") or scopes.has("online_access"):
            refresh = secrets.token_urlsafe(32)
            self.state.put(f"refresh:{_digest(refresh)}", grant, grant["refresh_expires"])
            body["refresh_token"] = refresh
        return body

    def _id_token(self, client: Client, grant: dict[str, Any], subject: str, lifetime: int) -> str:
        key = self.identity.signing_key()
        now = int(self.web.clock())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "sub": subject,
            "aud": client.client_id,
            "iat": now,
            "exp": now + lifetime,
            "auth_time": grant["auth_time"],
            "fhirUser": grant["fhir_user"],
        }
        if grant.get("nonce"):
            claims["nonce"] = grant["nonce"]
        return jwt.encode({"alg": ALGORITHM, "kid": key.kid}, claims, key.private, algorithms=[ALGORITHM])


def routes(web: WebLogin) -> list[Route]:
    server = AuthorizationServer(web)

    async def openid_configuration(request: Request) -> Response:
        return JSONResponse(server.configuration())

    async def jwks(request: Request) -> Response:
        return JSONResponse(await run_in_threadpool(server.identity.jwks))

    return [
        Route("/.well-known/openid-configuration", openid_configuration),
        Route(f"{FHIR_PREFIX}/.well-known/smart-configuration", openid_configuration),
        Route("/.well-known/jwks.json", jwks),
        Route("/oauth/authorize", threaded(server.authorize), methods=["GET", "POST"]),
        Route("/oauth/token", threaded(server.token), methods=["POST"]),
    ]
