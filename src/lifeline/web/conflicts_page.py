"""The reconciliation list as a page (issues 7 and 21): the open replication conflicts a logged-in
clinician may see, each as a field-by-field comparison in clinical words (web/pages/
conflict_fields.py): which element, the centre's value and the site's, when each was changed. The
clinician keeps the centre's, the site's or both per element and the page writes the merge; the
whole-side choices and a merge written as JSON stay, with the raw JSON behind a details switch.

The page holds no rules of its own: it lists through `$conflicts` and resolves through
`$resolve-conflict` in the FHIR core (fhir/interactions/conflicts.py), as the clinician, so the
access policy, validation and the audit trail are those of the API. A merge is built on the server
from the versions read again at the moment of the choice, never from what the browser sends.

Every node shows its mode at the top of the page: a site cut off from the centre says since when,
and how old its newest replicated data are (replication/status.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from lifeline import jsontext
from lifeline.access.redact import REDACTED
from lifeline.errors import FhirError, Gone, NotFound, StorageUnavailable
from lifeline.fhir.acting import Acting
from lifeline.fhir.conflicts import unflagged
from lifeline.fhir.request import FhirRequest
from lifeline.web import i18n
from lifeline.web.layout import NO_STORE, render
from lifeline.web.login import WebLogin, csrf_refused, form_text, threaded
from lifeline.web.pages import acting, conflict_fields, page
from lifeline.web.pages.chart import header, words
from lifeline.web.pages.chart.page import language

if TYPE_CHECKING:
    from lifeline.replication.site import SiteNode

PAGE = "/conflicts"
NO_CONFLICT = "The form named no conflict: choose one in the list and press its button."
MERGED_NOT_JSON = "The merged version is not valid JSON: {error}"
FIELD = "field:"  # the form's name of an element's choice: field:<key>


def routes(web: WebLogin, site: SiteNode | None) -> list[Route]:
    service = web.service

    def listed(as_clinician: Acting) -> list[dict[str, Any]]:
        """The open conflicts this clinician may see, as `$conflicts` lists them (Parameters)."""
        bundle = as_clinician.handle(FhirRequest("operation", operation="$conflicts")).resource or {}
        return [_values(entry["resource"]) for entry in bundle.get("entry", [])]

    def data(request: Request) -> dict[str, Any]:
        """The page's data (its JSON form with `?_format=json`): the open conflicts this
        clinician may see, each compared element by element."""
        as_clinician = acting(service, request)
        reader = language()
        names: dict[str, str] = {}  # the patients' names, by reference: one read each
        found = [shown(as_clinician, values, reader, names) for values in listed(as_clinician)]
        user = request.user
        return {"conflicts": found, "csrf": user.csrf, "who": user.username,
                "resolved": request.query_params.get("resolved"), "language": reader}  # fmt: skip

    def shown(as_clinician: Acting, values: dict[str, Any], reader: str, names: dict[str, str]) -> dict[str, Any]:
        """One conflict as the page shows it; the centre's version read through the core, as the
        clinician (the same redaction as any read, and on the audit trail)."""
        gettext = i18n.translations(reader).gettext
        target = values["target"]["reference"]
        res_type, _, res_id = target.partition("/")
        central = _current(as_clinician, res_type, res_id)
        recorded = str(values["centralVersion"])
        version = str((central or {}).get("meta", {}).get("versionId", recorded))
        # The flag the centre put on its version when it found the conflict is a version of its
        # own: the centre has moved on only if its data differ from the version then recorded.
        changed = _version(as_clinician, res_type, res_id, recorded) if version != recorded else central
        moved_on = central is not None and version != recorded and _data(changed) != _data(central)
        site_version = values.get("siteVersion")
        fields = []
        if central is not None and site_version is not None:
            fields = conflict_fields.compared(res_type, central, site_version, reader, gettext)
        when = words.when(_updated(central if moved_on else changed), reader)
        about = central or site_version or {}
        return {
            "id": values["conflict"],
            "target": target,
            "what": words.concept(about.get("code") or about.get("medicationCodeableConcept") or about.get("type")),
            "patient": _whose(as_clinician, about, names),
            "type": gettext(conflict_fields.TYPES[res_type]) if res_type in conflict_fields.TYPES else res_type,
            "site": values["site"],
            "detected": words.when(values["detected"], reader),
            "central": _side(central, reader, version) | {"recorded": recorded, "movedOn": moved_on, "changed": when},
            "siteVersion": _side(site_version, reader, None),
            "fields": fields,
            # What is withheld from this clinician (name and address protection) they cannot
            # merge: only a whole side, which the core writes from what it holds.
            "withheld": _redacted(central) or _redacted(site_version),
            "mergeable": bool(fields) and not _redacted(central) and not _redacted(site_version),
        }

    def refused(
        request: Request, status_code: int, conflict_id: str, error: str, chosen: dict[str, str], tried: str
    ) -> Response:
        """The list again, the error beside the conflict it concerns, the clinician's choices kept
        (a merge written as JSON: its details opened)."""
        shown_again = data(request) | {"failed": conflict_id, "error": error, "chosen": chosen, "tried": tried}
        return render("conflicts.html", status_code, NO_STORE, **shown_again)

    def by_field(request: Request, form: FormData, conflict_id: str, target: str) -> Response | dict[str, Any]:
        """The merge of the elements as chosen, built from both versions read again now: the
        `$resolve-conflict` parameters, or the page with what is wrong."""
        gettext = i18n.translations(language()).gettext
        as_clinician = acting(service, request)
        chosen = {name[len(FIELD) :]: form_text(form, name) for name in form if name.startswith(FIELD)}
        values = next((v for v in listed(as_clinician) if v["conflict"] == conflict_id), None)
        if values is None or values["target"]["reference"] != target:
            return refused(request, 404, conflict_id, gettext("This conflict is not open any more."), chosen, "fields")
        res_type, _, res_id = target.partition("/")
        central, site_version = _current(as_clinician, res_type, res_id), values.get("siteVersion")
        if central is None or site_version is None or _redacted(central) or _redacted(site_version):
            message = gettext("This conflict can only be resolved by keeping one version whole.")
            return refused(request, 400, conflict_id, message, chosen, "fields")
        if str(central.get("meta", {}).get("versionId")) != form_text(form, "version"):
            message = gettext("The centre's version changed while you were choosing. Check the comparison again.")
            return refused(request, 409, conflict_id, message, chosen, "fields")
        try:
            merge = conflict_fields.merged(res_type, central, site_version, chosen)
        except conflict_fields.BadChoice as bad:
            message = gettext("Choose the centre's, the site's or both for: %(element)s") % {"element": bad.label}
            return refused(request, 400, conflict_id, message, chosen, "fields")
        differing = [f["key"] for f in conflict_fields.compared(res_type, central, site_version, "en", str)]
        sides = {chosen.get(key, "central") for key in differing}
        if sides in ({"central"}, {"site"}):
            return {"choice": sides.pop()}
        return {"choice": "merged", "resource": merge}

    def resolve(request: Request, form: FormData | None) -> Response:
        session = web.checked(request, form)
        if session is None or form is None:
            return csrf_refused()
        conflict_id, target, choice = form_text(form, "conflict"), form_text(form, "target"), form_text(form, "choice")
        tried = choice
        res_type, _, res_id = target.partition("/")
        parameters: list[dict[str, Any]] = [{"name": "conflict", "valueString": conflict_id}]
        chosen = {name[len(FIELD) :]: form_text(form, name) for name in form if name.startswith(FIELD)}
        if not conflict_id or not res_type or not res_id:
            return refused(request, 400, conflict_id, NO_CONFLICT, chosen, choice)
        if choice == "fields":
            built = by_field(request, form, conflict_id, target)
            if isinstance(built, Response):
                return built
            choice = built["choice"]
            if "resource" in built:
                parameters.append({"name": "resource", "resource": built["resource"]})
        elif choice == "merged":
            try:
                parameters.append({"name": "resource", "resource": orjson.loads(form_text(form, "merged"))})
            except orjson.JSONDecodeError as error:
                return refused(request, 400, conflict_id, MERGED_NOT_JSON.format(error=error), chosen, choice)
        parameters.insert(1, {"name": "choice", "valueCode": choice})
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
            return refused(request, error.status, conflict_id, str(error), chosen, tried)
        return RedirectResponse(f"{PAGE}?resolved={target}", 303)

    return [
        Route(PAGE, page("conflicts.html", data), methods=["GET"]),
        Route(PAGE, threaded(resolve), methods=["POST"]),
    ]


def _values(parameters: dict[str, Any]) -> dict[str, Any]:
    """A conflict's Parameters as name -> value (or resource)."""
    values: dict[str, Any] = {}
    for part in parameters.get("parameter", []):
        values[part["name"]] = next((v for k, v in part.items() if k != "name"), None)
    return values


