"""`AuditEvent/$review`: the privacy officers' review list (access/review.py, issue 6).

- `GET [base]/AuditEvent/$review[?status=open|all]`: a Bundle of Parameters, one per item —
  every break-the-glass and every unusual access of the last `audit_review_days` days, newest
  first (open ones only by default).
- `POST [base]/AuditEvent/$review` with Parameters `item` (valueString) and `note`
  (valueString): marks the item reviewed, by whom and when.

Only privacy officers and administrators (and system services) may use it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lifeline.access import review
from lifeline.errors import BadRequest, Forbidden, Issue, MethodNotAllowed
from lifeline.fhir.interactions.audit_events import oversees
from lifeline.fhir.request import FhirRequest, FhirResponse
from lifeline.outcome import operation_outcome

if TYPE_CHECKING:
    from lifeline.fhir.service import FhirService


def handle(service: FhirService, request: FhirRequest) -> FhirResponse:
    if request.resource_type != "AuditEvent" or request.id is not None:
        raise MethodNotAllowed("$review is offered on AuditEvent: [base]/AuditEvent/$review")
    reviewer = _reviewer(service, request)
    if request.body is None:
        return _list(service, request)
    item, note = _parameters(request.body)
    review.mark_reviewed(service.repo, item, by=reviewer, note=note, now=service.clock())
    message = f"Review item {item} is marked reviewed by {reviewer}"
    return FhirResponse(200, resource=operation_outcome([Issue("information", "informational", message)]))


def _reviewer(service: FhirService, request: FhirRequest) -> str:
    principal = request.principal
    if principal is None:
        return "system"
    if principal.kind == "system":
        return principal.subject
    if principal.kind != "staff" or not oversees(service, principal.subject):
        raise Forbidden("The review list is for privacy officers and administrators")
    return principal.subject


def _list(service: FhirService, request: FhirRequest) -> FhirResponse:
    status = dict(request.params).get("status", "open")
    if status not in ("open", "all"):
        raise BadRequest(f"status is open or all, not {status!r}")
    settings = service.settings
    items = review.review_list(
        service.repo, service.clock(), days=settings.audit_review_days, burst=settings.audit_burst_patients
    )
    shown = [item for item in items if status == "all" or not item.reviewed]
    bundle = {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": len(shown),
        "entry": [{"resource": item.to_parameters(), "search": {"mode": "match"}} for item in shown],
    }
    return FhirResponse(200, resource=bundle)


def _parameters(body: Any) -> tuple[str, str]:
    if not isinstance(body, dict) or body.get("resourceType") != "Parameters":
        raise BadRequest("Marking an item reviewed takes a Parameters resource with item and note")
    values = {
        p.get("name"): p.get("valueString")
        for p in body.get("parameter") or []
        if isinstance(p, dict) and isinstance(p.get("valueString"), str)
    }
    item, note = (values.get("item") or "").strip(), (values.get("note") or "").strip()
    if not item:
        raise BadRequest("Say which item was reviewed (parameter item, valueString)")
    if not note:
        raise BadRequest("Say what the review found (parameter note, valueString)")
    return item, note
