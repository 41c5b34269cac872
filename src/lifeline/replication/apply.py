"""A site writes what the centre's feed brings into its replica (issue 7).

A page of the feed is applied in one transaction together with the new position, so a site that
dies half-way resumes exactly where it stopped: nothing is applied twice or skipped. The centre's
versions keep their numbers and the node they were made at; they replace the site's own versions
of the same numbers (those went to the centre through the outbox, and the centre's word is final)
and never enter the site's outbox themselves.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lifeline import jsontext
from lifeline.fhir import writes
from lifeline.search.extract import extract_index
from lifeline.storage.records import PendingVersion, StoredVersion
from lifeline.storage.write_session import IndexRows, WriteSession, index_rows

if TYPE_CHECKING:
    from lifeline.fhir.service import FhirService

POSITION = "replication.position"


class ContentNeeded(Exception):
    """A lean feed page (replication/feed.py) left out the content of a change this site does not
    hold as the centre does: the page must be fetched again, whole."""


def position(service: FhirService) -> int:
    """The last change number of the centre that this site has applied."""
    with service.repo.reading() as session:
        value = session.state(POSITION, 0)
    return 0 if value is None else int(jsontext.loads(value))


def apply_changes(service: FhirService, changes: list[dict[str, Any]], up_to: int | None) -> set[str]:
    """Apply a feed page and move the position to `up_to` (None: a back-fill, which leaves it);
    returns the patients the applied resources refer to."""
    registry = service.registry
    patients: set[str] = set()

    def work(session: WriteSession) -> set[str]:
        session.writes_outbox = False  # the centre's changes are not this site's to send back
        keys = [(c["type"], c["id"]) for c in changes]
        held = session.read_many_for_update(keys)
        newest = {key: stored.version_id for key, stored in held.items()}
        for change in changes:
            key = (change["type"], change["id"])
            if _restamped_here(held.get(key), change, session.node_id):
                continue  # this site's own change, already stamped as the centre stamped it
            if change.get("lean"):
                raise ContentNeeded(f"{key[0]}/{key[1]} version {change['version']}")
            content = change["content"]
            is_current = change["version"] >= newest.get(key, 0)
            rows: IndexRows = []
            reindex = is_current and content is not None and not key[0].startswith("_")
            if reindex and _as_held(held.get(key), change):
                reindex = False  # this site's own change coming back: its index rows stand
            if reindex:
                index = extract_index(content, registry)
                rows = index_rows(key, index)
                patients.update(r.target_id for r in index.references if r.target_type == "Patient" and r.target_id)
            version = PendingVersion(
                key[0],
                key[1],
                change["version"],
                change["lastUpdated"],
                bool(change["deleted"]),
                None if content is None else jsontext.dumps(content).decode(),
                change["method"] or "PUT",
                change["node"],
            )
            session.put_replicated(version, rows, current=is_current, reindex=reindex or content is None)
            if is_current:
                newest[key] = change["version"]
        if up_to is not None:
            session.put_state(POSITION, str(up_to), None)
        return patients

    referred, _ = service.repo.write(work)
    return referred


def missing_patients(service: FhirService, patients: set[str]) -> list[str]:
    """The patients this site does not hold (a hospital-scoped site back-fills them)."""
    if not patients:
        return []
    with service.repo.reading() as session:
        held = {v.res_id for v in session.read_many([("Patient", p) for p in sorted(patients)])}
    return sorted(patients - held)


def unstamped(resource: dict[str, Any]) -> dict[str, Any]:
    """The resource without what the server stamps on each version (its number and time)."""
    meta = {k: v for k, v in (resource.get("meta") or {}).items() if k not in ("versionId", "lastUpdated")}
    return {**resource, "meta": meta} if meta else {k: v for k, v in resource.items() if k != "meta"}


def restamped(
    res_type: str, res_id: str, version: int, stamp: str, content: str | None
) -> tuple[str, str, int, str, str | None]:
    """A site's own version as the centre stored it: the centre's time in its lastUpdated
    (`WriteSession.restamp` row). The centre stamps the site's content with `writes.stamp`, so
    this is the centre's copy, key for key."""
    if content is None:
        return res_type, res_id, version, stamp, None
    resource = writes.stamp(jsontext.loads(content), res_id, version, stamp)
    return res_type, res_id, version, stamp, jsontext.dumps(resource).decode()


def _restamped_here(held: StoredVersion | None, change: dict[str, Any], node_id: str) -> bool:
    """Whether the current version held is this change, made here and restamped from the
    centre's answer to the push (`restamped`): nothing to apply."""
    return (
        held is not None
        and change["node"] == node_id
        and held.version_id == change["version"]
        and held.last_updated == change["lastUpdated"]
        and held.deleted == bool(change["deleted"])
    )


def _as_held(held: StoredVersion | None, change: dict[str, Any]) -> bool:
    """Whether the site already holds this version's content (its own write, which the centre
    took and numbered the same): then only the stamps differ, and its search index is right."""
    if held is None or held.deleted or held.version_id != change["version"] or not held.content:
        return False
    return unstamped(jsontext.loads(held.content)) == unstamped(change["content"])
