"""What a hospital-scoped site holds: the records of the patients with care at its hospital, and
everything shared (organisations, locations, practitioners, medications, ...), issue 7.

A patient is in a hospital's scope when an Encounter or an EpisodeOfCare of theirs is provided by
one of the hospital's organisations, or by a department below one (Organization.partOf). The
centre filters the feed per site with that rule, reading only the search index. A patient who
comes into scope later (a first admission) is back-filled by the site: when something it applies
refers to a patient it does not hold, it fetches that patient's whole compartment
(`compartment_changes`). What a site once held it keeps.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from lifeline.storage.records import StoredVersion
from lifeline.storage.session import Session, keys_condition

if TYPE_CHECKING:
    from lifeline.fhir.service import FhirService

# The references that tie care to a hospital: who provides the encounter or the episode.
_CARE = (("Encounter", "service-provider"), ("EpisodeOfCare", "organization"))
_SUBJECT = {"Encounter": ("patient", "subject"), "EpisodeOfCare": ("patient",)}
_MAX_DEPTH = 10  # Organization.partOf levels followed (region > hospital > centre > department)


def hospital_organisations(session: Session, roots: Sequence[str]) -> set[str]:
    """The hospital's organisations and every organisation below them."""
    found = set(roots)
    frontier = set(roots)
    for _ in range(_MAX_DEPTH):
        if not frontier:
            break
        marks = ", ".join("?" for _ in frontier)
        rows = session._all(
            "SELECT res_id FROM search_reference WHERE res_type = 'Organization' AND param = 'partof'"
            f" AND target_type = 'Organization' AND target_id IN ({marks})",
            sorted(frontier),
        )
        frontier = {str(r[0]) for r in rows} - found
        found |= frontier
    return found


def patients_in_scope(session: Session, patients: Iterable[str], organisations: set[str]) -> set[str]:
    """Which of `patients` have care at one of `organisations`."""
    wanted = sorted(set(patients))
    if not wanted or not organisations:
        return set()
    in_scope: set[str] = set()
    orgs = sorted(organisations)
    for res_type, provider in _CARE:
        subjects = _SUBJECT[res_type]
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            rows = session._all(
                "SELECT DISTINCT s.target_id FROM search_reference s JOIN search_reference o"
                " ON o.res_type = s.res_type AND o.res_id = s.res_id"
                f" WHERE s.res_type = ? AND s.param IN ({_marks(subjects)}) AND s.target_type = 'Patient'"
                f" AND s.target_id IN ({_marks(chunk)}) AND o.param = ? AND o.target_type = 'Organization'"
                f" AND o.target_id IN ({_marks(orgs)})",
                [res_type, *subjects, *chunk, provider, *orgs],
            )
            in_scope.update(str(r[0]) for r in rows)
    return in_scope


def filter_page(service: FhirService, versions: list[StoredVersion], roots: Sequence[str]) -> list[StoredVersion]:
    """The versions of a feed page that a site of the hospital `roots` holds."""
    registry = service.registry
    keys = sorted({(v.res_type, v.res_id) for v in versions if _compartmental(registry, v.res_type)})
    if not keys:
        return versions
    with service.repo.reading() as session:
        owners = _patients_of(session, keys, registry)
        scope = patients_in_scope(
            session, {p for ps in owners.values() for p in ps}, hospital_organisations(session, roots)
        )
    kept = []
    for version in versions:
        key = (version.res_type, version.res_id)
        patients = owners.get(key)
        # Not in any compartment (shared), or no longer indexed (a delete): the site takes it.
        if not _compartmental(registry, version.res_type) or not patients or patients & scope:
            kept.append(version)
    return kept


def compartment_keys(session: Session, patient: str) -> list[tuple[str, str]]:
    """The patient and every current resource that refers to them: their compartment, for a
    back-fill (a little more than the compartment is harmless: it is the same record)."""
    rows = session._all(
        "SELECT DISTINCT res_type, res_id FROM search_reference WHERE target_type = 'Patient' AND target_id = ?",
        (patient,),
    )
    return sorted({("Patient", patient), *((str(r[0]), str(r[1])) for r in rows)})


def compartment_changes(service: FhirService, patient: str) -> list[StoredVersion]:
    with service.repo.reading(snapshot=True) as session:
        return [v for v in session.read_many(compartment_keys(session, patient)) if not v.res_type.startswith("_")]


def _patients_of(session: Session, keys: list[tuple[str, str]], registry: Any) -> dict[tuple[str, str], set[str]]:
    owners: dict[tuple[str, str], set[str]] = {}
    for key in keys:
        if key[0] == "Patient":
            owners[key] = {key[1]}
    for start in range(0, len(keys), 200):
        condition, args = keys_condition(keys[start : start + 200], "res_type", "res_id")
        rows = session._all(
            f"SELECT res_type, res_id, param, target_id FROM search_reference WHERE {condition}"
            " AND target_type = 'Patient'",
            args,
        )
        for res_type, res_id, param, target in rows:
            if param in registry.compartment_params(res_type) or (res_type == "Patient" and param == "link"):
                owners.setdefault((res_type, res_id), set()).add(str(target))
    return owners


def _compartmental(registry: Any, res_type: str) -> bool:
    return not res_type.startswith("_") and (res_type == "Patient" or bool(registry.compartment_params(res_type)))


def _marks(values: Sequence[Any]) -> str:
    return ", ".join("?" for _ in values)
