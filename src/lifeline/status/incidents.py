"""Incidents: what operators tell staff, patients and the region about an outage (issue 23).

Modelled on the conventions of public status pages (Atlassian Statuspage, Cachet): an incident has
an impact (none, minor, major, critical), a status (investigating, identified, monitoring,
resolved), the components it affects (status/components.py), when it began and was resolved, an
expected restoration time that operators set (or none known), and a timeline of updates, each with
its own time, status, text and author.

Incidents are node-local: each node keeps its own in the `status_incident` and
`status_incident_update` tables (storage/migrations.py, migration 14), never versioned and never
replicated — a node that is cut off must still be able to say so. Operators write them through
`lifeline incidents` on that node (cli/incidents.py), audited as the operator.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from lifeline.clock import Clock, system_clock
from lifeline.errors import BadRequest, Conflict, NotFound
from lifeline.storage.repository import Repository
from lifeline.storage.session import Session
from lifeline.storage.write_session import WriteSession

IMPACTS = ("none", "minor", "major", "critical")
STATUSES = ("investigating", "identified", "monitoring", "resolved")
OPEN_STATUSES = STATUSES[:-1]


@dataclass(frozen=True)
class Update:
    """One entry of an incident's timeline."""

    at: str  # ISO 8601, UTC
    status: str
    text: str
    author: str  # who wrote it (the operator's login); the public page says only "operator"


@dataclass(frozen=True)
class Incident:
    id: str
    title: str
    impact: str
    status: str
    components: tuple[str, ...]
    began: str
    resolved_at: str | None = None
    expected_back: str | None = None  # the expected restoration time, None when none is known
    updates: tuple[Update, ...] = field(default_factory=tuple)  # oldest first

    @property
    def is_open(self) -> bool:
        return self.status != "resolved"


def instant(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_eta(text: str | None) -> str | None:
    """An operator's expected restoration time (ISO 8601, with or without a zone; UTC if none),
    as stored; `none` (or nothing) says no time is known."""
    if text is None or text.strip().lower() in ("", "none"):
        return None
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise BadRequest(f"the expected restoration time {text!r} is not a date-time (e.g. 2026-12-06T14:30)") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return instant(moment)


def check_impact(impact: str) -> str:
    if impact not in IMPACTS:
        raise BadRequest(f"unknown impact {impact!r}: one of {', '.join(IMPACTS)}")
    return impact


def check_status(status: str) -> str:
    if status not in STATUSES:
        raise BadRequest(f"unknown status {status!r}: one of {', '.join(STATUSES)}")
    return status


def _text(text: str, what: str) -> str:
    if not text.strip():
        raise BadRequest(f"the {what} must not be empty")
    return text.strip()


def open_incident(
    repo: Repository,
    *,
    title: str,
    impact: str,
    components: list[str],
    text: str,
    author: str,
    expected_back: str | None = None,
    clock: Clock = system_clock,
) -> Incident:
    """A new incident, investigating, with its first update. `components` must already be checked
    against the node's components (status/components.py)."""
    check_impact(impact)
    title = _text(title, "title")
    if not components:
        raise BadRequest("name at least one component the incident affects")
    now = instant(clock())
    incident_id = f"{now[:10].replace('-', '')}-{secrets.token_hex(3)}"

    def work(session: WriteSession) -> None:
        session.insert_incident(
            (incident_id, title, impact, "investigating", " ".join(components), now, None, expected_back)
        )
        _add_update(
            session, incident_id, 1, Update(now, "investigating", _text(text, "text") if text else title, author)
        )

    repo.write(work)
    found = get_incident(repo, incident_id)
    assert found is not None
    return found


def update_incident(
    repo: Repository,
    incident_id: str,
    *,
    status: str,
    text: str,
    author: str,
    expected_back: str | None | bool = False,  # False: unchanged; None: none known; else the time
    clock: Clock = system_clock,
) -> Incident:
    """Add an update to an open incident's timeline; `resolved` closes it."""
    check_status(status)
    text = _text(text, "text")
    now = instant(clock())

    def work(session: WriteSession) -> None:
        rows = session.incident_rows(1, incident_id=incident_id)
        row = rows[0] if rows else None
        if row is None:
            raise NotFound(f"no incident {incident_id!r}")
        if row[3] == "resolved":
            raise Conflict(f"incident {incident_id} is resolved; open a new one")
        eta: str | None = (
            row[7] if expected_back is False else (expected_back if isinstance(expected_back, str) else None)
        )
        resolved_at = now if status == "resolved" else None
        if status == "resolved":
            eta = None
        session.set_incident_state(incident_id, status, resolved_at, eta)
        _add_update(
            session, incident_id, session.last_incident_update(incident_id) + 1, Update(now, status, text, author)
        )

    repo.write(work)
    found = get_incident(repo, incident_id)
    assert found is not None
    return found


def _add_update(session: WriteSession, incident_id: str, seq: int, update: Update) -> None:
    session.insert_incident_update((incident_id, seq, update.at, update.status, update.text, update.author))


def get_incident(repo: Repository, incident_id: str) -> Incident | None:
    with repo.reading() as session:
        found = _incidents(session, session.incident_rows(1, incident_id=incident_id))
    return found[0] if found else None


def require_incident(repo: Repository, incident_id: str) -> Incident:
    found = get_incident(repo, incident_id)
    if found is None:
        raise NotFound(f"no incident {incident_id!r}")
    return found


def open_incidents(session: Session) -> list[Incident]:
    """The incidents not yet resolved, newest first (an indexed read: `status_incident_open`)."""
    return _incidents(session, session.incident_rows(100))


def resolved_incidents(session: Session, since: str, limit: int) -> list[Incident]:
    """Resolved incidents that ended at or after `since`, the latest first."""
    return _incidents(session, session.incident_rows(limit, resolved_since=since))


def _incidents(session: Session, rows: list[Any]) -> list[Incident]:
    """The incidents of `rows` (status_incident), each with its timeline."""
    if not rows:
        return []
    ids = [row[0] for row in rows]
    updates: dict[str, list[Update]] = {incident_id: [] for incident_id in ids}
    for each in session.incident_update_rows(ids):
        updates[each[0]].append(Update(each[2], each[3], each[4], each[5]))
    return [
        Incident(
            id=row[0],
            title=row[1],
            impact=row[2],
            status=row[3],
            components=tuple(row[4].split()),
            began=row[5],
            resolved_at=row[6],
            expected_back=row[7],
            updates=tuple(updates[row[0]]),
        )
        for row in rows
    ]
