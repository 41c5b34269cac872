"""What a Bulk Data export reads of one type, as a `Match` (https://hl7.org/fhir/uv/bulkdata/export.html).

System level: every current resource. Patient level: the Patients and the resources in any
Patient's compartment (the CompartmentDefinition's reference parameters pointing at a Patient).
Group level: the same for the Group's member Patients only. Each also keeps the resources last
updated at or before the export's transactionTime and, with `_since`, after that instant.
"""

from __future__ import annotations

from collections.abc import Sequence

from lifeline.search.registry import SearchRegistry
from lifeline.storage import param_numbers
from lifeline.storage.matching import Match


def in_compartments(registry: SearchRegistry, resource_type: str) -> bool:
    """Whether resources of this type can be in a Patient's compartment (Patient itself is)."""
    return resource_type == "Patient" or bool(registry.compartment_params(resource_type))


def export_match(
    registry: SearchRegistry,
    resource_type: str,
    *,
    patients: Sequence[str] | None,
    compartments: bool,
    until: str,
    since: str | None,
) -> Match:
    """The resources of `resource_type` an export takes: all (`compartments` False), or those in
    the compartment of any Patient (`patients` None) or of the listed ones."""
    where = "r.last_updated <= ?"
    args: list[object] = [until]
    if since is not None:
        where += " AND r.last_updated > ?"
        args.append(since)
    if not compartments:
        return Match(where, tuple(args))
    if patients is not None and not patients:
        return Match("1 = 0")
    listed = "" if patients is None else f" AND s.target_id IN ({', '.join('?' for _ in patients)})"
    if resource_type == "Patient":
        if patients is None:
            return Match(where, tuple(args))
        return Match(f"{where} AND r.res_id IN ({', '.join('?' for _ in patients)})", (*args, *patients))
    params = registry.compartment_params(resource_type)
    if not params:
        return Match("1 = 0")
    which, numbers = param_numbers.condition("s", param_numbers.of((resource_type, p) for p in params))
    member = (
        f"r.res_id IN (SELECT s.res_id FROM search_reference s WHERE {which} AND s.target_type = 'Patient'{listed})"
    )
    return Match(f"{where} AND {member}", (*args, *numbers, *(patients or ())))
