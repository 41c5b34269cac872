"""Who an outage affects, answered live during an incident (issue 23): over the incident's window
(from when it began until it was resolved, or now), how many distinct members of staff could not
log in, or were refused or failed by the record, and how many attempts — by hospital, department,
role and node; which hospitals work in continuity mode; which services are up.

The audit trail is the source of truth: every login and failed login is a security event
(audit/events.py, outcome 4 on failure, the login name as the agent's altId) and every FHIR
interaction's record has an outcome (audit/access.py); the centre holds every site's chain, so
counting there covers every node (the chain's node is the record's `source.observer`). The
failed records are found through the audit index (its `outcome` rows, storage/affected_reads.py)
and at most `limit` are read: when more failed, the counts say they are lower bounds.

A login name becomes a place through the directory, read by the operator's aggregate past any
person's access rule: its user record's Practitioner, that Practitioner's active
PractitionerRoles (`organization` = the department, whose `partOf` is the hospital; `code` = the
role), read once per name per computation. A member with roles in two departments is counted
under each; the totals count them once. A name no user has is an "unknown login" attempt.

What this returns are counts only: no login name, no person and no patient is ever named.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from lifeline.audit.index import catch_up
from lifeline.identity import records
from lifeline.status.components import MAJOR, REPLICATION, Component
from lifeline.status.incidents import Incident
from lifeline.status.synthetic import PROBE_SYSTEM
from lifeline.storage.repository import Repository
from lifeline.storage.session import Session

LIMIT = 200_000  # failed records read per computation, at most
CACHE_SECONDS = 30.0  # the public page's totals are this old at most
LOGIN = "110122"  # the subtype DICOM "Login": logins and failed logins (audit/events.py)
REQUEST = "rest"  # the type of every FHIR interaction's record (audit/access.py)
NOT_KNOWN = ""  # a place the directory does not say (no role, no department, no hospital)


@dataclass(frozen=True)
class Group:
    """Staff of one hospital, department and role, at one node, who failed."""

    hospital: str
    department: str
    role: str
    node: str
    staff: int  # distinct members of staff
    attempts: int


@dataclass(frozen=True)
class HospitalTotal:
    hospital: str
    staff: int
    attempts: int


@dataclass(frozen=True)
class Tally:
    """One count over the window: failed logins, or refused and failed requests."""

    staff: int  # distinct members of staff, however many places each has
    attempts: int  # the staff's failed attempts (the unknown and the patients' are apart)
    groups: tuple[Group, ...] = ()
    hospitals: tuple[HospitalTotal, ...] = ()
    unknown: int = 0  # attempts under a name no staff login has (requests: anonymous, apps)
    patients: int = 0  # distinct patients (the citizen login, the portal): a number only
    patient_attempts: int = 0
    lower_bound: bool = False  # more failed than were read: the counts are at least these


@dataclass(frozen=True)
class Affected:
    incident: str
    since: str  # the window, as the incident tells it
    until: str | None  # None: still open, counted until now
    logins: Tally
    requests: Tally
    continuity: tuple[str, ...]  # the hospital sites working on their own
    components: tuple[Component, ...]
    indexed: bool = True  # False: the audit index could not catch up; counts are lower bounds


Place = tuple[str, str, str]  # hospital, department, role


@dataclass
class Directory:
    """Login name -> the member's places, read once per name for one computation."""

    repo: Repository
    session: Session
    _places: dict[str, tuple[Place, ...] | None] = field(default_factory=dict)
    _resources: dict[tuple[str, str], dict[str, Any] | None] = field(default_factory=dict)

    def places(self, login: str) -> tuple[Place, ...] | None:
        """The member's places; None when no staff login has this name."""
        if login not in self._places:
            user = records.get_user(self.repo, login) if login else None
            self._places[login] = None if user is None else self._of(user.practitioner)
        return self._places[login]

    def probe(self, login: str) -> bool:
        """Whether `login` is a node's synthetic probe (status/synthetic.py): its failures are its
        own incident, never counted as a member of staff's."""
        user = records.get_user(self.repo, login) if login.startswith("probe-") else None
        practitioner = self._read("Practitioner", user.practitioner) if user and user.practitioner else None
        return any(i.get("system") == PROBE_SYSTEM for i in (practitioner or {}).get("identifier") or [])

    def _of(self, practitioner: str) -> tuple[Place, ...]:
        found: set[Place] = set()
        for role_id in self.session.practitioner_roles(practitioner) if practitioner else []:
            role = self._read("PractitionerRole", role_id) or {}
            department_id = _target(role.get("organization"), "Organization")
            department = self._read("Organization", department_id) if department_id else None
            hospital_id = _target((department or {}).get("partOf"), "Organization")
            hospital = self._read("Organization", hospital_id) if hospital_id else None
            found.add((_name(hospital) or _name(department), _name(department), _role_name(role)))
        return tuple(sorted(found)) or ((NOT_KNOWN, NOT_KNOWN, NOT_KNOWN),)

    def _read(self, res_type: str, res_id: str) -> dict[str, Any] | None:
        key = (res_type, res_id)
        if key not in self._resources:
            stored = self.session.read(res_type, res_id)
            content = stored.content if stored is not None and not stored.deleted else None
            self._resources[key] = orjson.loads(content) if content else None
        return self._resources[key]


