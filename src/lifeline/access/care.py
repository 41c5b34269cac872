"""Who a staff member cares for: the patients an Encounter, EpisodeOfCare, Appointment or CareTeam
ties to the member's departments, places, roles or self, as one SQL subquery.

A staff member's departments, roles and places come from the active PractitionerRoles of their
Practitioner (`organization` = the department, `location` = its ward or clinic); the places are
widened to the Locations their departments manage and to those inside them (beds in a ward).
That profile is read once a minute per practitioner (`CACHE_SECONDS`), at most `CACHE_SIZE` kept.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from lifeline.storage import param_numbers
from lifeline.storage.session import Session

CACHE_SECONDS = 60.0
CACHE_SIZE = 4096

# Encounter and EpisodeOfCare statuses that count as care now, whatever their dates say.
ACTIVE_ENCOUNTER = ("planned", "arrived", "triaged", "in-progress", "onleave")
ACTIVE_EPISODE = ("planned", "waitlist", "active", "onhold")


@dataclass(frozen=True)
class CareProfile:
    practitioner: str
    roles: tuple[str, ...]
    departments: tuple[str, ...]
    locations: tuple[str, ...]


_cache: dict[tuple[int, str], tuple[float, CareProfile]] = {}


def care_profile(session: Session, practitioner: str, cache_key: int) -> CareProfile:
    key = (cache_key, practitioner)
    hit = _cache.get(key)
    now = time.monotonic()
    if hit is not None and now - hit[0] < CACHE_SECONDS:
        return hit[1]
    profile = _load(session, practitioner)
    if len(_cache) >= CACHE_SIZE:
        _cache.clear()  # a crude bound: profiles are cheap to read again
    _cache[key] = (now, profile)
    return profile


def forget_profiles() -> None:
    _cache.clear()


def _load(session: Session, practitioner: str) -> CareProfile:
    roles = session.practitioner_roles(practitioner)
    departments = session.referenced_ids("PractitionerRole", roles, "organization", "Organization")
    locations = set(session.referenced_ids("PractitionerRole", roles, "location", "Location"))
    if departments:
        locations |= set(session.referring_ids("Location", "organization", "Organization", departments))
    frontier = sorted(locations)
    for _ in range(3):  # site > ward > room > bed at most
        inside = set(session.referring_ids("Location", "partof", "Location", frontier)) - locations
        if not inside:
            break
        locations |= inside
        frontier = sorted(inside)
    return CareProfile(practitioner, tuple(roles), tuple(departments), tuple(sorted(locations)))


def _marks(values: list[str] | tuple[str, ...]) -> str:
    return ", ".join("?" for _ in values)


def micros(moment: datetime) -> int:
    """A moment as the search_date tables store it: microseconds since 1970 UTC."""
    return int(moment.timestamp()) * 1_000_000 + moment.microsecond


def cared_for_sql(profile: CareProfile, now: datetime, window_days: int) -> tuple[list[str], list[Any]]:
    """SELECTs of the ids of the patients `profile` cares for now (to be UNIONed)."""
    since = micros(now - timedelta(days=window_days))
    org = [("Organization", profile.departments)]
    places = [("Location", profile.locations)]
    people = [("PractitionerRole", profile.roles), ("Practitioner", (profile.practitioner,))]
    parts: list[str] = []
    args: list[Any] = []
    for res_type, patient_param, links, statuses, dated in (
        ("Encounter", "subject", [("service-provider", org), ("location", places)], ACTIVE_ENCOUNTER, True),
        ("EpisodeOfCare", "patient", [("organization", org)], ACTIVE_EPISODE, True),
        ("Appointment", "actor", [("actor", [*places, *people])], (), True),
        ("CareTeam", "subject", [("participant", people)], ("active",), False),
    ):
        sql, sql_args = _care_select(res_type, patient_param, links, statuses, since if dated else None)
        if sql:
            parts.append(sql)
            args += sql_args
    return parts, args


def _care_select(
    res_type: str,
    patient_param: str,
    links: list[tuple[str, list[tuple[str, tuple[str, ...]]]]],
    statuses: tuple[str, ...],
    since: int | None,
) -> tuple[str, list[Any]]:
    """Patients of the `res_type` resources that link to the member and are current: their
    date range reaches `since` or later, or their status is one of `statuses`."""
    tests: list[str] = []
    test_args: list[Any] = []
    for param, targets in links:
        for target_type, ids in targets:
            if ids:
                tests.append(f"(c.pid = ? AND c.target_type = ? AND c.target_id IN ({_marks(ids)}))")
                test_args += [param_numbers.number(res_type, param), target_type, *ids]
    if not tests:
        return "", []
    args: list[Any] = [param_numbers.number(res_type, patient_param), *test_args]
    current: list[str] = []
    if since is not None:
        current.append("s.res_id IN (SELECT d.res_id FROM search_date d WHERE d.pid = ? AND d.high >= ?)")
        args += [param_numbers.number(res_type, "date"), since]
    if statuses:
        current.append(
            f"s.res_id IN (SELECT t.res_id FROM search_token t WHERE t.pid = ? AND t.code IN ({_marks(statuses)}))"
        )
        args += [param_numbers.number(res_type, "status"), *statuses]
    sql = (
        "SELECT s.target_id FROM search_reference s WHERE s.pid = ?"
        " AND s.target_type = 'Patient' AND s.target_id IS NOT NULL"
        f" AND s.res_id IN (SELECT c.res_id FROM search_reference c WHERE {' OR '.join(tests)})"
        f" AND ({' OR '.join(current)})"
    )
    return sql, args
