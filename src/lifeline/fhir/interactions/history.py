"""history: instance, type and system level, with _since, _at, _count and paging
(https://hl7.org/fhir/R4/http.html#history). Newest first; pages are cut by write_id (the order
writes began), so a walk neither repeats nor skips a version while others write."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson

from lifeline.access.enforce import refusal, rule_for
from lifeline.access.redact import redacted
from lifeline.access.rule import AccessRule
from lifeline.fhir import paging
from lifeline.fhir.errors import NotFound
from lifeline.fhir.request import FhirRequest, FhirResponse
from lifeline.storage.records import StoredVersion

if TYPE_CHECKING:
    from lifeline.fhir.service import FhirService

_OWN_PARAMS = ("_since", "_at", "_count", "_page", "_format")


def handle(service: FhirService, request: FhirRequest) -> FhirResponse:
    params = dict(request.params)
    count = paging.count_param(params.get("_count"), service.settings.default_count, service.settings.max_count)
    since = paging.instant_param("_since", params["_since"]) if "_since" in params else None
    at = paging.instant_param("_at", params["_at"]) if "_at" in params else None
    cursor = paging.decode_cursor(params["_page"]) if "_page" in params else {}
    before = cursor.get("before")
    if before is not None and not isinstance(before, int):
        before = None
    with service.repo.reading(snapshot=True) as session:
        if request.id is not None and not session.exists_any_version(request.resource_type or "", request.id):
            raise NotFound(f"{request.resource_type}/{request.id} is not known")
        rule = rule_for(service, session, request)
        visible = None
        if rule is not None:
            if request.id is not None and not rule.visible(session, request.resource_type or "", request.id):
                raise refusal(rule, request.resource_type or "", request.id)
            visible = rule.condition(request.resource_type)
        rows = session.history(
            request.resource_type, request.id, since=since, at=at, before=before, limit=count + 1, visible=visible
        )
        total = session.count_history(request.resource_type, request.id, since, visible) if at is None else None
    path = "/".join(p for p in (request.resource_type, request.id, "_history") if p)
    kept = [(k, v) for k, v in request.params if k in ("_since", "_at", "_count")]
    links = [paging.link("self", request.base, path, request.params)]
    if len(rows) > count and count > 0:
        token = paging.encode_cursor({"before": rows[count - 1].write_id})
        links.append(paging.link("next", request.base, path, [*kept, ("_page", token)]))
    bundle: dict[str, Any] = {"resourceType": "Bundle", "type": "history"}
    if total is not None:
        bundle["total"] = total
    bundle["link"] = links
    bundle["entry"] = [_entry(request.base, v, rule) for v in rows[:count]]
    return FhirResponse(200, resource=bundle)


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
