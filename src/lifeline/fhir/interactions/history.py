"""history: instance, type and system level, with _since, _at, _count and paging
(https://hl7.org/fhir/R4/http.html#history). Newest first; pages are cut by write_id (the order
writes began), so a walk neither repeats nor skips a version while others write. A system-level
history may name its types (`_type`, as the scope gate reads it); each page is kept to them.

Staff and patients see the versions of the resources the access rule shows them. A deleted
resource has no index rows left for the rule to judge it by (its condition would pass every
one), so their type and system histories leave deleted resources out; instance history judges a
deleted resource by its last version (AccessRule.visible)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson

from lifeline.access.enforce import refusal, restricted, rule_for
from lifeline.access.redact import redacted
from lifeline.access.rule import AccessRule
from lifeline.errors import BadRequest, NotFound
from lifeline.fhir import paging
from lifeline.fhir.request import FhirRequest, FhirResponse
from lifeline.storage.records import StoredVersion

if TYPE_CHECKING:
    from lifeline.fhir.service import FhirService

# The parameters a next link carries (and its cursor is bound to).
_LINKED = ("_since", "_at", "_count", "_type")


def handle(service: FhirService, request: FhirRequest) -> FhirResponse:
    params = dict(request.params)
    count = paging.count_param(params.get("_count"), service.settings.default_count, service.settings.max_count)
    since = paging.instant_param("_since", params["_since"]) if "_since" in params else None
    at = paging.instant_param("_at", params["_at"]) if "_at" in params else None
    types = _types(service, request)
    path = "/".join(p for p in (request.resource_type, request.id, "_history") if p)
    kept = [(k, v) for k, v in request.params if k in _LINKED]
    before = _position(service, request, path, kept, params["_page"]) if "_page" in params else None
    with service.repo.reading(snapshot=True) as session:
        if request.id is not None and not session.exists_any_version(request.resource_type or "", request.id):
            raise NotFound(f"{request.resource_type}/{request.id} is not known")
        rule = rule_for(service, session, request)
        visible = None
        if rule is not None:
            if request.id is not None:
                # One resource, judged as a whole (a deleted one by its last version); the rule's
                # row condition reads the current row, which a delete leaves without index rows.
                if not rule.visible(session, request.resource_type or "", request.id):
                    raise refusal(rule, request.resource_type or "", request.id)
            else:
                condition, args = rule.condition(request.resource_type)
                if restricted(service, request):
                    # The rule reads index rows, which a delete removes: it would pass every
                    # deletion. A Patient is judged by its own id, which its deleted row keeps.
                    condition = f"(NOT r.deleted OR r.res_type = 'Patient') AND ({condition})"
                visible = (condition, args)
        rows = session.history(
            request.resource_type,
            request.id,
            since=since,
            at=at,
            before=before,
            limit=count + 1,
            visible=visible,
            types=types,
        )
        total = session.count_history(request.resource_type, request.id, since, visible, types) if at is None else None
    links = [paging.link("self", request.base, path, request.params)]
    if len(rows) > count and count > 0:
        seal = paging.CursorSeal.of(service.identity.kek, request.principal)
        token = seal.seal(path, kept, {"before": rows[count - 1].write_id})
        links.append(paging.link("next", request.base, path, [*kept, ("_page", token)]))
    bundle: dict[str, Any] = {"resourceType": "Bundle", "type": "history"}
    if total is not None:
        bundle["total"] = total
    bundle["link"] = links
    bundle["entry"] = [_entry(request.base, v, rule) for v in rows[:count]]
    return FhirResponse(200, resource=bundle)


def _types(service: FhirService, request: FhirRequest) -> tuple[str, ...] | None:
    if not any(name == "_type" for name, _ in request.params):
        return None
    if request.resource_type is not None:
        raise BadRequest("_type names the types of a system-level history (GET [base]/_history?_type=…) only")
    return paging.types_param(request.params, service.registry.resource_types)


def _position(service: FhirService, request: FhirRequest, path: str, kept: list[tuple[str, str]], token: str) -> int:
    """The write id the previous page ended at, from a cursor sealed for this history and person."""
    cursor = paging.CursorSeal.of(service.identity.kek, request.principal).open(path, kept, token)
    before = cursor.get("before")
    if not isinstance(before, int) or isinstance(before, bool):  # a bool is an int to Python only
        raise BadRequest(paging.INVALID_CURSOR)
    return before


def _entry(base: str, version: StoredVersion, rule: AccessRule | None) -> dict[str, Any]:
    url = f"{version.res_type}/{version.res_id}"
    entry: dict[str, Any] = {"fullUrl": f"{base}/{url}"}
    if version.content is not None:
        entry["resource"] = redacted(rule, version.res_type, version.content) or orjson.Fragment(version.content)
    method = version.method or ("DELETE" if version.deleted else "PUT")
    entry["request"] = {"method": method, "url": url if method != "POST" else version.res_type}
    status = {"POST": "201 Created", "DELETE": "204 No Content"}.get(method, "200 OK")
    entry["response"] = {
        "status": status,
        "etag": f'W/"{version.version_id}"',
        "lastModified": version.last_updated,
    }
    return entry
