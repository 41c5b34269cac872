"""The security events of the audit trail, as FHIR AuditEvent content in the shape of IHE Basic
Audit Log Patterns (BALP): logins and failed logins, logouts, break-the-glass, tokens issued and
administrative actions. (Each FHIR interaction's record comes with the recording of every access.)

Who: the user (`agent` with `requestor`), and the app or command that acted for them; where:
this node (`source.observer`) and the client's address; why: `purposeOfEvent` (break-the-glass
gives its ActReason); what: the patient, when there is one, as an entity with role 1 (patient).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from lifeline.audit.store import append
from lifeline.clock import system_clock
from lifeline.storage.repository import Repository

DCM = "http://dicom.nema.org/resources/ontology/DCM"
LIFELINE = "urn:lifeline:audit"  # Lifeline's own event subtypes, where BALP names none
ACT_REASON = "http://terminology.hl7.org/CodeSystem/v3-ActReason"

# kind -> (type coding, subtype coding, action)
KINDS: dict[str, tuple[tuple[str, str, str], tuple[str, str, str], str]] = {
    "login": ((DCM, "110114", "User Authentication"), (DCM, "110122", "Login"), "E"),
    "logout": ((DCM, "110114", "User Authentication"), (DCM, "110123", "Logout"), "E"),
    "break-the-glass": ((DCM, "110113", "Security Alert"), (LIFELINE, "break-the-glass", "Break the glass"), "E"),
    "token": ((DCM, "110114", "User Authentication"), (LIFELINE, "token-issue", "Access token issued"), "C"),
    "access-change": (
        (DCM, "110137", "User Security Attributes Changed"),
        (LIFELINE, "access-change", "What decides access was changed"),
        "U",
    ),
    "care-relationship": (
        (DCM, "110137", "User Security Attributes Changed"),
        (LIFELINE, "care-relationship", "A care relationship was written by staff"),
        "U",
    ),
    "administration": (
        (DCM, "110137", "User Security Attributes Changed"),
        (LIFELINE, "administration", "Administrative action"),
        "U",
    ),
    # A minute's requests without valid credentials from one address (audit/unauthenticated.py).
    "unauthenticated": (
        (DCM, "110114", "User Authentication"),
        (LIFELINE, "unauthenticated", "Requests without valid credentials"),
        "E",
    ),
}
OUTCOMES = {"success": "0", "failure": "4", "serious": "8"}


def security_event(
    kind: str,
    *,
    node_id: str,
    outcome: str = "success",
    user: str | None = None,
    fhir_user: str | None = None,
    client_id: str | None = None,
    patient: str | None = None,
    purpose: str | None = None,
    text: str | None = None,
    address: str | None = None,
    recorded: datetime | None = None,
) -> dict[str, Any]:
    (type_system, type_code, type_display), (sub_system, sub_code, sub_display), action = KINDS[kind]
    requestor: dict[str, Any] = {
        "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-RoleClass", "code": "PROV"}]},
        "requestor": True,
        "who": {"reference": fhir_user} if fhir_user else {"display": user or "unknown"},
    }
    if user:
        requestor["altId"] = user
    if address:
        requestor["network"] = {"address": address, "type": "2"}
    agents = [requestor]
    if client_id:
        agents.append({"who": {"display": client_id}, "requestor": False, "name": "application"})
    event: dict[str, Any] = {
        "resourceType": "AuditEvent",
        "type": {"system": type_system, "code": type_code, "display": type_display},
        "subtype": [{"system": sub_system, "code": sub_code, "display": sub_display}],
        "action": action,
        "recorded": (recorded or system_clock()).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "outcome": OUTCOMES[outcome],
        "agent": agents,
        "source": {"observer": {"display": node_id}},
    }
    if text:
        event["outcomeDesc"] = text
    if purpose:
        event["purposeOfEvent"] = [{"coding": [{"system": ACT_REASON, "code": purpose}]}]
    if patient:
        event["entity"] = [
            {
                "what": {"reference": f"Patient/{patient}"},
                "type": {"system": "http://terminology.hl7.org/CodeSystem/audit-entity-type", "code": "1"},
                "role": {"system": "http://terminology.hl7.org/CodeSystem/object-role", "code": "1"},
            }
        ]
    return event


def record(repo: Repository, kind: str, **details: Any) -> None:
    """Append one security event to this node's chain, durably, before the caller goes on."""
    node_id = details.pop("node_id", None) or repo.node_id
    append(repo, node_id, [security_event(kind, node_id=node_id, **details)])
