"""capabilities: GET [base]/metadata (https://hl7.org/fhir/R4/http.html#capabilities).

The CapabilityStatement is generated from what this server really does: the resource types the
validator knows, the interactions the core dispatches, and the search parameters of the registry
that the query compiler can search (composites included; special ones such as `near` are not).
R4 has no element for chaining and `_has` (https://hl7.org/fhir/R4/search.html#chaining): the
documentation of each reference parameter says they are supported."""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING, Any

import lifeline
from lifeline.fhir.interactions.patch import PATCH_FORMATS
from lifeline.fhir.request import FhirRequest, FhirResponse

if TYPE_CHECKING:
    from lifeline.fhir.service import FhirService
    from lifeline.search.registry import SearchParameter

TYPE_INTERACTIONS = [
    "read",
    "vread",
    "update",
    "patch",
    "delete",
    "history-instance",
    "history-type",
    "create",
    "search-type",
]
SYSTEM_INTERACTIONS = ["transaction", "batch", "search-system", "history-system"]
# AuditEvent is written by Lifeline alone (FhirService.authorize answers a write 405) and answered
# from the audit trail, which keeps no versions: it is read and searched, by the parameters that
# interactions/audit_events.py names.
_AUDIT_TRAIL = "AuditEvent"
_AUDIT_TRAIL_INTERACTIONS = ["read", "search-type"]
_AUDIT_TRAIL_PARAMS = frozenset({"patient", "agent", "date", "action", "outcome", "type", "subtype"})
_EVERYTHING = [{"name": "everything", "definition": "http://hl7.org/fhir/OperationDefinition/Patient-everything"}]
# FHIR Bulk Data $export (issue 26, bulk/export_jobs.py, web/bulk_export_api.py).
_BULK_DATA = "http://hl7.org/fhir/uv/bulkdata"
_EXPORT = {
    level: [{"name": "export", "definition": f"{_BULK_DATA}/OperationDefinition/{name}"}]
    for level, name in (("system", "export"), ("Patient", "patient-export"), ("Group", "group-export"))
}
# The IHE ITI Scheduling operations (issue 24, fhir/interactions/scheduling.py); a patient's existing
# appointments [ITI-118] are the search Appointment?patient=..., listed with the search parameters.
_IHE_SCHEDULING = "https://profiles.ihe.net/ITI/Scheduling/OperationDefinition/appointment-"
_SCHEDULING = [
    {"name": name, "definition": definition, "documentation": text}
    for name, definition, text in (
        ("find", f"{_IHE_SCHEDULING}find", "Free slots as proposed Appointments [ITI-115]"),
        ("hold", f"{_IHE_SCHEDULING}hold", "Hold a proposed Appointment [ITI-116]"),
        ("book", f"{_IHE_SCHEDULING}book", "Book, move or cancel (with a reason) an Appointment [ITI-117]"),
        ("waiting-list", "https://lifeline.example/fhir/OperationDefinition/appointment-waiting-list",
         "Appointments with status waitlist by priority, then the longest waiting"),
    )
]  # fmt: skip


def _reference_params(service: FhirService, res_type: str) -> list[str]:
    params = service.registry.params_for(res_type).values()
    return sorted(p.code for p in params if p.type == "reference")


def _includes(service: FhirService, res_type: str) -> list[str]:
    """The _include values a search of this type accepts (each also with :iterate)."""
    return ["*", *(f"{res_type}:{code}" for code in _reference_params(service, res_type))]


def _revincludes(service: FhirService, res_type: str) -> list[str]:
    """The _revinclude values that can find resources pointing at this type."""
    out = []
    for source in sorted(service.registry.resource_types):
        for param in service.registry.params_for(source).values():
            if param.type == "reference" and res_type in param.targets:
                out.append(f"{source}:{param.code}")
    return sorted(out)


def handle(service: FhirService, request: FhirRequest) -> FhirResponse:
    statement = dict(_statement(service, service.clock().date().isoformat()))
    statement["implementation"] = {"description": f"Lifeline node {service.settings.node_id}", "url": request.base}
    statement["rest"] = [{**statement["rest"][0], "security": _security(service)}]
    return FhirResponse(200, resource=statement)