def _whose(as_clinician: Acting, resource: dict[str, Any], names: dict[str, str]) -> str:
    """The name of the patient the resource is about (read through the core once per page)."""
    if resource.get("resourceType") == "Patient":
        return header.name(resource)
    reference = str((resource.get("subject") or resource.get("patient") or {}).get("reference") or "")
    if not reference.startswith("Patient/"):
        return ""
    if reference not in names:
        try:
            names[reference] = header.name(_current(as_clinician, "Patient", reference[len("Patient/") :]) or {})
        except FhirError:
            names[reference] = ""
    return names[reference]


def _current(as_clinician: Acting, res_type: str, res_id: str) -> dict[str, Any] | None:
    """The centre's current version (None: deleted there)."""
    try:
        answer = as_clinician.handle(FhirRequest("read", res_type, res_id))
    except (Gone, NotFound):
        return None
    found = orjson.loads(answer.raw) if answer.raw is not None else dict(answer.resource or {})
    return found if isinstance(found, dict) else None


def _version(as_clinician: Acting, res_type: str, res_id: str, version: str) -> dict[str, Any] | None:
    """The centre's version recorded when the conflict was found: when the centre changed it."""
    try:
        answer = as_clinician.handle(FhirRequest("vread", res_type, res_id, version_id=version))
    except FhirError:
        return None
    found = orjson.loads(answer.raw) if answer.raw is not None else dict(answer.resource or {})
    return found if isinstance(found, dict) else None


def _data(resource: dict[str, Any] | None) -> dict[str, Any] | None:
    """A version's clinical data: without its meta (version, time, the conflict flag)."""
    if resource is None:
        return None
    return {name: value for name, value in unflagged(resource).items() if name != "meta"}


def _updated(resource: dict[str, Any] | None) -> str | None:
    return (resource or {}).get("meta", {}).get("lastUpdated")


def _redacted(resource: dict[str, Any] | None) -> bool:
    return REDACTED in ((resource or {}).get("meta") or {}).get("security", [])


def _side(resource: dict[str, Any] | None, reader: str, version: str | None) -> dict[str, Any]:
    """One side's heading: its version, when and by what it was changed (meta.source, if the
    data carry it), and its raw JSON for the details switch ("" when deleted there)."""
    meta = (resource or {}).get("meta") or {}
    return {
        "deleted": resource is None,
        "version": version or meta.get("versionId"),
        "changed": words.when(meta.get("lastUpdated"), reader),
        "source": meta.get("source"),
        "json": "" if resource is None else jsontext.dumps(resource, option=orjson.OPT_INDENT_2).decode(),
    }
