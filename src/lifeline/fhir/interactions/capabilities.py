"""capabilities: GET [base]/metadata (https://hl7.org/fhir/R4/http.html#capabilities).

The CapabilityStatement is generated from what this server really does: the resource types the
validator knows, the interactions the core dispatches, and the search parameters of the registry
that the query compiler can search (composites included; special ones such as `near` are not).
R4 has no element for chaining and `_has` (https://hl7.org/fhir/R4/search.html#chaining): the
documentation of each reference parameter says they are supported.

The statement is public, the same for everyone, and large (about 800 KB): a flood of requests for
it, each built and serialised anew, took the clinicians' throughput (issue 28). So its JSON text is
made once per server (this Lifeline, its settings), base URL and `_summary` form, and the same text
returned until the process ends; its `date` is when it was made. The HTTP adapter keeps its bytes,
compressed copy and ETag beside it (web/metadata_answer.py). `_summary=true` keeps the elements
R4's StructureDefinition marks isSummary, at every depth (https://hl7.org/fhir/R4/search.html#summary)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

import lifeline
from lifeline import jsontext
from lifeline.errors import BadRequest
from lifeline.fhir.interactions.patch import PATCH_FORMATS
from lifeline.fhir.request import FhirRequest, FhirResponse
from lifeline.search.results.summary import SUBSETTED, Selection, apply, parse_selection

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
    """The statement's JSON text, made once (see the module's docstring) and sent as it is."""
    summary = _summary_form([value for key, value in request.params if key == "_summary"])
    return FhirResponse(200, raw=published(service, request.base, summary))


def statement(service: FhirService, base: str, date: str) -> dict[str, Any]:
    """The whole CapabilityStatement of this node, as answered at `base`, dated `date`."""
    built = dict(_statement(service, date))
    built["implementation"] = {"description": f"Lifeline node {service.settings.node_id}", "url": base}
    built["rest"] = [{**built["rest"][0], "security": _security(service)}]
    return built


# The forms kept: a few per base URL, and the Host check (web/hosts.py) admits few bases.
_MOST_KEPT = 32
_kept: OrderedDict[tuple[Any, ...], str] = OrderedDict()
_making = threading.Lock()


def published(service: FhirService, base: str, summary: str) -> str:
    """The statement's JSON text in `summary` form ("false", "true" or "text"), made on first use."""
    settings = service.settings
    key = (service, lifeline.__version__, settings.node_id, service.identity.issuer, base, summary)
    with _making:
        text = _kept.get(key)
        if text is None:
            whole = statement(service, base, service.clock().date().isoformat())
            shown = whole if summary == "false" else _summarised(whole, summary)
            text = _kept[key] = jsontext.dumps(shown).decode()
            while len(_kept) > _MOST_KEPT:
                _kept.popitem(last=False)
        return text


def _summary_form(values: list[str]) -> str:
    """`_summary` of GET metadata: true or text trim it, false or data (it has no text) leave it whole."""
    selection = parse_selection(values, [])  # a bad value is a 400, as for any resource
    if selection.count_only:
        raise BadRequest("_summary=count is for searches; ask GET metadata with _summary=true or false")
    return "false" if selection.whole or selection.summary == "data" else str(selection.summary)


# R4 CapabilityStatement elements below the top level marked isSummary (profiles-resources.json;
# rest.operation is rest.resource.operation). `modifierExtension` is kept wherever it is.
_SUMMARY_PATHS = frozenset(
    {
        "software.name", "software.version", "software.releaseDate",
        "implementation.description", "implementation.url", "implementation.custodian",
        "rest.mode", "rest.security", "rest.security.cors", "rest.security.service",
        "rest.resource", "rest.resource.type", "rest.resource.profile", "rest.resource.supportedProfile",
        "rest.resource.operation", "rest.resource.operation.name", "rest.resource.operation.definition",
        "rest.operation", "rest.operation.name", "rest.operation.definition",
        "messaging.supportedMessage", "messaging.supportedMessage.mode", "messaging.supportedMessage.definition",
        "document.mode", "document.profile",
    }
)  # fmt: skip


def _summarised(whole: dict[str, Any], summary: str) -> dict[str, Any]:
    """The top level as search/results/summary.py trims any resource (and tags it SUBSETTED), and
    for `true` the nested elements by _SUMMARY_PATHS."""
    trimmed = apply(Selection(summary=summary), whole)
    if summary != "true":
        return trimmed
    kept = {key: _nested(value, key) for key, value in trimmed.items()}
    if "meta" not in kept:  # nothing was left out at the top level, only below it
        kept["meta"] = {"tag": [SUBSETTED]}
    return kept


def _nested(value: Any, path: str) -> Any:
    if isinstance(value, list):
        return [_nested(item, path) for item in value]
    if not isinstance(value, dict) or not any(p.startswith(path + ".") for p in _SUMMARY_PATHS):
        return value  # a leaf, or an element whose every part is summary (a Coding, a CodeableConcept)
    return {
        key: _nested(item, f"{path}.{key}")
        for key, item in value.items()
        if key == "modifierExtension" or f"{path}.{key}" in _SUMMARY_PATHS
    }


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