def _target(reference: Any, res_type: str) -> str | None:
    text = str((reference or {}).get("reference") or "") if isinstance(reference, dict) else ""
    kind, _, res_id = text.partition("/")
    return res_id if kind == res_type and res_id and "/" not in res_id else None


def _name(resource: dict[str, Any] | None) -> str:
    return str((resource or {}).get("name") or NOT_KNOWN)


def _role_name(role: dict[str, Any]) -> str:
    for concept in role.get("code") or []:
        if concept.get("text"):
            return str(concept["text"])
        for coding in concept.get("coding") or []:
            if coding.get("display") or coding.get("code"):
                return str(coding.get("display") or coding.get("code"))
    return NOT_KNOWN


OPEN_END = "9999-12-31T23:59:59"  # an open incident counts until now: nothing is recorded later


def window(incident: Incident) -> tuple[str, str]:
    """[since, until) as the audit trail stores instants (audit/store.py: microseconds, Z): from
    the second the incident began to the end of the second it was resolved, or now."""
    end = incident.resolved_at or OPEN_END
    return f"{incident.began[:19]}.000000Z", f"{end[:19]}.999999Z"


def kinds(rows: Iterable[Sequence[Any]]) -> tuple[list[tuple[str, dict[str, Any]]], list[tuple[str, dict[str, Any]]]]:
    """The failed records (node_id, content) parsed: (logins, requests); other kinds are left out."""
    logins, requests = [], []
    for node_id, content in rows:
        event = orjson.loads(content)
        if (event.get("type") or {}).get("code") == REQUEST:
            requests.append((str(node_id), event))
        elif any(coding.get("code") == LOGIN for coding in event.get("subtype") or []):
            logins.append((str(node_id), event))
    return logins, requests


def tally(
    rows: Iterable[tuple[str, dict[str, Any]]], directory: Directory, *, login: bool, lower_bound: bool = False
) -> Tally:
    """Count failed records (node_id, event) by the places of whoever failed."""
    staff: dict[str, str] = {}  # login -> a key of one's own, never shown
    groups: dict[tuple[str, str, str, str], tuple[set[str], int]] = {}
    hospitals: dict[str, tuple[set[str], int]] = {}
    patients: set[str] = set()
    unknown = patient_attempts = attempts = 0
    for node_id, event in rows:
        node = str(((event.get("source") or {}).get("observer") or {}).get("display") or node_id)
        name, reference = _requestor(event)
        if reference.startswith("Patient/") or (login and name == "citizen"):
            patient_attempts += 1
            patients.add(reference or name)
            continue
        if name and directory.probe(name):
            continue
        places = directory.places(name) if name else None
        if places is None:
            unknown += 1
            continue
        who = staff.setdefault(name, str(len(staff)))
        attempts += 1
        for hospital, department, role in places:
            members, tried = groups.get((hospital, department, role, node), (set(), 0))
            members.add(who)
            groups[(hospital, department, role, node)] = (members, tried + 1)
        for hospital in {place[0] for place in places}:
            members, tried = hospitals.get(hospital, (set(), 0))
            members.add(who)
            hospitals[hospital] = (members, tried + 1)
    return Tally(
        staff=len(staff),
        attempts=attempts,
        groups=tuple(
            Group(*key, staff=len(members), attempts=tried)
            for key, (members, tried) in sorted(groups.items(), key=lambda item: (-len(item[1][0]), item[0]))
        ),
        hospitals=tuple(
            HospitalTotal(hospital, len(members), tried)
            for hospital, (members, tried) in sorted(hospitals.items(), key=lambda item: (-len(item[1][0]), item[0]))
        ),
        unknown=unknown,
        patients=len(patients),
        patient_attempts=patient_attempts,
        lower_bound=lower_bound,
    )


