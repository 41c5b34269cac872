"""What an answer holds, for its audit record (issue 19.10): every resource the core returned or
wrote, and every patient whose data is in it or whom the request asked about.

Filled in one place, `FhirService.handle`, once the interaction has answered, from the answer's
structure, never its bytes: the resource read or written, the entries of a search, a history, an
`$everything` or a batch (what they include, nested bundles too), and what the request's writes
stored (their transactions recorded it already, audit/outbox.py).

A Patient is its own patient; a resource of another type belongs to the patients its Patient
compartment references name (https://hl7.org/fhir/R4/compartmentdefinition-patient.html); a Binary
to those of the resource its securityContext names (access/ties.py), found in the index. Those
are read from the search index, in one query for the whole answer, because what was returned may
leave them out (`_elements`, `_summary`); and from the returned content where that is whole and
the index does not describe it: a version (vread, history: older versions and deletions have no
current index rows), and a resource read by id, which spares the API's hottest path a query.
Then the patients the request itself names (`subject=Patient/X`, `patient=X`, a compartment,
`Patient/X/$everything`): a search about X names X even when nothing matched.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from functools import cache
from typing import TYPE_CHECKING, Any, TypeGuard

import orjson

from lifeline import jsontext
from lifeline.access.ties import CONTEXT_PARAMS, tie_params
from lifeline.fhir.request import FhirRequest, FhirResponse
from lifeline.search.registry import SearchRegistry
from lifeline.storage.index_rows import ReferenceEntry
from lifeline.storage.session import Session

if TYPE_CHECKING:
    from lifeline.fhir.service import FhirService

Key = tuple[str, str]
_TYPE = re.compile(r"[A-Z][A-Za-z]{1,63}")
_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")
_PATIENT_REFERENCE = re.compile(r"(?:^|/)Patient/([A-Za-z0-9\-.]{1,64})(?:/|$)")
# Answered from the audit trail, not the record store: no index rows to look up.
_NOT_INDEXED = frozenset({"AuditEvent", "OperationOutcome"})
# Interactions on one resource whose success means that resource was read or written.
_ON_ONE = frozenset({"read", "vread", "update", "patch", "delete"})
# A record lists this many resources and patients at most (a page holds up to 1000).
MOST = 1000


def account(
    service: FhirService, request: FhirRequest, response: FhirResponse, written: Mapping[Key, Sequence[str]]
) -> None:
    """Fill `response.accessed`, `response.patients` and `response.whose`; `written` gives what
    the request's writes stored, with the patients each belongs to."""
    found: dict[Key, list[str] | None] = {key: list(patients) for key, patients in written.items()}
    contents: dict[Key, list[Any]] = {}
    _from_answer(request, response, found, contents)
    _patients(service, found, contents)
    response.accessed = list(found)[:MOST]
    response.whose = {key: patients for key in response.accessed if (patients := found[key])}
    named = dict.fromkeys(asked_about(request))
    for patients in response.whose.values():
        named.update(dict.fromkeys(patients))
    response.patients = list(named)[:MOST]


def asked_about(request: FhirRequest) -> list[str]:
    """The patients the request itself names: its Patient, its compartment, and the patient
    references of its search parameters (`subject=Patient/X`, `patient=X`, `subject:Patient=X`,
    `Patient?_id=X`)."""
    found: dict[str, None] = {}
    if request.resource_type == "Patient" and request.id:
        found[request.id] = None
    if request.compartment is not None and request.compartment[0] == "Patient":
        found[request.compartment[1]] = None
    for name, value in request.params:
        code, _, modifier = name.partition(":")
        if "." in code or (code.startswith("_") and code != "_id"):
            continue  # chains, _has, result parameters
        for item in value.split(","):
            patient = _patient_named(code, modifier, item.strip(), request.resource_type)
            if patient is not None:
                found[patient] = None
    return list(found)


def requested(request: FhirRequest) -> list[Key]:
    """The resource the request names by type and id, if it does (the record of a failure)."""
    return [(request.resource_type, request.id)] if request.resource_type and request.id else []


