"""The centre takes a site's local changes, each exactly once (issue 7).

A site sends its outbox in order: each change names the version it was made on (its base). In
one transaction per batch the centre, for every change it has not taken before:

- applies it when the centre's current version is still that base (nobody else changed the
  resource): the normal case, and always the case for new resources (UUIDs never collide);
- takes nothing when the centre already holds the same content (the same change made twice);
- while the site is connected (`synchronous`), refuses it: the site's replica was behind, and
  the clinician is told to reload, as with any edit race (HTTP 409);
- after a cut, records a conflict: the centre keeps its version, flagged, and the site's waits on
  the reconciliation list (conflicts.py). Internal records (`_User`, `_Grant`, ...) are merged
  field by field against the version both sides started from (merge.py).

`replication_applied` remembers each (site, local_seq) with its outcome in the same transaction,
so a push cut off half-way and sent again applies nothing twice and gets the same answers.

With each outcome goes the centre's stamp when it stored the site's change exactly as sent (same
version number, same content): the time it gave the version. The site stamps its own copy with it,
and when the feed brings the change back the site already holds it, to the byte, and skips it
(apply.py): after a cut, the site's own writes are not applied a second time.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lifeline import jsontext
from lifeline.errors import BadRequest, FhirError
from lifeline.fhir import conflicts, rules, writes
from lifeline.fhir.acting import Exchanged
from lifeline.replication import merge
from lifeline.replication.apply import unstamped
from lifeline.storage.records import PendingVersion, StoredVersion
from lifeline.storage.write_session import WriteSession

if TYPE_CHECKING:
    from lifeline.fhir.service import FhirService

_STREAM = re.compile(r"^[0-9a-f]{32}$")
log = logging.getLogger("lifeline.replication")


@dataclass(frozen=True)
class Taken:
    outcome: str  # applied, same, rejected, conflict, refused
    stamp: str | None = None  # the centre's lastUpdated, when it stored the change as sent


@dataclass(frozen=True)
class SiteChange:
    local_seq: int
    res_type: str
    res_id: str
    version_id: int  # the site's number for it; its base is the one before
    deleted: bool
    method: str
    last_updated: str
    content: dict[str, Any] | None
    synchronous: bool = False  # a clinician waits for it: refuse rather than keep both

    @classmethod
    def from_json(cls, item: dict[str, Any]) -> SiteChange:
        return cls(
            int(item["localSeq"]),
            str(item["type"]),
            str(item["id"]),
            int(item["version"]),
            bool(item["deleted"]),
            str(item["method"]),
            str(item["lastUpdated"]),
            item.get("content"),
            bool(item.get("synchronous", False)),
        )


def exchange(service: FhirService, site_id: str, body: Any) -> Exchanged:
    """The replication API's outbox exchange (fhir/acting.py): `{"stream", "changes"}` taken, with
    the versions the site sent for the record (the site recorded its own writes already)."""
    items = body.get("changes") if isinstance(body, dict) else None
    stream = body.get("stream") if isinstance(body, dict) else None
    if not isinstance(items, list) or not isinstance(stream, str):
        raise BadRequest('The body must be {"stream": "...", "changes": [...]}')
    try:
        changes = [SiteChange.from_json(item) for item in items]
    except (KeyError, TypeError, ValueError) as error:
        raise BadRequest(f"A change is malformed: {error}") from None
    taken = take_changes(service, site_id, stream, changes)
    return Exchanged(
        jsontext.dumps({"outcomes": [t.outcome for t in taken], "stamps": [t.stamp for t in taken]}),
        resources=[
            f"{c.res_type}/{c.res_id}/_history/{c.version_id}" for c in changes if not c.res_type.startswith("_")
        ],
        query=f"site={site_id}&stream={stream}&changes={len(changes)}",
        quiet=not changes,
    )


def take_changes(service: FhirService, site_id: str, stream: str, changes: list[SiteChange]) -> list[Taken]:
    """Take a batch in one transaction; the outcome of each (applied, same, rejected, conflict).
    `stream` names the site's outbox series (its database's incarnation)."""
    if not _STREAM.match(stream):
        raise BadRequest(f"A site's outbox stream is 32 hexadecimal digits, not {stream!r}")
    series = f"{site_id}/{stream}"
    try:
        outcomes, _ = service.repo.write(lambda session: _take_all(service, session, site_id, series, changes))
        return outcomes
    except Exception:  # noqa: BLE001 - one bad change must not stop the rest: take them one by one
        if len(changes) == 1:
            log.exception("a change from site %s could not be applied; it waits on the reconciliation list", site_id)
            return [_set_aside(service, site_id, series, changes[0])]
    return [take_changes(service, site_id, stream, [change])[0] for change in changes]


def _set_aside(service: FhirService, site_id: str, series: str, change: SiteChange) -> Taken:
    """A change the centre cannot apply is still never lost: it is kept as a conflict for a
    clinician to look at, and the site's push goes on."""

    def work(session: WriteSession) -> str:
        done = session.applied_outcome(series, change.local_seq)
        if done is not None:
            return done
        current = session.read(change.res_type, change.res_id)
        instant = writes.now(service)
        _record_conflict(session, site_id, series, change, current.version_id if current else 0, instant)
        session.mark_applied(series, change.local_seq, "refused")
        return "refused"

    outcome, _ = service.repo.write(work)
    return Taken(outcome)


