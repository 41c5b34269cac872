"""Conflicts: a resource changed at a cut-off site and elsewhere during the same cut (issue 7).

Neither version silently wins. The centre keeps its own as the current version, flagged with the
`urn:lifeline:replication|conflict` tag, and the site's in a `_Conflict` record (it replicates, so
every node lists it). A clinician then chooses one or writes a merge
(`POST [type]/[id]/$resolve-conflict`, fhir/interactions/conflicts.py); the reconciliation list
is `GET $conflicts`.
"""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass
from typing import Any

from lifeline import jsontext
from lifeline.storage.matching import Match
from lifeline.storage.records import StoredVersion
from lifeline.storage.session import Session
from lifeline.storage.write_session import WriteSession

CONFLICT = "_Conflict"
TAG_SYSTEM = "urn:lifeline:replication"
TAG = {"system": TAG_SYSTEM, "code": "conflict", "display": "Changed at two places during a network cut"}
_IDS = uuid.UUID("a3c5e0d2-8f1b-4e6a-b2d4-0c9e7f3a5b18")


@dataclass
class ConflictRecord:
    id: str
    res_type: str
    res_id: str
    site: str  # the node whose change lost the race to the centre
    local_seq: int  # its number in that site's outbox
    detected_at: str
    central_version: int  # the centre's version when the site's change arrived
    site_base_version: int  # the version the site's change was made on
    site_content: dict[str, Any] | None  # the site's version (None: the site deleted it)
    status: str = "open"  # open | resolved
    resolution: str | None = None  # central | site | merged
    resolved_by: str | None = None
    resolved_at: str | None = None

    def to_parameters(self) -> dict[str, Any]:
        """The conflict as a FHIR Parameters resource (an entry of the reconciliation list)."""
        parts: list[dict[str, Any]] = [
            {"name": "conflict", "valueString": self.id},
            {"name": "status", "valueCode": self.status},
            {"name": "target", "valueReference": {"reference": f"{self.res_type}/{self.res_id}"}},
            {"name": "site", "valueString": self.site},
            {"name": "detected", "valueInstant": self.detected_at},
            {"name": "centralVersion", "valueString": str(self.central_version)},
            {"name": "siteBaseVersion", "valueString": str(self.site_base_version)},
        ]
        if self.site_content is not None:
            parts.append({"name": "siteVersion", "resource": self.site_content})
        else:
            parts.append({"name": "siteDeleted", "valueBoolean": True})
        if self.resolution:
            parts += [
                {"name": "resolution", "valueCode": self.resolution},
                {"name": "resolvedBy", "valueString": self.resolved_by or ""},
                {"name": "resolvedAt", "valueInstant": self.resolved_at or ""},
            ]
        return {"resourceType": "Parameters", "id": self.id, "parameter": parts}


def conflict_id(site: str, local_seq: int) -> str:
    return str(uuid.uuid5(_IDS, f"{site}/{local_seq}"))


def put_conflict(
    session: WriteSession, conflict: ConflictRecord, instant: str, *, previous: StoredVersion | None
) -> None:
    session.put_version(CONFLICT, conflict.id, previous, instant, jsontext.dumps(asdict(conflict)).decode())


def load(stored: StoredVersion) -> ConflictRecord:
    return ConflictRecord(**jsontext.loads(stored.content or "{}"))


def all_conflicts(session: Session) -> list[ConflictRecord]:
    """Every conflict, open or resolved, oldest first. Conflicts are few; they are read whole."""
    found: list[ConflictRecord] = []
    after: str | None = None
    while True:
        page = session.search(CONFLICT, Match(), after_key=after, limit=500)
        found += [load(stored) for stored in page if stored.content is not None]
        if len(page) < 500:
            return sorted(found, key=lambda c: (c.detected_at, c.id))
        after = f"{page[-1].res_type}/{page[-1].res_id}"


def open_conflicts(session: Session, *, res_type: str | None = None, res_id: str | None = None) -> list[ConflictRecord]:
    """The open conflicts (on one resource), oldest first."""
    return [
        c
        for c in all_conflicts(session)
        if c.status == "open" and (res_type is None or (c.res_type, c.res_id) == (res_type, res_id))
    ]


def flagged(resource: dict[str, Any]) -> dict[str, Any]:
    """The resource with the conflict tag added."""
    meta = dict(resource.get("meta") or {})
    tags = [t for t in meta.get("tag", []) if not _is_tag(t)]
    meta["tag"] = [*tags, TAG]
    return {**resource, "meta": meta}


def unflagged(resource: dict[str, Any]) -> dict[str, Any]:
    meta = dict(resource.get("meta") or {})
    tags = [t for t in meta.get("tag", []) if not _is_tag(t)]
    if tags:
        meta["tag"] = tags
    else:
        meta.pop("tag", None)
    return {**resource, "meta": meta}


def _is_tag(tag: Any) -> bool:
    return isinstance(tag, dict) and tag.get("system") == TAG_SYSTEM and tag.get("code") == "conflict"
