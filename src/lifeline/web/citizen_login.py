"""Patient login: the citizen identity provider (MitID through a broker) over OpenID Connect.
identity/citizen.py is the relying party; these two routes send the browser there and take it
back, matching the patient on the CPR number the provider vouches for. When the provider cannot
be reached the login page says so plainly (503); staff logins never touch it."""

from __future__ import annotations

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from lifeline import telemetry
from lifeline.identity.citizen import CitizenLoginError, LoginState
from lifeline.identity.principal import SYSTEM, Principal
from lifeline.identity.scopes import ScopeSet
from lifeline.identity.sessions import PATIENT
from lifeline.web.login import WebLogin, client_host, local_path, threaded

NOT_SET_UP = "Patient login is not set up on this server."

# Lifeline's citizen login itself, finding the Patient whose CPR number the identity provider vouched for.
CITIZEN_LOOKUP = Principal(SYSTEM, "citizen-login", "lifeline-web", ScopeSet.parse("system/Patient.rs"))


def routes(web: WebLogin) -> list[Route]:
    def citizen_begin(request: Request, form: FormData | None) -> Response:
        citizen = web.citizen
        session = web.anonymous(request)
        if citizen is None:
            return web.login_form(request, session, 404, errors={"citizen": NOT_SET_UP})
        try:
            authorisation = citizen.begin()
        except CitizenLoginError as error:
            return web.login_form(request, session, error.status, errors={"citizen": error.message})
        session.data = {"citizen": authorisation.state.as_dict(), "next": local_path(request.query_params.get("next"))}
        web.sessions.save(session)
        return web.with_cookie(request, RedirectResponse(authorisation.url, 303), session)

    def citizen_callback(request: Request, form: FormData | None) -> Response:
        citizen = web.citizen
        session = web.anonymous(request)
        if citizen is None:
            return web.login_form(request, session, 404, errors={"citizen": NOT_SET_UP})
        state = LoginState.from_dict(session.data.pop("citizen", None))
        web.sessions.save(session)  # the login state is single-use
        try:
            identity = citizen.finish(dict(request.query_params), state)
        except CitizenLoginError as error:
            web.audit("login", person="patient", outcome="failure", user="citizen", text=error.message)
            return web.login_form(request, session, error.status, errors={"citizen": error.message})
        # Lifeline's login looks the citizen up, on the trail like any access (fhir/acting.py).
        patient = web.patient_for_cpr(identity.cpr, web.service.as_user(CITIZEN_LOOKUP, client_host(request), "PATRQT"))
        if patient is None:
            message = "Lifeline holds no record for you, or more than one; please contact your clinic."
            telemetry.count_login(web.service.settings.node_id, "patient", "failure")  # no audit record: no one to name
            return web.login_form(request, session, 403, errors={"citizen": message})
        web.audit("login", person="patient", user=identity.subject, fhir_user=f"Patient/{patient}", patient=patient)
        done = web.sessions.rotate(
            session, PATIENT, username=None, fhir_user=f"Patient/{patient}", patient=patient, data={}
        )
        return web.with_cookie(request, RedirectResponse(local_path(session.data.get("next")), 303), done)

    return [
        Route("/login/citizen", threaded(citizen_begin), methods=["GET"]),
        Route("/login/citizen/callback", threaded(citizen_callback), methods=["GET"]),
    ]
