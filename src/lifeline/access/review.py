"""The privacy officers' review list (issue 6): every break-the-glass, and access that looks
unusual, each to be marked reviewed with a note.

Unusual, read from the audit index over the last `days` days (records being opened: reads,
version reads, instance history and $everything — not every row a search listed):
- **burst**: a staff member opening more than `burst` different patients within one hour;
- **colleague**: a staff member opening the record of someone who is on the staff themselves (a
  Practitioner with the patient's CPR number, or with exactly the patient's name);
- **namesake**: a staff member opening the record of someone with their own family name;
- **access-change**: a change to what decides access (a PractitionerRole, Location or
  Organization; a CareTeam, RelatedPerson or Consent; a Patient's identifiers or links:
  access/deciding.py);
- **self-made-care**: a staff member opening a patient's record after writing a care relationship
  (Encounter, EpisodeOfCare, Appointment) for that patient themself: the access follows a reason
  they gave themself.

Marks are `_Review` records (they replicate, so every node's officers share one list); marking a
break-the-glass item also marks its grant reviewed.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import orjson

from lifeline import jsontext
from lifeline.access.break_glass import GRANT, Grant
from lifeline.audit import index
from lifeline.clock import fhir_instant
from lifeline.cpr import CPR_SYSTEM
from lifeline.errors import NotFound
from lifeline.identity import records
from lifeline.search.normalize import normalize
from lifeline.storage.repository import Repository
from lifeline.storage.session import Session
from lifeline.storage.write_session import WriteSession

REVIEW = "_Review"
OPENED = ("read", "vread", "history-instance", "operation")


@dataclass
class ReviewItem:
    id: str
    kind: str  # break-the-glass | burst | colleague | namesake | access-change | self-made-care
    practitioner: str | None  # Practitioner/id of the staff member
    user: str | None
    patients: list[str]
    first: str  # when it began (FHIR instant)
    detail: str
    reviewed: bool = False
    reviewed_by: str | None = None
    reviewed_at: str | None = None
    note: str | None = None

    def to_parameters(self) -> dict[str, Any]:
        parts: list[dict[str, Any]] = [
            {"name": "item", "valueString": self.id},
            {"name": "kind", "valueCode": self.kind},
            {"name": "when", "valueInstant": self.first},
            {"name": "detail", "valueString": self.detail},
            {"name": "reviewed", "valueBoolean": self.reviewed},
        ]
        if self.practitioner:
            parts.append({"name": "staff", "valueReference": {"reference": self.practitioner}})
        if self.user:
            parts.append({"name": "user", "valueString": self.user})
        parts += [{"name": "patient", "valueReference": {"reference": f"Patient/{p}"}} for p in self.patients]
        if self.reviewed:
            parts += [
                {"name": "reviewedBy", "valueString": self.reviewed_by or ""},
                {"name": "reviewedAt", "valueInstant": self.reviewed_at or ""},
            ]
            if self.note:
                parts.append({"name": "note", "valueString": self.note})
        return {"resourceType": "Parameters", "id": self.id, "parameter": parts}


@dataclass
class _Opening:
    hours: dict[tuple[str, str], set[str]] = field(default_factory=lambda: defaultdict(set))
    first: dict[tuple[str, str], str] = field(default_factory=dict)


def review_list(repo: Repository, now: datetime, *, days: int, burst: int) -> list[ReviewItem]:
    """Every item of the last `days` days, newest first, with its review mark."""
    index.catch_up(repo)
    since = fhir_instant(now - timedelta(days=days))
    items = [_glass(grant) for grant in _grants(repo) if grant.granted_at >= since]
    with repo.reading() as session:
        opened = _openings(session, since)
        items += _bursts(opened, burst)
        items += _people(session, opened)
        items += _access_changes(session, since)
        items += _self_made_care(session, since, opened)
        marks = {item.id: _mark(session, item.id) for item in items}
    for item in items:
        mark = marks[item.id]
        if mark is not None:
            item.reviewed, item.reviewed_by, item.reviewed_at, item.note = True, mark["by"], mark["at"], mark["note"]
    return sorted(items, key=lambda i: (i.first, i.id), reverse=True)


def mark_reviewed(repo: Repository, item_id: str, *, by: str, note: str, now: datetime) -> None:
    """Mark an item reviewed (again: the latest note wins); a grant is marked with it."""
    mark = {"item": item_id, "by": by, "at": fhir_instant(now), "note": note}

    def work(session: WriteSession) -> None:
        if item_id.startswith("btg-"):
            stored = session.read_for_update(GRANT, item_id[len("btg-") :])
            if stored is None or not stored.content:
                raise NotFound(f"No review item {item_id}")
            grant = {**orjson.loads(stored.content), "reviewed": True}
            session.put_version(GRANT, stored.res_id, stored, mark["at"], jsontext.dumps(grant).decode())
        res_id = records.record_id(REVIEW, item_id)
        current = session.read_for_update(REVIEW, res_id)
        session.put_version(REVIEW, res_id, current, mark["at"], jsontext.dumps(mark).decode())

    repo.write(work)


def _mark(session: Session, item_id: str) -> dict[str, Any] | None:
    stored = session.read(REVIEW, records.record_id(REVIEW, item_id))
    return None if stored is None or not stored.content else dict(orjson.loads(stored.content))


def _grants(repo: Repository) -> list[Grant]:
    return [Grant(**orjson.loads(v.content)) for page in repo.pages(GRANT, 500) for v in page if v.content]


def _glass(grant: Grant) -> ReviewItem:
    who = f"Practitioner/{grant.practitioner}" if grant.practitioner else None
    detail = f"Broke the glass ({grant.reason}): {grant.text}; access until {grant.expires_at}"
    return ReviewItem(f"btg-{grant.id}", "break-the-glass", who, grant.user, [grant.patient], grant.granted_at, detail)


def _openings(session: Session, since: str) -> _Opening:
    """Which staff member opened which patient's record in which hour (from the audit index)."""
    opened = _Opening()
    for agent, patient, first in session.audit_openings(since, OPENED):
        key = (agent, first[:13])
        opened.hours[key].add(patient)
        if key not in opened.first or first < opened.first[key]:
            opened.first[key] = first
    return opened


