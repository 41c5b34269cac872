"""The reconciliation list as a page (issue 7): the open replication conflicts a logged-in
clinician may see, each with the centre's version beside the site's, and a form to keep one of
them or a merge. The page holds no rules of its own: it lists through `$conflicts` and resolves
through `$resolve-conflict` in the FHIR core (fhir/interactions/conflicts.py), as the clinician,
so the access policy, validation and the audit trail are those of the API.

Every node shows its mode at the top of the page: a site cut off from the centre says since when,
and how old its newest replicated data are (replication/status.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from lifeline.errors import FhirError
from lifeline.fhir.request import FhirRequest, FhirResponse
from lifeline.identity.principal import STAFF, Principal
from lifeline.identity.scopes import ScopeSet
from lifeline.identity.sessions import STAFF as STAFF_SESSION
from lifeline.identity.sessions import WebSession
from lifeline.replication import status
from lifeline.web.login import WebLogin, client_host, csrf_refused, form_text, login_url, render, threaded

if TYPE_CHECKING:
    from lifeline.replication.site import SiteNode

PAGE = "/conflicts"
CLIENT = "lifeline-web"  # the pages, as the app a staff member works through
SCOPES = ScopeSet.parse("user/*.cruds")
MERGED_NOT_JSON = "The merged version is not valid JSON: {error}"


@dataclass
class Conflict:
    """One entry of the list, as the page shows it."""

    id: str
    target: str  # Type/id
    site: str
    detected: str
    central_version: str
    central_text: str  # the centre's current version, pretty-printed ("" if deleted)
    site_text: str  # the site's version, pretty-printed ("" if the site deleted it)


def routes(web: WebLogin, site: SiteNode | None) -> list[Route]:
    service = web.service

    def principal(session: WebSession) -> Principal:
        return Principal(
            kind=STAFF, subject=session.username or "", client_id=CLIENT, scopes=SCOPES, fhir_user=session.fhir_user
        )

    def handled(request: FhirRequest, address: str | None) -> FhirResponse:
        """The request through the core, on the audit trail like any API access (with the
        patients and resources its answer holds) before the page shows anything of it."""
        request.address = address
        try:
            response = service.handle(request)
        except FhirError as error:
            record(request, error.status, None)
            raise
        if not response.recorded:  # a write's record is durable with the write
            record(request, response.status, response)
        return response

    def record(request: FhirRequest, status_code: int, response: FhirResponse | None) -> None:
        if service.auditor is not None:
            service.auditor.record(service.access_record(request, status_code, response))

    def listing(request: Request, session: WebSession, status_code: int = 200, **context: Any) -> Response:
        asking = FhirRequest("operation", operation="$conflicts", principal=principal(session))
        bundle = handled(asking, client_host(request)).resource or {}
        found = [shown(request, session, entry["resource"]) for entry in bundle.get("entry", [])]
        return render(
            "conflicts.html",
            status_code,
            conflicts=found,
            csrf=session.csrf,
            who=session.username,
            node=status.node_status(service, site),
            **context,
        )

    def shown(request: Request, session: WebSession, parameters: dict[str, Any]) -> Conflict:
        """One conflict as the page shows it; the centre's version read through the core, as the
        clinician (the same redaction as any read, and on the audit trail)."""
        values: dict[str, Any] = {}
        for part in parameters.get("parameter", []):
            values[part["name"]] = next((v for k, v in part.items() if k != "name"), None)
        target = values["target"]["reference"]
        res_type, _, res_id = target.partition("/")
        reading = FhirRequest("read", res_type, res_id, principal=principal(session))
        try:
            current = handled(reading, client_host(request))
            central = _pretty((current.resource or {}) if current.raw is None else orjson.loads(current.raw))
        except FhirError:  # deleted at the centre
            central = ""
        return Conflict(
            id=values["conflict"],
            target=target,
            site=values["site"],
            detected=values["detected"],
            central_version=values["centralVersion"],
            central_text=central,
            site_text=_pretty(values["siteVersion"]) if values.get("siteVersion") else "",
        )

    def page(request: Request, form: FormData | None) -> Response:
        session = web.session_of(request)
        if session is None or session.kind != STAFF_SESSION:
            return RedirectResponse(login_url(PAGE), 303)
        return listing(request, session, resolved=request.query_params.get("resolved"))

    def resolve(request: Request, form: FormData | None) -> Response:
        session = web.checked(request, form)
        if session is None or form is None:
            return csrf_refused()
        if session.kind != STAFF_SESSION:
            return RedirectResponse(login_url(PAGE), 303)
        conflict_id, target, choice = form_text(form, "conflict"), form_text(form, "target"), form_text(form, "choice")
        res_type, _, res_id = target.partition("/")
        parameters: list[dict[str, Any]] = [
            {"name": "conflict", "valueString": conflict_id},
            {"name": "choice", "valueCode": choice},
        ]
        if choice == "merged":
            try:
                parameters.append({"name": "resource", "resource": orjson.loads(form_text(form, "merged"))})
            except orjson.JSONDecodeError as error:
                error_text = MERGED_NOT_JSON.format(error=error)
                return listing(request, session, 400, failed=conflict_id, error=error_text)
        asking = FhirRequest(
            "operation",
            res_type or None,
            res_id or None,
            operation="$resolve-conflict",
            body={"resourceType": "Parameters", "parameter": parameters},
            principal=principal(session),
        )
        try:
            handled(asking, client_host(request))
        except FhirError as error:
            return listing(request, session, error.status, failed=conflict_id, error=str(error))
        return RedirectResponse(f"{PAGE}?resolved={target}", 303)

    return [
        Route(PAGE, threaded(page), methods=["GET"]),
        Route(PAGE, threaded(resolve), methods=["POST"]),
    ]


def _pretty(resource: dict[str, Any]) -> str:
    return orjson.dumps(resource, option=orjson.OPT_INDENT_2).decode()
