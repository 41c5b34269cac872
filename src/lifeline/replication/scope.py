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

from lifeline import jsontext
from lifeline.identity.records import USER
from lifeline.storage.records import StoredVersion
from lifeline.storage.session import Session

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
        frontier = session.organisations_part_of(sorted(frontier)) - found
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
        in_scope |= session.patients_with_care(res_type, _SUBJECT[res_type], wanted, provider, orgs)
    return in_scope


def filter_page(service: FhirService, versions: list[StoredVersion], roots: Sequence[str]) -> list[StoredVersion]:
    """The versions of a feed page that a site of the hospital `roots` holds: its patients'
    records, what is shared, and the logins of the staff with a role at the hospital (issue 5:
    a stolen site exposes only its own hospital's users). A role newly given at the hospital
    brings its user's login along."""
    registry = service.registry
    keys = sorted({(v.res_type, v.res_id) for v in versions if _compartmental(registry, v.res_type)})
    with service.repo.reading() as session:
        organisations = hospital_organisations(session, roots)
        owners = _patients_of(session, keys, registry) if keys else {}
        named = {p for patients in owners.values() for p in patients}
        scope = patients_in_scope(session, named, organisations)
        users = [v for v in versions if v.res_type == USER and v.content]
        roles = [v.res_id for v in versions if v.res_type == "PractitionerRole"]
        staff = _staff_at(session, [_practitioner(v) for v in users], organisations)
        newly = _practitioners_of_roles(session, roles, organisations)
    kept = []
    for version in versions:
        key = (version.res_type, version.res_id)
        if version.res_type == USER:
            if version.content is None or _practitioner(version) in staff:
                kept.append(version)
            continue
        patients = owners.get(key)
        # Not in any compartment (shared), or no longer indexed (a delete): the site takes it.
        if not _compartmental(registry, version.res_type) or not patients or patients & scope:
            kept.append(version)
    if newly:
        sent = {(v.res_type, v.res_id) for v in kept}
        kept += [v for v in _users_of(service, newly) if (v.res_type, v.res_id) not in sent]
    return kept


def _practitioner(version: StoredVersion) -> str:
    return str(jsontext.loads(version.content or "{}").get("practitioner", ""))


def _staff_at(session: Session, practitioners: Iterable[str], organisations: set[str]) -> set[str]:
    """Which practitioners hold a role (PractitionerRole) at one of `organisations`."""
    return session.practitioners_with_role_at(sorted({p for p in practitioners if p}), sorted(organisations))


def _practitioners_of_roles(session: Session, roles: list[str], organisations: set[str]) -> set[str]:
    """The practitioners of these PractitionerRoles that are at one of `organisations`."""
    return session.practitioners_of_roles_at(roles, sorted(organisations))


def _users_of(service: FhirService, practitioners: set[str]) -> list[StoredVersion]:
    """The current login records of these practitioners (users are few; read whole)."""
    found = []
    for page in service.repo.pages(USER, 500):
        found += [v for v in page if v.content and _practitioner(v) in practitioners]
    with service.repo.reading() as session:
        return _with_origin(session, found)


def compartment_keys(session: Session, patient: str) -> list[tuple[str, str]]:
    """The patient and every current resource that refers to them: their compartment, for a
    back-fill (a little more than the compartment is harmless: it is the same record)."""
    return sorted({("Patient", patient), *session.referring_to_patient(patient)})


def compartment_changes(service: FhirService, patient: str) -> list[StoredVersion]:
    with service.repo.reading(snapshot=True) as session:
        current = session.read_many(compartment_keys(session, patient))
        return _with_origin(session, [v for v in current if not v.res_type.startswith("_")])


def _with_origin(session: Session, current: list[StoredVersion]) -> list[StoredVersion]:
    """Current rows as their versions: with the node and method that made them (for history)."""
    return [session.vread(v.res_type, v.res_id, v.version_id) or v for v in current]


def _patients_of(session: Session, keys: list[tuple[str, str]], registry: Any) -> dict[tuple[str, str], set[str]]:
    owners: dict[tuple[str, str], set[str]] = {}
    for key in keys:
        if key[0] == "Patient":
            owners[key] = {key[1]}
    for res_type, res_id, param, target in session.references_to_patients(keys):
        if param in registry.compartment_params(res_type) or (res_type == "Patient" and param == "link"):
            owners.setdefault((res_type, res_id), set()).add(target)
    return owners


def _compartmental(registry: Any, res_type: str) -> bool:
    return not res_type.startswith("_") and (res_type == "Patient" or bool(registry.compartment_params(res_type)))
