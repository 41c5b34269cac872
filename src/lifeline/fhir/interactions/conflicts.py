"""The reconciliation list of replication conflicts (issue 7, fhir/conflicts.py).

- `GET [base]/$conflicts` (`status=open` by default, or `all`): a Bundle of Parameters, one per
  conflict on a resource the caller may see, each holding the site's version beside a reference
  to the centre's (flagged) current version.
- `POST [type]/[id]/$resolve-conflict` with Parameters `conflict` (valueString: its id),
  `choice` (valueCode: `central`, `site` or `merged`) and, for `merged`, `resource`: writes the
  chosen version as the resource's next version (without the conflict flag unless other conflicts
  on it are still open) and marks the conflict resolved, by whom and when, in one transaction.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lifeline import jsontext
from lifeline.access.enforce import check_write, rule_for
from lifeline.access.redact import redacted
from lifeline.access.rule import AccessRule
from lifeline.errors import BadRequest, Conflict, Forbidden, MethodNotAllowed, NotFound
from lifeline.fhir import conflicts, writes
from lifeline.fhir.request import FhirRequest, FhirResponse
from lifeline.storage.write_session import WriteSession

if TYPE_CHECKING:
    from lifeline.fhir.service import FhirService

CHOICES = ("central", "site", "merged")


def handle(service: FhirService, request: FhirRequest) -> FhirResponse:
    principal = request.principal
    if principal is not None and principal.kind == "patient":
        raise Forbidden("The reconciliation list is for clinicians")
    if request.operation == "$conflicts":
        return _list(service, request)
    return _resolve(service, request)


def _list(service: FhirService, request: FhirRequest) -> FhirResponse:
    if request.resource_type is not None or request.id is not None:
        raise MethodNotAllowed("$conflicts is offered on the whole record: GET [base]/$conflicts")
    wanted = dict(request.params).get("status", "open")
    if wanted not in ("open", "all"):
        raise BadRequest(f"status is open or all, not {wanted!r}")
    with service.repo.reading() as session:
        found = conflicts.all_conflicts(session) if wanted == "all" else conflicts.open_conflicts(session)
        rule = rule_for(service, session, request)
        if rule is not None:
            found = [c for c in found if rule.visible(session, c.res_type, c.res_id)]
    bundle = {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": len(found),
        "entry": [{"resource": _shown(c, rule), "search": {"mode": "match"}} for c in found],
    }
    return FhirResponse(200, resource=bundle)


def _shown(conflict: conflicts.ConflictRecord, rule: AccessRule | None) -> dict[str, Any]:
    """The conflict as the caller may see it: a protected patient's address and telecom are
    withheld from the site's version too (access/redact.py), as from every other answer."""
    parameters = conflict.to_parameters()
    if conflict.site_content is None:
        return parameters
    shown = redacted(rule, conflict.res_type, jsontext.dumps(conflict.site_content).decode())
    if shown is not None:
        for part in parameters["parameter"]:
            if part["name"] == "siteVersion":
                part["resource"] = shown
    return parameters


def _resolve(service: FhirService, request: FhirRequest) -> FhirResponse:
    if request.resource_type is None or request.id is None:
        raise MethodNotAllowed("$resolve-conflict is offered on one resource: POST [type]/[id]/$resolve-conflict")
    conflict_id, choice, merged = _parameters(request.body, request.resource_type)
    if merged is not None:
        request.warnings = service.validator.validate(merged, request.resource_type)
    response, _ = service.repo.write(lambda session: _apply(service, session, request, conflict_id, choice, merged))
    return response


def _apply(
    service: FhirService,
    session: WriteSession,
    request: FhirRequest,
    conflict_id: str,
    choice: str,
    merged: dict[str, Any] | None,
) -> FhirResponse:
    res_type, res_id = request.resource_type or "", request.id or ""
    stored = session.read_for_update(conflicts.CONFLICT, conflict_id)
    if stored is None or stored.deleted:
        raise NotFound(f"No conflict {conflict_id}")
    conflict = conflicts.load(stored)
    if (conflict.res_type, conflict.res_id) != (res_type, res_id):
        raise BadRequest(
            f"Conflict {conflict_id} is about {conflict.res_type}/{conflict.res_id}, not {res_type}/{res_id}"
        )
    if conflict.status != "open":
        raise Conflict(
            f"Conflict {conflict_id} was already resolved by {conflict.resolved_by} at {conflict.resolved_at}"
        )
    current = session.read_for_update(res_type, res_id)
    if choice == "central":
        content = None if current is None or current.deleted else jsontext.loads(current.content or "{}")
    elif choice == "site":
        content = conflict.site_content
    else:
        content = merged
    check_write(service, session, request, res_type, res_id, content, current)
    others = [c for c in conflicts.open_conflicts(session, res_type=res_type, res_id=res_id) if c.id != conflict.id]
    if content is not None:
        content = conflicts.flagged(content) if others else conflicts.unflagged(content)
    instant = writes.now(service)
    resource, version = writes.store(
        service, session, res_type, res_id, content, previous=current, method="PUT", instant=instant
    )
    principal = request.principal
    conflict.status, conflict.resolution = "resolved", choice
    conflict.resolved_by = principal.subject if principal is not None else "system"
    conflict.resolved_at = instant
    conflicts.put_conflict(session, conflict, instant, previous=stored)
    return writes.respond(request, 200, res_type, res_id, resource, version, instant)


def _parameters(body: Any, res_type: str) -> tuple[str, str, dict[str, Any] | None]:
    if not isinstance(body, dict) or body.get("resourceType") != "Parameters":
        raise BadRequest("$resolve-conflict takes a Parameters resource: conflict, choice and (merged) resource")
    values: dict[str, Any] = {}
    for parameter in body.get("parameter") or []:
        if isinstance(parameter, dict) and isinstance(parameter.get("name"), str):
            name = parameter["name"]
            values[name] = (
                parameter.get("resource")
                if name == "resource"
                else (parameter.get("valueString") or parameter.get("valueCode"))
            )
    conflict_id, choice, resource = values.get("conflict"), values.get("choice"), values.get("resource")
    if not isinstance(conflict_id, str) or not conflict_id:
        raise BadRequest("$resolve-conflict needs the conflict's id (parameter conflict, valueString)")
    if choice not in CHOICES:
        raise BadRequest(f"choice must be one of {', '.join(CHOICES)} (parameter choice, valueCode)")
    if choice == "merged":
        if not isinstance(resource, dict) or resource.get("resourceType") != res_type:
            raise BadRequest(f"A merged resolution needs the merged {res_type} (parameter resource)")
        return conflict_id, choice, resource
    if resource is not None:
        raise BadRequest("Only a merged resolution takes a resource")
    return conflict_id, choice, None
