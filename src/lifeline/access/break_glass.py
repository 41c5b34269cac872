"""Break-the-glass grants: a staff member without a care relationship takes access to one patient
for `break_glass_hours`, giving a reason; privacy officers review every grant afterwards.

A grant is an internal record (`_Grant`, never served by the FHIR API) written through the one
write path, so it replicates with the record. Beside it each user has one `_GrantIndex` record
listing their grants that have not yet expired, written in the same transaction: the access
rule reads that one row by its key on every request instead of searching the grants.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson

from lifeline import jsontext
from lifeline.audit.events import security_event
from lifeline.audit.store import append_in
from lifeline.clock import fhir_instant
from lifeline.storage.repository import Repository
from lifeline.storage.session import Session
from lifeline.storage.write_session import WriteSession

GRANT = "_Grant"
GRANT_INDEX = "_GrantIndex"
REASON_SYSTEM = "http://terminology.hl7.org/CodeSystem/v3-ActReason"
REASONS = ("ETREAT", "BTG")
_IDS = uuid.UUID("5d0f3c1e-3b7a-4d7e-9a44-7f0d2b9c6a10")


@dataclass
class Grant:
    id: str
    user: str
    practitioner: str | None
    patient: str
    reason: str
    text: str
    granted_at: str
    expires_at: str
    reviewed: bool = False


def index_id(user: str) -> str:
    return str(uuid.uuid5(_IDS, f"{GRANT_INDEX}/{user.casefold()}"))


def grant(
    repo: Repository,
    *,
    user: str,
    practitioner: str | None,
    patient: str,
    reason: str,
    text: str,
    now: datetime,
    hours: int,
) -> Grant:
    """Store a grant and its entry in the user's index, in one transaction."""
    expires = now + timedelta(hours=hours)
    granted_at, expires_at = fhir_instant(now), fhir_instant(expires)
    record = Grant(str(uuid.uuid4()), user, practitioner, patient, reason, text, granted_at, expires_at)

    def work(session: WriteSession) -> None:
        _put(session, GRANT, record.id, asdict(record), granted_at)
        current = session.read_for_update(GRANT_INDEX, index_id(user))
        entries = _entries(current.content if current is not None and not current.deleted else None)
        kept = [e for e in entries if e["expires_at"] > granted_at]
        kept.append({"grant": record.id, "patient": patient, "expires_at": expires_at})
        _put(session, GRANT_INDEX, index_id(user), {"user": user, "grants": kept}, granted_at, current)
        # The security alert commits with the grant, or neither does (issue 5: recorded and reviewed).
        alert = security_event(
            "break-the-glass",
            node_id=repo.node_id,
            user=user,
            fhir_user=f"Practitioner/{practitioner}" if practitioner else None,
            patient=patient,
            purpose=reason,
            text=text,
            recorded=now,
        )
        append_in(session, repo.node_id, [alert])

    repo.write(work)
    return record


def granted_patients(session: Session, user: str, now: datetime) -> list[str]:
    """The patients `user` holds an unexpired grant for (one read by key)."""
    stored = session.read(GRANT_INDEX, index_id(user))
    if stored is None or stored.deleted:
        return []
    instant = fhir_instant(now)
    return sorted({e["patient"] for e in _entries(stored.content) if e["expires_at"] > instant})


def grants_for_review(repo: Repository) -> Iterator[Grant]:
    """Every grant not yet reviewed, for the privacy officers' review list (oldest id order)."""
    for page in repo.pages(GRANT, 500):
        for stored in page:
            if stored.content is not None:
                found = Grant(**orjson.loads(stored.content))
                if not found.reviewed:
                    yield found


def _entries(content: str | None) -> list[dict[str, Any]]:
    if not content:
        return []
    grants: list[dict[str, Any]] = orjson.loads(content).get("grants", [])
    return grants


def _put(
    session: WriteSession, kind: str, res_id: str, content: dict[str, Any], instant: str, current: Any = None
) -> None:
    if current is None:
        current = session.read_for_update(kind, res_id)
    session.put_version(kind, res_id, current, instant, jsontext.dumps(content).decode())
