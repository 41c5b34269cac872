"""Membership of the Patient compartment as SQL (https://hl7.org/fhir/R4/compartmentdefinition-patient.html).

A resource is in Patient/123's compartment when one of the reference parameters the
CompartmentDefinition names for its type (Observation: subject, performer) points at
Patient/123; the Patient itself is in its own compartment, and so is a Patient whose `link`
points at it. Compartment search (`GET /Patient/123/Observation`) and `Patient/123/$everything`
are both "search, restricted to the compartment", so both use these conditions.
"""

from __future__ import annotations

from functools import cache, lru_cache

from lifeline.errors import BadRequest
from lifeline.search.registry import SearchRegistry
from lifeline.storage import param_numbers

COMPARTMENTS = ("Patient",)


def check_compartment(compartment_type: str) -> None:
    if compartment_type not in COMPARTMENTS:
        raise BadRequest(f"Compartment search is offered for the Patient compartment only, not {compartment_type}")


def member_condition(resource_type: str, patient_id: str, registry: SearchRegistry) -> tuple[str, list[object]]:
    """SQL over `resource r` (of `resource_type`): the resource is in Patient/patient_id's compartment."""
    params = registry.compartment_params(resource_type)
    if not params and resource_type != "Patient":
        raise BadRequest(f"{resource_type} resources are not in the Patient compartment")
    which, numbers = param_numbers.condition("s", param_numbers.of((resource_type, p) for p in params))
    linked = (
        f"r.res_id IN (SELECT s.res_id FROM search_reference s WHERE {which}"
        " AND s.target_type = 'Patient' AND s.target_id = ?)"
    )
    if resource_type == "Patient":
        return f"(r.res_id = ? OR {linked})", [patient_id, *numbers, patient_id]
    return linked, [*numbers, patient_id]


def everything_condition(
    patient_id: str, types: set[str] | None, registry: SearchRegistry, *, compound_in: bool
) -> tuple[str, list[object]]:
    """SQL over `resource r` of any type: the resource is in the compartment (and of `types`).

    The Patient itself and the resources that refer to it are one set; how to write it depends
    on the planner (`compound_in`, see Dialect.indexes_compound_in): a row-value IN over a
    UNION for PostgreSQL, an OR of two conditions for SQLite. Both find the members through
    search_reference's target index and never visit other resources."""
    numbers = _member_numbers(registry, None if types is None else frozenset(types))
    members: list[str] = []
    args: list[object] = []
    if types is None or "Patient" in types:
        members.append("SELECT 'Patient', ?" if compound_in else "(r.res_type = 'Patient' AND r.res_id = ?)")
        args.append(patient_id)
    if numbers:
        which, number_args = param_numbers.condition("s", numbers)
        args += [patient_id, *number_args]
        referring = (
            "SELECT s.res_type, s.res_id FROM search_reference s"
            f" WHERE s.target_id = ? AND s.target_type = 'Patient' AND {which}"
        )
        members.append(referring if compound_in else f"(r.res_type, r.res_id) IN ({referring})")
    if not members:
        return "1 = 0", []
    if compound_in:
        return f"(r.res_type, r.res_id) IN ({' UNION ALL '.join(members)})", args
    return f"({' OR '.join(members)})", args


@lru_cache(maxsize=64)
def _member_numbers(registry: SearchRegistry, types: frozenset[str] | None) -> tuple[int, ...]:
    """The numbers of the compartment's reference parameters on each type (of `types`) that has
    them; the same for every $everything of the same `_type`, so worked out once."""
    pairs = (
        (resource_type, param)
        for resource_type in sorted(registry.resource_types)
        if types is None or resource_type in types
        for param in registry.compartment_params(resource_type)
    )
    return tuple(sorted(param_numbers.of(pairs)))


@cache
def outside_types(registry: SearchRegistry) -> frozenset[str]:
    """Types that are never in a Patient compartment (Practitioner, Organization, Location, …):
    what $everything adds as referenced resources rather than as members."""
    return frozenset(t for t in registry.resource_types if not registry.compartment_params(t) and t != "Patient")
