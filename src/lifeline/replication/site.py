"""A hospital's site node: a replica of the region's record that keeps working when the centre,
the network or the login service fails (issue 7).

Every read is answered from the site's own store. Every write is made locally first, in one
transaction with its outbox row (storage/write_session.py), and then:

- **connected**: the API waits while the outbox is pushed to the centre, and answers once the
  centre has committed the change (write-through). If the centre took it, nothing more happens; if
  the site's replica was behind and the centre had a newer version, the clinician gets a 409 and
  the replica is brought up to date at once.
- **continuity**: the centre is unreachable (a failed push, or `continuity_after_failures` failed
  polls in a row). The site switches by itself, answers the write from its local commit, and
  keeps reading, writing, logging in and auditing on its own. Nothing waits on the centre.
- **healing**: the centre answers again. The site pushes its outbox in order (the centre takes each
  change exactly once and lists conflicts), catches up on the centre's feed, and only then returns
  to connected. Its audit chain is copied to the centre after each round that found the feed
  caught up.

One background thread runs the loop: push the outbox, pull the feed, copy the audit chain.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

from lifeline import telemetry
from lifeline.clock import EpochClock, epoch_clock
from lifeline.identity.sites import get_site
from lifeline.identity.state import NodeState
from lifeline.replication import apply, audit_merge
from lifeline.replication.central_client import CentralClient, CentralRefused, CentralUnreachable

if TYPE_CHECKING:
    from lifeline.fhir.service import FhirService
    from lifeline.storage.write_session import WriteSession

log = logging.getLogger("lifeline.replication")

CONNECTED, CONTINUITY, HEALING = "connected", "continuity", "healing"
_PUSH_BATCH = 1000
_PUSH_LANES = 2  # the centre runs several API processes: a healing site keeps two of them busy
_PULL_PAGE = 1000
_PAGES_PER_ROUND = 50  # then the outbox gets its turn again
_AUDIT_BATCH = 1000
_STREAM = "replication.stream"
_BACK_FILLS_PER_ROUND = 200


@dataclass
class WriteOutcome:
    """What became of a request's writes: committed at the centre, queued for later, or refused
    because the centre held a newer version (answered 409)."""

    state: str  # committed | queued | rejected
    rejected: list[str]


class SiteNode:
    def __init__(
        self,
        service: FhirService,
        client: CentralClient,
        *,
        poll_seconds: float = 0.25,
        failures_to_continuity: int = 3,
        clock: EpochClock = epoch_clock,
    ) -> None:
        self.service = service
        self.repo = service.repo
        self.client = client
        self.site_id = service.settings.node_id
        self.poll_seconds = poll_seconds
        self.failures_to_continuity = failures_to_continuity
        self.clock = clock
        self.repo.keeps_outbox = True
        self.stream = _stream(service, clock())
        self.mode = HEALING if self._outbox_size() else CONNECTED
        self.mode_since = clock()
        self.continuity_since: float | None = None
        self.central_last_reached: float | None = None
        self.last_error: str | None = None
        self.failures = 0
        self.position = apply.position(service)
        self.head = self.position
        self.caught_up_at: float | None = None
        self.newest_applied: str | None = None
        self._push_lock = threading.Lock()
        self._waiting: set[str] = set()
        self._waiting_lock = threading.Lock()
        self._lanes = ThreadPoolExecutor(max_workers=_PUSH_LANES, thread_name_prefix=f"lifeline-push-{self.site_id}")
        self._outcomes: dict[str, list[str]] = {}
        self._scope: str | None = None
        self._referred: set[str] = set()  # patients the applied changes named (hospital scope)
        self._last_page_full = True  # a site starting up may be far behind
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    # The loop.
    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name=f"lifeline-site-{self.site_id}", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 10) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        self._lanes.shutdown(wait=True)
        self.client.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            with telemetry.correlated():  # one request id for the round's calls to the centre
                self.sync_once()
            self._wake.wait(self.poll_seconds)
            self._wake.clear()

    def sync_once(self) -> None:
        """One round: push the outbox, pull the feed, copy the audit chain."""
        try:
            with self._push_lock:
                self._push_outbox()
            # Pull even with writes still arriving (they are pushed on the next round): a site
            # healing under load must not wait for an empty outbox that never comes. A pending
            # change the feed overtakes is still sent, and kept as a conflict if it must be.
            if self.mode != CONTINUITY:
                self._pull()
            # The audit chain's copy waits while the feed is behind (a site healing after a long
            # cut): the records are durable here, and the clinical record comes first.
            if self.position >= self.head:
                self._copy_audit()
            self._reached()
        except CentralUnreachable as error:
            self._failed(str(error))
        except CentralRefused as error:
            self._failed(str(error), at_once=True)
        except Exception as error:  # noqa: BLE001 - the loop must outlive any one failure
            log.exception("replication round failed")
            self.last_error = f"{type(error).__name__}: {error}"

    # Writes made at this site.
    def begin_write(self) -> str:
        """A tag for a request that may write: its outbox rows carry it, and while the request
        waits, every push sends them as synchronous (refused, not kept as a conflict, if the
        centre has a newer version: the clinician is there to be told)."""
        tag = uuid.uuid4().hex
        with self._waiting_lock:
            self._waiting.add(tag)
        return tag

    def write_through(self, tag: str) -> WriteOutcome:
        """After a request's local commit: wait for the centre to take its changes (connected),
        or leave them queued (continuity, healing: never waiting behind a replay). A change the
        centre refused after its request stopped waiting is sent again as an ordinary one, and
        kept as a conflict if it must be (`_push_lane`): nothing the client was told is lost."""
        if self.mode == CONNECTED:
            with self._push_lock:
                try:
                    self._push_outbox()
                except (CentralUnreachable, CentralRefused) as error:
                    self._failed(str(error), at_once=True)
        with self._waiting_lock:
            self._waiting.discard(tag)
            outcomes = self._outcomes.pop(tag, None)
        if outcomes is None:
            return WriteOutcome("queued", [])
        rejected = [o for o in outcomes if o.startswith("rejected")]
        if rejected:
            self._pull_quietly()  # show the centre's newer version at once
            return WriteOutcome("rejected", rejected)
        return WriteOutcome("committed", [])

    def _push_outbox(self) -> None:
        """Send the outbox until it is empty (the caller holds the push lock). A long outbox (a
        site healing) goes in lanes, pushed at once: each resource always in the same lane, so
        its changes still reach the centre in the order they were made."""
        while True:
            with self.repo.reading() as session:
                rows = session.outbox_rows(_PUSH_BATCH * _PUSH_LANES)
            if not rows:
                return
            with self._waiting_lock:
                waiting = set(self._waiting)
            lanes: list[list[Any]] = [[] for _ in range(_PUSH_LANES)]
            for row in rows:
                lanes[zlib.crc32(f"{row[2]}/{row[3]}".encode()) % _PUSH_LANES].append(row)
            lanes = [lane for lane in lanes if lane]
            if len(lanes) == 1:
                results = [self._push_lane(lanes[0], waiting)]
            else:
                results = list(self._lanes.map(self._push_lane, lanes, [waiting] * len(lanes)))
            failure = next((r for r in results if isinstance(r, Exception)), None)
            if failure is not None:
                raise failure
            self._reached()
            if len(rows) < _PUSH_BATCH * _PUSH_LANES:
                return

    def _push_lane(self, rows: list[Any], waiting: set[str]) -> Exception | None:
        """Push one lane and forget what the centre answered for; the error, if it failed."""
        try:
            changes = [_outbox_change(row, row[1] in waiting) for row in rows]
            outcomes = self.client.push(self.stream, changes)
            if len(outcomes) != len(rows):
                raise CentralUnreachable("the centre answered for a different number of changes")
        except (CentralUnreachable, CentralRefused) as error:
            return error
        answered: list[tuple[Any, str | None]] = []
        with self._waiting_lock:
            for row, (outcome, stamp) in zip(rows, outcomes, strict=True):
                tag = row[1]
                if tag in self._waiting:
                    self._outcomes.setdefault(tag, []).append(f"{outcome} {row[2]}/{row[3]}")
                elif outcome == "rejected":
                    continue  # its request was answered meanwhile: stays, to go again as an ordinary change
                answered.append((row, stamp))
        # Outside the lock that writes at this site take too: stamping parses every content.
        seqs = [int(row[0]) for row, _ in answered]
        stamped = [
            apply.restamped(row[2], row[3], int(row[4]), stamp, row[8]) for row, stamp in answered if stamp is not None
        ]

        def drop(session: WriteSession) -> None:
            session.drop_outbox(seqs)
            session.restamp(stamped)  # the centre's time on this site's copies (replication/apply.py)

        self.repo.write(drop)
        return None

    # The feed.
    def _pull(self) -> None:
        for _ in range(_PAGES_PER_ROUND):
            # Catching up (healing, or the last page was full): a big page may take longer than a
            # probe may, and timing out on it would only send the site back to continuity.
            bulk = self.mode == HEALING or self._last_page_full
            page = self.client.changes(self.position, _PULL_PAGE, bulk=bulk, lean=True)
            try:
                referred = self._apply_page(page)
            except apply.ContentNeeded:  # one of this site's own changes it does not hold as sent
                page = self.client.changes(self.position, _PULL_PAGE, bulk=bulk)
                referred = self._apply_page(page)
            self.head = int(page["head"])
            changes = page["changes"]
            up_to = int(page["last"])
            self._last_page_full = up_to - self.position >= _PULL_PAGE
            if up_to > self.position:
                self.position = up_to
                if changes:
                    self.newest_applied = changes[-1]["lastUpdated"]
                if self._hospital_scoped():
                    self._referred |= referred
            if self.position >= self.head:
                self._back_fill()
                self.caught_up_at = self.clock()
                if self.mode == HEALING:
                    self._set_mode(CONNECTED)
                return

    def _apply_page(self, page: dict[str, Any]) -> set[str]:
        """Apply a feed page and move the position with it; the patients it refers to."""
        if int(page["last"]) <= self.position:
            return set()
        return apply.apply_changes(self.service, page["changes"], int(page["last"]))

    def _hospital_scoped(self) -> bool:
        """Whether this site holds only its hospital's patients (its `_Site` record says)."""
        if self._scope is None:
            site = get_site(self.repo, self.site_id)
            if site is None:
                return False  # not replicated yet: ask again on the next page
            self._scope = site.scope
        return self._scope == "hospital"

    def _back_fill(self) -> None:
        """Patients new to a hospital-scoped site (a first admission there): their whole record
        as it is now; later changes come with the feed. Only once caught up, when a patient still
        missing is truly missing (while catching up, their Patient may be further on)."""
        if not self._referred:
            return
        missing = apply.missing_patients(self.service, self._referred)
        for patient in missing[:_BACK_FILLS_PER_ROUND]:
            try:
                changes = self.client.compartment(patient)["changes"]
            except CentralRefused:
                continue  # not this hospital's patient (a reference from a shared resource)
            if changes:
                apply.apply_changes(self.service, changes, None)
        self._referred = set(missing[_BACK_FILLS_PER_ROUND:])

    def _pull_quietly(self) -> None:
        try:
            self._pull()
        except (CentralUnreachable, CentralRefused) as error:
            self._failed(str(error))

    def _copy_audit(self) -> None:
        head = self.client.audit_head()
        while True:
            rows = audit_merge.records_after(self.repo, self.site_id, head, _AUDIT_BATCH)
            if not rows:
                return
            head = self.client.push_audit(rows)
            if len(rows) < _AUDIT_BATCH:
                return

    # Modes.
    def _reached(self) -> None:
        self.central_last_reached = self.clock()
        self.failures = 0
        self.last_error = None
        if self.mode == CONTINUITY:
            log.warning("site %s: the centre answers again; healing", self.site_id)
            self._set_mode(HEALING)
            self._wake.set()

    def _failed(self, error: str, *, at_once: bool = False) -> None:
        self.failures += 1
        self.last_error = error
        if self.mode != CONTINUITY and (at_once or self.failures >= self.failures_to_continuity):
            log.warning("site %s: the centre is unreachable (%s); continuity mode", self.site_id, error)
            self._set_mode(CONTINUITY)

    def _set_mode(self, mode: str) -> None:
        if mode == CONTINUITY:
            self.continuity_since = self.clock()
        elif mode == CONNECTED:
            self.continuity_since = None
        self.mode = mode
        self.mode_since = self.clock()

    def _outbox_size(self) -> int:
        with self.repo.reading() as session:
            return session.outbox_size()

    def status(self) -> dict[str, Any]:
        now = self.clock()
        behind = self.head - self.position
        if self.caught_up_at is None:
            lag = None
        elif behind <= 0 and self.mode == CONNECTED and now - self.caught_up_at <= 4 * self.poll_seconds + 1:
            lag = 0.0
        else:
            lag = round(now - self.caught_up_at, 3)
        return {
            "mode": self.mode,
            "modeSince": _iso(self.mode_since),
            "position": self.position,
            "centralHead": self.head,
            "behind": max(behind, 0),
            "lagSeconds": lag,
            "newestReplicated": self.newest_applied,
            "pendingLocalChanges": self._outbox_size(),
            "centralLastReached": _iso(self.central_last_reached),
            "centralUnreachableSince": _iso(self.continuity_since),
            "lastError": self.last_error,
        }


def _outbox_change(row: Any, synchronous: bool) -> dict[str, Any]:
    local_seq, _tag, res_type, res_id, version_id, deleted, method, last_updated, content = row
    return {
        "localSeq": int(local_seq),
        "type": res_type,
        "id": res_id,
        "version": int(version_id),
        "deleted": bool(deleted),
        "method": method,
        "lastUpdated": last_updated,
        "content": None if content is None else orjson.Fragment(content),
        "synchronous": synchronous,
    }


def _stream(service: FhirService, now: float) -> str:
    """This site database's outbox series: made once, with the database (a site rebuilt from
    scratch numbers its outbox from 1 again, as a new series the centre has never seen)."""
    state = NodeState(service.repo)
    state.add(_STREAM, uuid.uuid4().hex, None, now)
    stream: str = state.get(_STREAM, now)
    return stream


def _iso(moment: float | None) -> str | None:
    if moment is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(moment))
