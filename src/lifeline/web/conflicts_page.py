"""The reconciliation list as a page (issue 7): the open replication conflicts a logged-in
clinician may see, each with the centre's version beside the site's, and a form to keep one of
them or a merge. The page holds no rules of its own: it lists through `$conflicts` and resolves
through `$resolve-conflict` in the FHIR core (fhir/interactions/conflicts.py), as the clinician,
so the access policy, validation and the audit trail are those of the API.

Every node shows its mode at the top of the page: a site cut off from the centre says since when,
and how old its newest replicated data are (replication/status.py).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import orjson
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from lifeline.errors import FhirError, Gone, NotFound, StorageUnavailable
from lifeline.fhir.acting import Acting
from lifeline.fhir.request import FhirRequest
from lifeline.web.layout import NO_STORE, render
from lifeline.web.login import WebLogin, csrf_refused, form_text, threaded
from lifeline.web.pages import acting, page

if TYPE_CHECKING:
    from lifeline.replication.site import SiteNode

PAGE = "/conflicts"
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

    def data(request: Request) -> dict[str, Any]:
        """The page's data (its JSON form with `?_format=json`): the open conflicts this
        clinician may see, each with the centre's current version beside the site's."""
        as_clinician = acting(service, request)
        bundle = as_clinician.handle(FhirRequest("operation", operation="$conflicts")).resource or {}
        found = [shown(as_clinician, entry["resource"]) for entry in bundle.get("entry", [])]
        user = request.user
        return {"conflicts": [asdict(c) for c in found], "csrf": user.csrf, "who": user.username,
                "resolved": request.query_params.get("resolved")}  # fmt: skip

    def shown(as_clinician: Acting, parameters: dict[str, Any]) -> Conflict:
        """One conflict as the page shows it; the centre's version read through the core, as the
        clinician (the same redaction as any read, and on the audit trail)."""
        values: dict[str, Any] = {}
        for part in parameters.get("parameter", []):
            values[part["name"]] = next((v for k, v in part.items() if k != "name"), None)
        target = values["target"]["reference"]
        res_type, _, res_id = target.partition("/")
        try:
            current = as_clinician.handle(FhirRequest("read", res_type, res_id))
            central = _pretty((current.resource or {}) if current.raw is None else orjson.loads(current.raw))
        except (Gone, NotFound):  # deleted at the centre
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

    def refused(request: Request, status_code: int, conflict_id: str, error: str) -> Response:
        """The list again, the error beside the conflict it concerns."""
        return render("conflicts.html", status_code, NO_STORE, **data(request), failed=conflict_id, error=error)

    def resolve(request: Request, form: FormData | None) -> Response:
        session = web.checked(request, form)
        if session is None or form is None:
            return csrf_refused()
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
                return refused(request, 400, conflict_id, MERGED_NOT_JSON.format(error=error))
        asking = FhirRequest(
            "operation",
            res_type or None,
            res_id or None,
            operation="$resolve-conflict",
            body={"resourceType": "Parameters", "parameter": parameters},
        )
        try:
            acting(service, request).handle(asking)
        except StorageUnavailable:
            raise  # the error page: nothing more of anyone's is shown
        except FhirError as error:
            return refused(request, error.status, conflict_id, str(error))
        return RedirectResponse(f"{PAGE}?resolved={target}", 303)

    return [
        Route(PAGE, page("conflicts.html", data), methods=["GET"]),
        Route(PAGE, threaded(resolve), methods=["POST"]),
    ]


def _pretty(resource: dict[str, Any]) -> str:
    return orjson.dumps(resource, option=orjson.OPT_INDENT_2).decode()
