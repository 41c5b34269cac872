"""search: GET/POST [base]/[type]?params and system-level search (https://hl7.org/fhir/R4/search.html).

Matching is compiled by lifeline.search.query into SQL over the typed index tables. Results are
ordered by type and id and paged by an opaque keyset cursor, so a walk over a stable set neither
repeats nor skips a resource while others write.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson

from lifeline.fhir import paging
from lifeline.fhir.errors import BadRequest, Issue
from lifeline.fhir.request import FhirRequest, FhirResponse

if TYPE_CHECKING:
    from lifeline.fhir.service import FhirService

# The result parameters this module honours; the others (_sort, _include, _summary, ...) come
# with the search issue and are reported as unsupported rather than silently ignored.
_HANDLED = frozenset({"_count", "_page", "_total", "_format", "_pretty"})


def handle(service: FhirService, request: FhirRequest) -> FhirResponse:
    from lifeline.search.query import RESULT_PARAMETERS, compile_where, parse_query

    res_type = request.resource_type
    params = dict(request.params)
    count = paging.count_param(params.get("_count"), service.settings.default_count, service.settings.max_count)
    total_mode = params.get("_total", "accurate")
    if total_mode not in ("none", "estimate", "accurate"):
        raise BadRequest(f"_total must be none, estimate or accurate, not {total_mode!r}")
    after = paging.decode_cursor(params["_page"]).get("after") if "_page" in params else None
    clauses, unknown = parse_query(res_type or "Resource", request.params, service.registry)
    unknown += [k for k, _ in request.params if k in RESULT_PARAMETERS and k not in _HANDLED and k not in unknown]
    issues = [
        Issue("warning", "not-supported", f"Unknown or unsupported search parameter {name!r} was ignored")
        for name in unknown
    ]
    if unknown and request.prefer_handling == "strict":
        raise BadRequest(f"Unknown or unsupported search parameter(s): {', '.join(unknown)}", issues)
    where, args = compile_where(res_type or "Resource", clauses, service.registry)
    with service.repo.reading(snapshot=True) as session:
        rows = session.search(
            res_type, where, args, after_key=after if isinstance(after, str) else None, limit=count + 1
        )
        total = session.count(res_type, where, args) if total_mode != "none" else None
    path = res_type or ""
    kept = [(k, v) for k, v in request.params if k != "_page"]
    links = [paging.link("self", request.base, path, request.params)]
    if len(rows) > count and count > 0:
        last = rows[count - 1]
        token = paging.encode_cursor({"after": f"{last.res_type}/{last.res_id}"})
        links.append(paging.link("next", request.base, path, [*kept, ("_page", token)]))
    entries: list[dict[str, Any]] = [
        {
            "fullUrl": f"{request.base}/{r.res_type}/{r.res_id}",
            "resource": orjson.Fragment(r.content or "{}"),
            "search": {"mode": "match"},
        }
        for r in rows[:count]
    ]
    if issues:
        entries.append(
            {
                "resource": {"resourceType": "OperationOutcome", "issue": [i.to_fhir() for i in issues]},
                "search": {"mode": "outcome"},
            }
        )
    bundle: dict[str, Any] = {"resourceType": "Bundle", "type": "searchset"}
    if total is not None:
        bundle["total"] = total
    bundle["link"] = links
    bundle["entry"] = entries
    return FhirResponse(200, resource=bundle)