def _requestor(event: dict[str, Any]) -> tuple[str, str]:
    """(login name, reference) of the person who asked: the requesting agent's altId and who."""
    for agent in event.get("agent") or []:
        if agent.get("requestor"):
            who = agent.get("who") or {}
            return str(agent.get("altId") or ""), str(who.get("reference") or "")
    return "", ""


def continuity(node: dict[str, Any], components: Sequence[Component]) -> tuple[str, ...]:
    """The hospital sites working on their own: at a site, itself when its mode says so; at the
    centre, the sites whose replication is down (a site cut off from the centre works on its own)."""
    if node.get("role") != "central":
        mode = node.get("mode")
        return (str(node.get("node")),) if mode in ("continuity", "healing") else ()
    return tuple(c.site for c in components if c.key.startswith(f"{REPLICATION}:") and c.status == MAJOR and c.site)


def affected(
    repo: Repository,
    incident: Incident,
    *,
    node: dict[str, Any],
    components: Sequence[Component],
    limit: int = LIMIT,
) -> Affected:
    """Who and what `incident` affects, counted from the audit trail of every node held here."""
    try:
        catch_up(repo)  # the index is what finds the failures: bring it up to the trail's end
        indexed = True
    except Exception:  # noqa: BLE001 - the database may be what is down: count what is indexed
        indexed = False
    since, until = window(incident)
    with repo.reading() as session:
        rows = session.audit_failures(since, until, limit)
        bound = len(rows) >= limit or not indexed
        failed_logins, failed_requests = kinds(rows)
        directory = Directory(repo, session)
        logins = tally(failed_logins, directory, login=True, lower_bound=bound)
        requests = tally(failed_requests, directory, login=False, lower_bound=bound)
    return Affected(
        incident=incident.id,
        since=incident.began,
        until=incident.resolved_at,
        logins=logins,
        requests=requests,
        continuity=continuity(node, components),
        components=tuple(components),
        indexed=indexed,
    )


class AffectedCache:
    """The public page's totals: computed at most once per `max_age` per incident, and while one
    thread computes, the others are given the previous answer (status/board.py's pattern)."""

    def __init__(self, clock: Callable[[], float], max_age: float = CACHE_SECONDS) -> None:
        self.clock, self.max_age = clock, max_age
        self._computing = threading.Lock()
        self._kept: dict[str, tuple[float, Affected]] = {}

    def fresh(self, incident_id: str) -> Affected | None:
        kept = self._kept.get(incident_id)
        return kept[1] if kept is not None and self.clock() < kept[0] else None

    def get(self, incident_id: str, compute: Callable[[], Affected]) -> Affected:
        """A fresh answer, computed here if need be (blocking: call from a worker thread)."""
        kept = self._kept.get(incident_id)
        if not self._computing.acquire(blocking=kept is None):
            assert kept is not None
            return kept[1]
        try:
            found = self.fresh(incident_id)
            if found is None:
                found = compute()
                self._kept = {
                    **{k: v for k, v in self._kept.items() if self.clock() < v[0] + self.max_age},
                    incident_id: (self.clock() + self.max_age, found),
                }
            return found
        finally:
            self._computing.release()

    def forget(self) -> None:
        self._kept = {}
