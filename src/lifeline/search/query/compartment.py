"""Membership of the Patient compartment as SQL (https://hl7.org/fhir/R4/compartmentdefinition-patient.html).

A resource is in Patient/123's compartment when one of the reference parameters the
CompartmentDefinition names for its type (Observation: subject, performer) points at
Patient/123; the Patient itself is in its own compartment, and so is a Patient whose `link`
points at it. Compartment search (`GET /Patient/123/Observation`) and `Patient/123/$everything`
are both "search, restricted to the compartment", so both use these conditions.
"""

from __future__ import annotations

from collections import defaultdict

from lifeline.fhir.errors import BadRequest
from lifeline.search.registry import SearchRegistry

COMPARTMENTS = ("Patient",)


def check_compartment(compartment_type: str) -> None:
    if compartment_type not in COMPARTMENTS:
        raise BadRequest(f"Compartment search is offered for the Patient compartment only, not {compartment_type}")


def member_condition(resource_type: str, patient_id: str, registry: SearchRegistry) -> tuple[str, list[object]]:
    """SQL over `resource r` (of `resource_type`): the resource is in Patient/patient_id's compartment."""
    params = registry.compartment_params(resource_type)
    if not params and resource_type != "Patient":
        raise BadRequest(f"{resource_type} resources are not in the Patient compartment")
    marks = ", ".join("?" for _ in params)
    linked = (
        f"r.res_id IN (SELECT s.res_id FROM search_reference s WHERE s.res_type = ? AND s.param IN ({marks})"
        " AND s.target_type = 'Patient' AND s.target_id = ?)"
    )
    if resource_type == "Patient":
        return f"(r.res_id = ? OR {linked})", [patient_id, resource_type, *params, patient_id]
    return linked, [resource_type, *params, patient_id]


def everything_condition(patient_id: str, types: set[str] | None, registry: SearchRegistry) -> tuple[str, list[object]]:
    """SQL over `resource r` of any type: the resource is in the compartment (and of `types`)."""
    by_param: dict[str, list[str]] = defaultdict(list)
    for resource_type in sorted(registry.resource_types):
        if types is not None and resource_type not in types:
            continue
        for param in registry.compartment_params(resource_type):
            by_param[param].append(resource_type)
    parts: list[str] = []
    args: list[object] = []
    if types is None or "Patient" in types:
        parts.append("(r.res_type = 'Patient' AND r.res_id = ?)")
        args.append(patient_id)
    if by_param:
        pairs: list[str] = []
        pair_args: list[object] = []
        for param, resource_types in sorted(by_param.items()):
            pairs.append(f"(s.param = ? AND s.res_type IN ({', '.join('?' for _ in resource_types)}))")
            pair_args += [param, *resource_types]
        parts.append(
            "(r.res_type, r.res_id) IN (SELECT s.res_type, s.res_id FROM search_reference s"
            f" WHERE s.target_id = ? AND s.target_type = 'Patient' AND ({' OR '.join(pairs)}))"
        )
        args += [patient_id, *pair_args]
    if not parts:
        return "1 = 0", []
    return "(" + " OR ".join(parts) + ")", args


def outside_types(registry: SearchRegistry) -> frozenset[str]:
    """Types that are never in a Patient compartment (Practitioner, Organization, Location, …):
    what $everything adds as referenced resources rather than as members."""
    return frozenset(t for t in registry.resource_types if not registry.compartment_params(t) and t != "Patient")
