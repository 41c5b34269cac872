"""The landing page, `/`: where each person goes next. Anonymous visitors are offered the login
(staff and patients) and the public machine-readable addresses; staff their places by role (their
patients, finding a patient, the conflicts to reconcile, their account); patients their portal.
A place whose page does not exist yet is listed as coming, not linked."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from lifeline.web.layout import PATIENT, STAFF, PageUser
from lifeline.web.pages import page as page_of

# (id, address): the template names each place in the reader's language.
STAFF_PLACES = [("patients", "/patients"), ("find", "/find"), ("conflicts", "/conflicts"), ("account", "/account")]
PATIENT_PLACES = [("portal", "/portal"), ("messages", "/portal/messages"), ("account", "/account")]
PUBLIC_LINKS = [("status", "/status.json"), ("metadata", "/fhir/metadata")]


def landing(user: PageUser, routes: Collection[str], citizen_login: bool = True) -> dict[str, Any]:
    """What the landing page shows `user`, given the paths this node serves and whether patients
    can log in here (the citizen identity provider is set up)."""
    places = STAFF_PLACES if user.kind == STAFF else PATIENT_PLACES if user.kind == PATIENT else []
    served = set(routes) | {"/fhir/metadata"}  # the FHIR API is outside the pages' router
    return {
        "user": {
            "kind": user.kind,
            "username": user.username,
            "displayName": user.display_name,
            "fhirUser": user.fhir_user,
            "roles": list(user.roles),
        },
        "places": [{"id": id_, "href": href, "available": href in served} for id_, href in places],
        "login": None
        if user.is_authenticated
        else {"staff": "/login", "patient": "/login/citizen" if citizen_login else None},
        "links": [{"id": id_, "href": href} for id_, href in PUBLIC_LINKS],
    }


def page(routes: Collection[str], citizen_login: Callable[[], bool]) -> Callable[[Request], Awaitable[Response]]:
    def data(request: Request) -> dict[str, Any]:
        return landing(request.user, routes, citizen_login())

    return page_of("landing.html", data)