def key_of(url: Any) -> Key | None:
    """(type, id) of a full URL, a relative reference or a Location, versioned or not."""
    if not isinstance(url, str) or "/" not in url:
        return None
    parts = url.split("?", 1)[0].rstrip("/").rsplit("/", 4)
    if len(parts) >= 4 and parts[-2] == "_history":
        parts = parts[:-2]
    if len(parts) < 2 or not _TYPE.fullmatch(parts[-2]) or not _ID.fullmatch(parts[-1]):
        return None
    return parts[-2], parts[-1]


def _patient_named(code: str, modifier: str, value: str, res_type: str | None) -> str | None:
    reference = _PATIENT_REFERENCE.search(value)
    if reference is not None and modifier in ("", "Patient"):
        return reference.group(1)
    by_id = (code == "patient" and modifier in ("", "Patient")) or (modifier == "Patient")
    if by_id or (code == "_id" and not modifier and res_type == "Patient"):
        return value if _ID.fullmatch(value) else None
    return None


def _from_answer(
    request: FhirRequest, response: FhirResponse, found: dict[Key, list[str] | None], contents: dict[Key, list[Any]]
) -> None:
    resource = response.resource
    if _is_answer_bundle(resource):
        _entries(resource, found, contents, depth=0)
    elif response.raw is not None or isinstance(resource, dict):
        content = response.raw if response.raw is not None else resource
        key = _own_key(request, response, content)
        if key is not None:
            found.setdefault(key, None)
            contents[key] = [content]  # whole, and what was returned: the patients are in it
    elif response.location:
        key = key_of(response.location)
        if key is not None:
            found.setdefault(key, None)
    if request.interaction in _ON_ONE and response.status < 400:
        for key in requested(request):
            found.setdefault(key, None)


def _is_answer_bundle(resource: Any) -> TypeGuard[dict[str, Any]]:
    """A Bundle the core made (searchset, history, batch-response…), not a stored one (with an id)."""
    return isinstance(resource, dict) and resource.get("resourceType") == "Bundle" and not resource.get("id")


def _own_key(request: FhirRequest, response: FhirResponse, content: Any) -> Key | None:
    if request.interaction in ("read", "vread") and request.resource_type and request.id:
        return request.resource_type, request.id
    key = key_of(response.location)
    if key is not None:
        return key
    parsed = _parsed(content)
    res_type, res_id = parsed.get("resourceType"), parsed.get("id")
    if isinstance(res_type, str) and isinstance(res_id, str) and res_type not in _NOT_INDEXED:
        return res_type, res_id
    return None


def _entries(
    bundle: dict[str, Any], found: dict[Key, list[str] | None], contents: dict[Key, list[Any]], depth: int
) -> None:
    versions = bundle.get("type") == "history"
    for entry in bundle.get("entry") or []:
        if not isinstance(entry, dict):
            continue
        resource = entry.get("resource")
        if depth < 2 and _is_answer_bundle(resource):
            _entries(resource, found, contents, depth + 1)  # a batch entry's search or history
            continue
        key = key_of(entry.get("fullUrl")) or key_of((entry.get("response") or {}).get("location"))
        if key is None and resource is not None:
            parsed = _parsed(resource)
            res_type, res_id = parsed.get("resourceType"), parsed.get("id")
            key = (res_type, res_id) if isinstance(res_type, str) and isinstance(res_id, str) else None
        if key is None or key[0] == "OperationOutcome":
            continue
        found.setdefault(key, None)
        if versions and resource is not None:
            contents.setdefault(key, []).append(resource)