def _take_all(
    service: FhirService, session: WriteSession, site_id: str, series: str, changes: list[SiteChange]
) -> list[Taken]:
    """The batch in a few queries: what was taken before, and every current row it touches,
    each read once (and locked); outcomes are written with the COMMIT."""
    done = session.applied_outcomes(series, [c.local_seq for c in changes])
    current = session.read_many_for_update([(c.res_type, c.res_id) for c in changes if c.local_seq not in done])
    outcomes: list[Taken] = []
    taken: list[tuple[str, int, str]] = []
    for change in changes:
        if change.local_seq in done:
            outcomes.append(Taken(done[change.local_seq]))  # no stamp: the site's copy stays as it is
            continue
        key = (change.res_type, change.res_id)
        outcome, now_current = _decide(service, session, site_id, series, change, current.get(key))
        if now_current is not None:
            current[key] = now_current  # a later change of the batch to the same resource sees it
        outcomes.append(Taken(outcome, _stamp_of(change, outcome, now_current)))
        if outcome != "rejected":  # a refusal is not final: unanswered, the site sends it again
            done[change.local_seq] = outcome
            taken.append((series, change.local_seq, outcome))
    session.mark_applied_many(taken)
    return outcomes


def _decide(
    service: FhirService,
    session: WriteSession,
    site_id: str,
    series: str,
    change: SiteChange,
    current: StoredVersion | None,
) -> tuple[str, StoredVersion | None]:
    """The outcome, and the resource's current version after it (None: unchanged)."""
    have = current.version_id if current is not None else 0
    instant = writes.now(service)
    broken = _breaks_a_rule(service, session, change, current)
    if have == change.version_id - 1 and not broken:
        return "applied", _write(service, session, site_id, change, change.content, current, instant)
    if _same(current, change.content):
        return "same", None
    if change.synchronous:
        return "rejected", None
    if change.res_type.startswith("_"):
        content = change.content
        if content is not None and current is not None and not current.deleted and current.content:
            before = session.vread(change.res_type, change.res_id, change.version_id - 1)
            base = jsontext.loads(before.content) if before is not None and before.content else None
            content = merge.merge_record(change.res_type, base, jsontext.loads(current.content), content)
        return "applied", _write(service, session, site_id, change, content, current, instant)
    _record_conflict(session, site_id, series, change, have, instant)
    if current is None or current.deleted or not current.content:
        return "conflict", None
    flagged = conflicts.flagged(jsontext.loads(current.content))
    stamped, version = writes.store(
        service, session, change.res_type, change.res_id, flagged, previous=current, method="PUT", instant=instant
    )
    return "conflict", _stored(change, version, instant, stamped)


def _breaks_a_rule(
    service: FhirService, session: WriteSession, change: SiteChange, current: StoredVersion | None
) -> bool:
    """Whether the site's change breaks one of the record's logistics rules here (fhir/rules): a
    slot booked at a cut-off site that the centre booked for someone else meanwhile, a bed taken
    twice. Such a change is never applied beside the other: it is refused while a clinician waits
    and, after a cut, kept as a conflict for a person to settle (never two patients in one slot)."""
    if change.deleted or change.content is None or not rules.applies(change.res_type):
        return False
    # Judged at the time it was made at the site: a booking made during the cut for that day is no
    # booking "in the past" when it reaches the centre the next morning.
    made = change.last_updated
    written = rules.Written(service, session, change.res_type, change.res_id, change.content, current, made)
    try:
        rules.check(written)
    except FhirError as refusal:
        log.warning("a change to %s/%s from a site breaks a rule here: %s", change.res_type, change.res_id, refusal)
        return True
    return False


def _record_conflict(
    session: WriteSession, site_id: str, series: str, change: SiteChange, have: int, instant: str
) -> None:
    conflict = conflicts.ConflictRecord(
        conflicts.conflict_id(series, change.local_seq),
        change.res_type,
        change.res_id,
        site_id,
        change.local_seq,
        instant,
        have,
        change.version_id - 1,
        change.content,
    )
    conflicts.put_conflict(session, conflict, instant, previous=None)


def _write(
    service: FhirService,
    session: WriteSession,
    site_id: str,
    change: SiteChange,
    content: dict[str, Any] | None,
    current: StoredVersion | None,
    instant: str,
) -> StoredVersion:
    if change.res_type.startswith("_"):
        # Internal records are stored as they are, with no index (identity/records.py).
        version = (current.version_id if current else 0) + 1
        text = None if content is None else jsontext.dumps(content).decode()
        pending = PendingVersion(
            change.res_type, change.res_id, version, instant, content is None, text, "PUT", site_id
        )
        session.put(pending, None, replaces=False)
        return _stored(change, version, instant, content)
    resource = None if change.deleted else content
    stamped, version = writes.store(
        service,
        session,
        change.res_type,
        change.res_id,
        resource,
        previous=current,
        method=change.method,
        instant=instant,
        node_id=site_id,
    )
    return _stored(change, version, instant, stamped)


def _stored(change: SiteChange, version: int, instant: str, content: dict[str, Any] | None) -> StoredVersion:
    text = None if content is None else jsontext.dumps(content).decode()
    return StoredVersion(change.res_type, change.res_id, version, instant, content is None, text)


def _stamp_of(change: SiteChange, outcome: str, stored: StoredVersion | None) -> str | None:
    """The centre's time for the change when it stored it as the site sent it: applied at the
    site's version number, not merged (internal records may be), the content unchanged."""
    if outcome != "applied" or stored is None or change.res_type.startswith("_"):
        return None
    if stored.version_id != change.version_id or stored.deleted != (change.deleted or change.content is None):
        return None
    return stored.last_updated


def _same(current: StoredVersion | None, content: dict[str, Any] | None) -> bool:
    if current is None:
        return False
    if current.deleted or content is None:
        return current.deleted and content is None
    return unstamped(conflicts.unflagged(jsontext.loads(current.content or "{}"))) == unstamped(
        conflicts.unflagged(content)
    )
