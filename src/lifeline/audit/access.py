"""The audit record of one FHIR interaction (IHE BALP "RESTful activity"): who asked, from where,
through which app; what they did (the restful interaction and its action code) and how it ended;
whose data the answer held and which resources.

What the answer held comes from the core's structured account of it (fhir/accessed.py), never
from its bytes: every patient whose data it holds or whom it was asked about, as an entity with
role "patient", and every resource it returned or wrote as a "domain resource" entity whose
`detail` names the patients that resource belongs to, so that a patient can be shown exactly
which of their records were opened and nothing of anyone else's
(fhir/interactions/audit_events.py).
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from lifeline.clock import system_clock

if TYPE_CHECKING:
    from lifeline.fhir.request import FhirRequest  # a type only: identity and audit sit below the core
    from lifeline.identity.principal import Principal


INTERACTION = "http://hl7.org/fhir/restful-interaction"
# Lifeline's own names for what is no FHIR interaction: replication pages, imports, exports.
EXCHANGE = "urn:lifeline:exchange"
ACT_REASON = "http://terminology.hl7.org/CodeSystem/v3-ActReason"
REST = {
    "system": "http://terminology.hl7.org/CodeSystem/audit-event-type",
    "code": "rest",
    "display": "RESTful Operation",
}
ENTITY_TYPE = "http://terminology.hl7.org/CodeSystem/audit-entity-type"
OBJECT_ROLE = "http://terminology.hl7.org/CodeSystem/object-role"
PERSON = {"system": ENTITY_TYPE, "code": "1"}
PATIENT_ROLE = {"system": OBJECT_ROLE, "code": "1"}
SYSTEM_OBJECT = {"system": ENTITY_TYPE, "code": "2"}
DOMAIN_RESOURCE = {"system": OBJECT_ROLE, "code": "4"}
QUERY = {"system": OBJECT_ROLE, "code": "24"}
# A domain resource entity's `detail` of this type names a patient the resource belongs to.
OWNER = "patient"
# A page of search results holds at most 1000 resources (the largest _count); with what it
# includes an answer may hold more, and its record lists the first this many.
MAX_PATIENTS = 1000
MAX_RESOURCES = 1000
_ACTIONS = {"create": "C", "update": "U", "patch": "U", "delete": "D", "operation": "E", "transaction": "E"}


def subtype(request: FhirRequest | None) -> str:
    if request is None:
        return "unknown"
    interaction = request.interaction
    if interaction == "search":
        return "search-type" if request.resource_type else "search-system"
    if interaction == "history":
        if request.id is not None:
            return "history-instance"
        return "history-type" if request.resource_type else "history-system"
    if interaction == "transaction" and isinstance(request.body, dict) and request.body.get("type") == "batch":
        return "batch"
    return interaction


def access_event(
    request: FhirRequest | None,
    status: int,
    *,
    resources: Sequence[str] = (),
    patients: Sequence[str] = (),
    whose: Mapping[str, Sequence[str]] | None = None,
    node_id: str,
    address: str | None,
    recorded: datetime | str | None = None,
    purpose: str | None = None,
    exchange: str | None = None,
    principal: Principal | None = None,
    query: str | None = None,
) -> dict[str, Any]:
    """The record of one access. `resources` are references (`Type/id`, or `Type/id/_history/n`
    for a version written); `whose` gives, by reference, the patients each belongs to;
    `recorded` is a moment or a FHIR instant already (a write's own); `purpose` a v3 ActReason
    code (TREAT, ETREAT, HOPERAT, PATRQT …). An `exchange` that is no FHIR interaction (a
    replication page, a bulk import) has no request: its name is the subtype, `principal` the
    one who asked and `query` what was asked, in words."""
    if not isinstance(recorded, str):
        recorded = (recorded or system_clock()).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    if request is not None:
        principal, purpose = request.principal, purpose or request.purpose
    requestor: dict[str, Any] = {
        "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-RoleClass", "code": "PROV"}]},
        "requestor": True,
    }
    if principal is None:
        requestor["who"] = {"display": "anonymous"}
    else:
        requestor["who"] = {"reference": principal.fhir_user} if principal.fhir_user else {"display": principal.subject}
        requestor["altId"] = principal.subject
        if principal.token is not None:
            requestor["policy"] = [principal.token.jti]
    if address:
        requestor["network"] = {"address": address, "type": "2"}
    agents = [requestor]
    if principal is not None:
        agents.append({"who": {"display": principal.client_id}, "requestor": False, "name": "application"})
    event: dict[str, Any] = {
        "resourceType": "AuditEvent",
        "type": REST,
        "subtype": [exchange_subtype(exchange) if exchange else {"system": INTERACTION, "code": subtype(request)}],
        "action": _ACTIONS.get(request.interaction if request else "", "E" if exchange else "R"),
        "recorded": recorded,
        "outcome": "0" if status < 400 else "4" if status < 500 else "8",
        "agent": agents,
        "source": {"observer": {"display": node_id}},
    }
    entities = _entities(resources, patients, whose or {})
    if request is not None and request.interaction == "search" and request.params:
        query = f"{request.resource_type or ''}?{urlencode(request.params)}"
        entities.append({"type": SYSTEM_OBJECT, "role": QUERY, "query": base64.b64encode(query.encode()).decode()})
    if query is not None:
        entities.append({"type": SYSTEM_OBJECT, "role": QUERY, "query": base64.b64encode(query.encode()).decode()})
    if entities:
        event["entity"] = entities
    if purpose:
        event["purposeOfEvent"] = [{"coding": [{"system": ACT_REASON, "code": purpose}]}]
    return event


def exchange_subtype(name: str) -> dict[str, str]:
    """The subtype of an exchange that is no FHIR interaction (`replication-feed`, `import` …)."""
    return {"system": EXCHANGE, "code": name}


def _entities(
    resources: Sequence[str], patients: Sequence[str], whose: Mapping[str, Sequence[str]]
) -> list[dict[str, Any]]:
    named = dict.fromkeys(list(dict.fromkeys(patients))[:MAX_PATIENTS])
    entities: list[dict[str, Any]] = [
        {"what": {"reference": f"Patient/{patient}"}, "type": PERSON, "role": PATIENT_ROLE} for patient in named
    ]
    for reference in list(dict.fromkeys(resources))[:MAX_RESOURCES]:
        if reference.startswith("Patient/") and reference[len("Patient/") :] in named:
            continue  # a Patient read or found is named as the patient
        entity: dict[str, Any] = {"what": {"reference": reference}, "type": SYSTEM_OBJECT, "role": DOMAIN_RESOURCE}
        owners = whose.get(reference)
        if owners:
            entity["detail"] = [{"type": OWNER, "valueString": patient} for patient in owners]
        entities.append(entity)
    return entities