def _security(service: FhirService) -> dict[str, Any]:
    """SMART on FHIR: where apps get tokens (also in /fhir/.well-known/smart-configuration)."""
    issuer = service.identity.issuer
    return {
        "cors": False,
        "service": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/restful-security-service",
                        "code": "SMART-on-FHIR",
                    }
                ]
            }
        ],
        "description": "Every request but this CapabilityStatement needs a bearer token (SMART App Launch v2 scopes).",
        "extension": [
            {
                "url": "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris",
                "extension": [
                    {"url": "authorize", "valueUri": f"{issuer}/oauth/authorize"},
                    {"url": "token", "valueUri": f"{issuer}/oauth/token"},
                ],
            }
        ],
    }


# https://hl7.org/fhir/R4/binary.html#rest, as web/binary.py and access/ties.py carry it out.
_BINARY = (
    "Also written and read in its own format: create or update with the content's own Content-Type (and"
    " X-Security-Context: a reference), read with an Accept other than FHIR JSON. Shown to whoever may see the"
    " resource its securityContext names; attachments up to the server's body limit."
)


def _search_param(param: SearchParameter) -> dict[str, Any]:
    entry = {"name": param.code, "definition": param.url, "type": param.type}
    if param.type == "reference":
        entry["documentation"] = (
            f"Chaining is supported ({param.code}.[parameter], {param.code}:[type].[parameter]), and reverse"
            f" chaining through it: _has:[type]:{param.code}:[parameter]."
        )
    return entry


@lru_cache(maxsize=4)
def _statement(service: FhirService, date: str) -> dict[str, Any]:
    from lifeline.search.query.clause import searchable

    resources = []
    for res_type in sorted(service.validator.resource_types):
        params = service.registry.params_for(res_type)
        resources.append(
            {
                "type": res_type,
                "profile": f"http://hl7.org/fhir/StructureDefinition/{res_type}",
                "interaction": [{"code": code} for code in TYPE_INTERACTIONS],
                "versioning": "versioned-update",
                "readHistory": True,
                "updateCreate": True,
                "conditionalCreate": True,
                "conditionalRead": "not-supported",
                "conditionalUpdate": True,
                "conditionalDelete": "single",
                "referencePolicy": ["literal", "logical"],
                "searchParam": [
                    _search_param(p) for p in sorted(params.values(), key=lambda p: p.code) if p.url and searchable(p)
                ],
                "searchInclude": _includes(service, res_type),
                "searchRevInclude": _revincludes(service, res_type),
                "operation": [
                    {"name": "validate", "definition": "http://hl7.org/fhir/OperationDefinition/Resource-validate"},
                    *(_EVERYTHING if res_type == "Patient" else []),
                    *(_SCHEDULING if res_type == "Appointment" else []),
                    *_EXPORT.get(res_type, []),
                ],
            }
        )
        if res_type == _AUDIT_TRAIL:
            resources[-1] = _audit_trail(resources[-1])
        if res_type == "Binary":
            resources[-1]["documentation"] = _BINARY
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": date,
        "publisher": "Lifeline",
        "kind": "instance",
        "software": {"name": "Lifeline", "version": lifeline.__version__},
        "fhirVersion": lifeline.FHIR_VERSION,
        "format": ["application/fhir+json", "application/json"],
        "patchFormat": list(PATCH_FORMATS),
        "instantiates": [f"{_BULK_DATA}/CapabilityStatement/bulk-data"],
        "rest": [
            {
                "mode": "server",
                "resource": resources,
                "interaction": [{"code": code} for code in SYSTEM_INTERACTIONS],
                "compartment": ["http://hl7.org/fhir/CompartmentDefinition/patient"],
                "operation": _EXPORT["system"],
            }
        ],
    }


def _audit_trail(listed: dict[str, Any]) -> dict[str, Any]:
    """AuditEvent as the audit trail answers it: no writes, no versions, no includes."""
    return {
        **listed,
        "interaction": [{"code": code} for code in _AUDIT_TRAIL_INTERACTIONS],
        "versioning": "no-version",
        "readHistory": False,
        "updateCreate": False,
        "conditionalCreate": False,
        "conditionalUpdate": False,
        "conditionalDelete": "not-supported",
        "searchParam": [p for p in listed["searchParam"] if p["name"] in _AUDIT_TRAIL_PARAMS],
        "searchInclude": [],
        "searchRevInclude": [],
    }