def _bursts(opened: _Opening, burst: int) -> list[ReviewItem]:
    items = []
    for (agent, hour), patients in opened.hours.items():
        if len(patients) > burst:
            item_id = f"burst-{uuid.uuid5(uuid.NAMESPACE_URL, f'{agent}/{hour}')}"
            detail = f"Opened {len(patients)} different patients' records within the hour from {hour}:00"
            items.append(
                ReviewItem(item_id, "burst", agent, None, sorted(patients), opened.first[(agent, hour)], detail)
            )
    return items


def _people(session: Session, opened: _Opening) -> list[ReviewItem]:
    """Colleagues' and namesakes' records opened, once per staff member and patient."""
    pairs: dict[tuple[str, str], str] = {}
    for (agent, _hour), patients in opened.hours.items():
        for patient in patients:
            first = opened.first[(agent, _hour)]
            pairs[(agent, patient)] = min(pairs.get((agent, patient), first), first)
    people: dict[tuple[str, str], dict[str, Any] | None] = {}

    def person(res_type: str, res_id: str) -> dict[str, Any] | None:
        if (res_type, res_id) not in people:
            stored = session.read(res_type, res_id)
            people[(res_type, res_id)] = orjson.loads(stored.content) if stored and stored.content else None
        return people[(res_type, res_id)]

    items = []
    for (agent, patient), first in sorted(pairs.items()):
        staff, record = person("Practitioner", agent.split("/", 1)[1]), person("Patient", patient)
        if staff is None or record is None:
            continue
        colleague = _staff_member(session, record)
        if colleague is not None and colleague != agent.split("/", 1)[1]:
            detail = f"Opened the record of Practitioner/{colleague}, a member of staff"
            items.append(_pair_item("colleague", agent, patient, first, detail))
        elif _family(staff) and _family(staff) == _family(record) and colleague is None:
            detail = f"Opened the record of a namesake ({_family(record)})"
            items.append(_pair_item("namesake", agent, patient, first, detail))
    return items


def _pair_item(kind: str, agent: str, patient: str, first: str, detail: str) -> ReviewItem:
    item_id = f"{kind}-{uuid.uuid5(uuid.NAMESPACE_URL, f'{agent}/{patient}')}"
    return ReviewItem(item_id, kind, agent, None, [patient], first, detail)


def _staff_member(session: Session, patient: dict[str, Any]) -> str | None:
    """The Practitioner this patient is, if any: by CPR number, else by exactly the same name."""
    for identifier in patient.get("identifier") or []:
        if identifier.get("system") == CPR_SYSTEM and identifier.get("value"):
            staff = session.practitioner_by_identifier(CPR_SYSTEM, identifier["value"])
            if staff is not None:
                return staff
    family, given = _family(patient), _given(patient)
    if not family or not given:
        return None
    for res_id in session.practitioners_by_family(normalize(family)):
        stored = session.read("Practitioner", res_id)
        if stored and stored.content:
            practitioner = orjson.loads(stored.content)
            if _family(practitioner) == family and _given(practitioner) == given:
                return res_id
    return None


def _family(person: dict[str, Any]) -> str:
    names = person.get("name") or [{}]
    return str(names[0].get("family") or "").strip().casefold()


def _given(person: dict[str, Any]) -> str:
    names = person.get("name") or [{}]
    return " ".join(names[0].get("given") or []).strip().casefold()


def _access_changes(session: Session, since: str) -> list[ReviewItem]:
    """Every change to what decides access, one item each (the security events of access/deciding.py)."""
    items = []
    for node_id, seq, recorded, content in session.audit_access_changes(since):
        event = orjson.loads(content)
        requestor: dict[str, Any] = next((a for a in event.get("agent") or [] if a.get("requestor")), {})
        who = (requestor.get("who") or {}).get("reference")
        patients = [
            str(e["what"]["reference"]).split("/", 1)[1]
            for e in event.get("entity") or []
            if str((e.get("what") or {}).get("reference", "")).startswith("Patient/")
        ]
        detail = f"Changed what decides access: {event.get('outcomeDesc', '')}".strip()
        item_id = f"access-change-{uuid.uuid5(uuid.NAMESPACE_URL, f'{node_id}/{seq}')}"
        items.append(ReviewItem(item_id, "access-change", who, requestor.get("altId"), patients, str(recorded), detail))
    return items


def _self_made_care(session: Session, since: str, opened: _Opening) -> list[ReviewItem]:
    """Openings of a patient's record by the staff member who wrote that patient's care relationship."""
    made = {(agent, patient): first for agent, patient, first in session.audit_care_relationships(since)}
    items = []
    for (agent, patient), since_made in sorted(made.items()):
        openings = [
            opened.first[key]
            for key, patients in opened.hours.items()
            if key[0] == agent and patient in patients and opened.first[key][:13] >= since_made[:13]
        ]
        if not openings:
            continue
        detail = f"Opened the record of Patient/{patient} after writing a care relationship for them at {since_made}"
        item = _pair_item("self-made-care", agent, patient, min(openings), detail)
        items.append(item)
    return items