def _patients(service: FhirService, found: dict[Key, list[str] | None], contents: dict[Key, list[Any]]) -> None:
    """Each found resource's patients: its own id for a Patient, else from its content or, for the
    rest together, one query over the search index."""
    registry = service.registry
    params_of: dict[str, list[str]] = {}
    asked: dict[str, tuple[list[str], list[str]]] = {}
    by_context: dict[str, list[str]] = {}
    for key, patients in found.items():
        if patients is not None:
            continue
        res_type, res_id = key
        if res_type == "Patient":
            found[key] = [res_id]
            continue
        if res_type in CONTEXT_PARAMS:
            found[key] = []
            by_context.setdefault(res_type, []).append(res_id)
            continue
        params = params_of.get(res_type)
        if params is None:
            params = params_of[res_type] = list(tie_params(registry, res_type))
        if params and key in contents:
            found[key] = _referenced(registry, res_type, contents[key])
            continue
        found[key] = []
        if params and res_type not in _NOT_INDEXED:
            asked.setdefault(res_type, ([], params))[0].append(res_id)
    if not asked and not by_context:
        return
    with service.repo.reading() as session:
        rows = session.patients_referenced(asked)
        if by_context:
            rows += _context_patients(session, registry, by_context)
    for res_type, res_id, patient in rows:
        owners = found[(res_type, res_id)]
        if owners is not None and patient not in owners:
            owners.append(patient)


def _context_patients(
    session: Session, registry: SearchRegistry, ids: dict[str, list[str]]
) -> list[tuple[str, str, str]]:
    """(type, id, patient) of each Binary's patients: those of the resource its securityContext
    names, as the access rule judges it (access/rule.py), in two queries over the index."""
    named: list[tuple[str, str, str, str]] = []  # type, id, target type, target id
    for res_type, res_ids in ids.items():
        named += [
            (res_type, i, t, t_id) for i, t, t_id in session.references_by(res_type, res_ids, CONTEXT_PARAMS[res_type])
        ]
    targets: dict[str, tuple[list[str], list[str]]] = {}
    for _, _, target_type, target_id in named:
        if target_type != "Patient" and tie_params(registry, target_type):
            targets.setdefault(target_type, ([], list(tie_params(registry, target_type))))[0].append(target_id)
    whose: dict[tuple[str, str], list[str]] = {}
    for target_type, target_id, patient in session.patients_referenced(targets) if targets else []:
        whose.setdefault((target_type, target_id), []).append(patient)
    rows = []
    for res_type, res_id, target_type, target_id in named:
        patients = [target_id] if target_type == "Patient" else whose.get((target_type, target_id), [])
        rows += [(res_type, res_id, patient) for patient in patients]
    return rows


def _referenced(registry: SearchRegistry, res_type: str, contents: list[Any]) -> list[str]:
    """The patients the contents' compartment references name: the index extraction
    (search/extract) of those parameters alone, a few walks rather than every parameter's."""
    patients: dict[str, None] = {}
    for content in contents:
        resource = _parsed(content)
        found: list[ReferenceEntry] = []
        for walk, code, add in _compartment_steps(registry, res_type):
            try:
                values = walk(resource)
                if values:
                    add(code, values, found)
            except Exception:  # noqa: BLE001, S112 - odd data names nobody, as it indexes nothing
                continue
        patients.update((e.target_id, None) for e in found if e.target_type == "Patient" and e.target_id)
    return list(patients)


@cache
def _compartment_steps(registry: SearchRegistry, res_type: str) -> tuple[tuple[Any, str, Any], ...]:
    """(walk, parameter, add) of the extraction plan's steps that give a type's compartment
    references (the same walks the index rows were written by)."""
    from lifeline.search.extract import plan_for

    params = set(tie_params(registry, res_type))
    plan = plan_for(registry, res_type)
    return tuple((step.walk, t.code, t.add) for step in plan.steps for t in step.targets if t.code in params)


def _parsed(content: Any) -> dict[str, Any]:
    """A resource as a dict, from a dict, a JSON text or an `orjson.Fragment` (stored text)."""
    if isinstance(content, dict):
        return content
    try:
        parsed = jsontext.loads(content if isinstance(content, str | bytes) else jsontext.dumps(content))
    except (orjson.JSONDecodeError, TypeError):
        return {}
    return parsed if isinstance(parsed, dict) else {}
