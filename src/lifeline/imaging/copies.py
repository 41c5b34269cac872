"""A site's copies of its patients' recent studies, in its own small PACS (issue 22, "At a cut-off
hospital").

A hospital cut off from the centre is cut off from the region's PACS too; the studies its
clinicians will want are those of the patients in its care now. So a site node keeps copies of
the studies started in the last LIFELINE_IMAGE_CACHE_DAYS days of every patient with a current
stay (an Encounter in progress) or an appointment in the next LIFELINE_IMAGE_CACHE_AHEAD_DAYS
days, in its own Orthanc (LIFELINE_SITE_PACS_URL), which the image proxy asks first
(imaging/stores.py). The record says which studies: the selection is read through the core as
the site node itself (`site:<node id>`, read and search only), so each round's reads are on the
audit trail like any access.

One round, every `IMAGE_COPY_SECONDS` in a background thread started with the node (or once, by
`lifeline images copy`): for each wanted study, the newest first, that the site's PACS holds
fewer instances of than the ImagingStudy lists, the study is retrieved whole from the region's
PACS (WADO-RS) and stored in one STOW-RS request. A study is counted as copied only when the
site's PACS then holds all of it; anything less is looked at again next round. A round does at
most `STUDIES_A_ROUND` studies or `MEGABYTES_A_ROUND` MB, so a site that comes up empty catches
up over a few rounds without crowding its line. A PACS that does not answer ends the round
quietly, said once in the log (a cut-off site says so every minute otherwise).

Copies that are no longer wanted are kept: the site's PACS is small, but a study's few hundred
MB are cheap next to a clinician who cannot see it; clearing them is the PACS operator's
(Orthanc's own `MaximumStorageSize` recycles the oldest).

What each round did is published on the process's telemetry (for /metrics, and read back by the
site's /status.json: replication/status.py), since imaging and replication never import each
other.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

from prometheus_client import Counter, Gauge

from lifeline.clock import COPENHAGEN, fhir_instant
from lifeline.config import Settings
from lifeline.errors import NotFound
from lifeline.fhir.acting import Acting
from lifeline.fhir.found import searched
from lifeline.fhir.service import FhirService
from lifeline.identity.principal import site_reader
from lifeline.imaging.access import study_uid
from lifeline.imaging.pacs import Pacs, PacsDown, PacsRefused
from lifeline.telemetry import TELEMETRY

log = logging.getLogger("lifeline.imaging")

IMAGE_COPY_SECONDS = 60.0  # between rounds
STUDIES_A_ROUND = 20  # studies copied (or tried) in one round at most, the newest first
MEGABYTES_A_ROUND = 1000  # and about this much image data, the study that passes it included
BULK_SECONDS = 60.0  # a whole study's answer may take this long between two reads
CLIENT = "lifeline-image-copies"
PAGE = 1000  # matches a search page
PAGES = 100  # pages of one search at most
PATIENTS_A_SEARCH = 100  # patients named in one ImagingStudy search
# An appointment that still brings the patient in (R4 appointmentstatus).
COMING = "pending,booked,arrived,checked-in"
FIGURES = ("wanted", "held", "copied", "failed", "left", "missing", "megabytes")

ROUND_FIGURES = Gauge(
    "lifeline_image_copies_round",
    "A site's last round of image copies: studies wanted, held whole here, copied, failed, left for"
    " the next round, missing from the region's PACS, and MB copied",
    ["node", "figure"],
    registry=TELEMETRY,
)
STUDIES = Counter(
    "lifeline_image_copies_studies",
    "Studies a site copied from the region's PACS into its own, or failed to, since it started",
    ["node", "outcome"],
    registry=TELEMETRY,
)
LAST_ROUND = Gauge(
    "lifeline_image_copies_last_round_timestamp_seconds",
    "When a site's last round of image copies ended (seconds since 1970)",
    ["node"],
    registry=TELEMETRY,
)
REGION_REACHED = Gauge(
    "lifeline_image_copies_region_reached",
    "1 if the region's PACS answered a site's last round of image copies",
    ["node"],
    registry=TELEMETRY,
)


@dataclass(frozen=True)
class Wanted:
    """A study the site should hold: its ImagingStudy, and how many instances that lists."""

    uid: str
    study: str  # ImagingStudy/<id>
    patient: str  # Patient/<id>
    started: str
    instances: int | None  # numberOfInstances (or the series' sum); None: not said

    def whole(self, held: int) -> bool:
        return held > 0 and (self.instances is None or held >= self.instances)


@dataclass
class Round:
    """What one round did."""

    at: datetime
    wanted: int = 0
    held: int = 0  # wanted studies the site's PACS holds whole after the round
    copied: list[str] = field(default_factory=list)  # Study Instance UIDs
    failed: list[str] = field(default_factory=list)
    missing: int = 0  # the region's PACS holds no more of it than the site does
    left: int = 0  # wanted, not held, left for the next round (the round's bounds)
    bytes: int = 0
    region_reached: bool | None = None  # None: not asked this round
    site_reached: bool | None = None
    error: str | None = None  # why the round ended early

    def summary(self) -> str:
        said = (
            f"{len(self.copied)} studies copied ({self.bytes / 1e6:,.1f} MB), {len(self.failed)} failed;"
            f" {self.held} of {self.wanted} wanted studies held here"
        )
        if self.left:
            said += f", {self.left} left for the next round"
        if self.missing:
            said += f", {self.missing} not in the region's PACS"
        return said + (f" ({self.error})" if self.error else "")


def wanted_studies(core: Acting, now: datetime, settings: Settings) -> list[Wanted]:
    """The recent studies of the patients in care here, the newest first, read as `core`'s person."""
    patients = patients_in_care(core, now, settings.image_cache_ahead_days)
    since = fhir_instant(now - timedelta(days=settings.image_cache_days))
    found: dict[str, Wanted] = {}
    ordered = sorted(patients)
    for start in range(0, len(ordered), PATIENTS_A_SEARCH):
        named = ",".join(f"Patient/{p}" for p in ordered[start : start + PATIENTS_A_SEARCH])
        params = [("patient", named), ("started", f"ge{since}"), ("status", "available")]
        for resource in _every(core, "ImagingStudy", params):
            uid = study_uid(resource)
            if uid is not None:
                found[uid] = Wanted(
                    uid,
                    f"ImagingStudy/{resource.get('id')}",
                    str((resource.get("subject") or {}).get("reference") or ""),
                    str(resource.get("started") or ""),
                    _instances(resource),
                )
    return sorted(found.values(), key=lambda w: w.started, reverse=True)


def patients_in_care(core: Acting, now: datetime, ahead_days: int) -> set[str]:
    """Patient ids with a current stay, or an appointment from today (Danish time) until
    `ahead_days` from now."""
    patients: set[str] = set()
    for stay in _every(core, "Encounter", [("status", "in-progress"), ("_elements", "subject")]):
        _add(patients, (stay.get("subject") or {}).get("reference"))
    today = datetime.combine(now.astimezone(COPENHAGEN).date(), time(), COPENHAGEN)
    window = [("date", f"ge{today.isoformat()}"), ("date", f"le{fhir_instant(now + timedelta(days=ahead_days))}")]
    for visit in _every(core, "Appointment", [*window, ("status", COMING), ("_elements", "participant")]):
        for participant in visit.get("participant") or []:
            _add(patients, (participant.get("actor") or {}).get("reference"))
    return patients


def _add(patients: set[str], reference: object) -> None:
    if isinstance(reference, str) and reference.startswith("Patient/"):
        patients.add(reference.removeprefix("Patient/"))


def _every(core: Acting, res_type: str, params: list[tuple[str, str]]) -> Iterator[dict[str, Any]]:
    """Every match of a search, page after page (bounded)."""
    asked = [*params, ("_count", str(PAGE))]
    for _ in range(PAGES):
        found = searched(core, res_type, asked)
        yield from found.matches
        cursor = parse_qs(urlsplit(found.links.get("next", "")).query).get("_page")
        if not cursor:
            return
        asked = [*params, ("_count", str(PAGE)), ("_page", cursor[0])]


def _instances(resource: dict[str, Any]) -> int | None:
    said = resource.get("numberOfInstances")
    if isinstance(said, int) and said > 0:
        return said
    listed = [s.get("numberOfInstances") for s in resource.get("series") or [] if isinstance(s, dict)]
    counts = [n for n in listed if isinstance(n, int)]
    return (sum(counts) or None) if listed and len(counts) == len(listed) else None


def _size(dataset: Any) -> int:
    pixels = dataset.get("PixelData", None)  # by keyword: the value itself
    return len(pixels) if isinstance(pixels, bytes) else 0


class ImageCopies:
    """A site node's copies: one round now, then one each `every_seconds`, in a thread."""

    def __init__(self, service: FhirService, settings: Settings | None = None, every_seconds: float | None = None):
        self.service = service
        self.settings = settings or service.settings
        self.every = IMAGE_COPY_SECONDS if every_seconds is None else every_seconds
        timeout = self.settings.pacs_timeout_ms / 1000
        bulk = max(timeout, BULK_SECONDS)
        # A quick question to each store first; a study's images with more patience.
        region, local = self.settings.pacs_url, self.settings.site_pacs_url
        self.region, self.region_bulk = Pacs(region, timeout), Pacs(region, bulk)
        self.local, self.local_bulk = Pacs(local, timeout), Pacs(local, bulk)
        self.node = str(self.settings.node_id)
        self.last: Round | None = None
        self.rounds = 0
        self._down: set[str] = set()  # the stores whose silence is already in the log
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @classmethod
    def for_node(cls, service: FhirService) -> ImageCopies | None:
        """The copies of a site node with its own PACS and the region's; None elsewhere."""
        settings = service.settings
        if settings.role != "site" or not settings.site_pacs_url or not settings.pacs_url:
            return None
        return cls(service)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="lifeline-image-copies", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()  # a round in progress ends after its current study
        if self._thread is not None:
            self._thread.join()

    def copy_once(self, core: Acting | None = None) -> Round:
        """One round, reading as `core`'s person (the site node itself unless told)."""
        core = core or self.service.as_user(site_reader(self.node, CLIENT), None, "HOPERAT")
        done = Round(self.service.clock())
        wanted = wanted_studies(core, done.at, self.settings)
        done.wanted = len(wanted)
        for study in wanted:
            if self._stop.is_set() or done.site_reached is False:
                done.left += 1
                continue
            try:
                here = self.local.holds(study.uid)
            except PacsDown as down:
                done.site_reached, done.error = False, self._silent(self.local, down)
                done.left += 1
                continue
            self._reached(self.local)
            if study.whole(here):
                done.held += 1
            elif done.region_reached is False or self._bounded(done):
                done.left += 1  # what the site holds is still counted, the rest waits
            else:
                self._copy(study, here, done)
        self._publish(done)
        self.last = done
        return done

    def _bounded(self, done: Round) -> bool:
        return len(done.copied) + len(done.failed) >= STUDIES_A_ROUND or done.bytes >= MEGABYTES_A_ROUND * 1e6

    def _copy(self, study: Wanted, here: int, done: Round) -> None:
        """The study from the region's PACS into the site's, in one request; nothing half-stored
        counts (the next round looks again)."""
        try:
            there = self.region.holds(study.uid)
            self._reached(self.region)
            done.region_reached = True
            if there <= here:
                done.missing += 1  # nothing more to be had there
                return
            datasets = list(self.region_bulk.retrieve(study.uid))
        except PacsDown as down:
            done.region_reached = False
            done.error = self._silent(self.region, down)
            done.left += 1
            return
        except NotFound:
            done.missing += 1
            return
        try:
            self.local_bulk.store(datasets)
            stored = self.local.holds(study.uid)
        except PacsDown as down:
            done.site_reached, done.error = False, self._silent(self.local, down)
            done.failed.append(study.uid)
            return
        except PacsRefused as refused:
            log.warning("the site's PACS refused study %s (%s): %s", study.uid, study.study, refused.message)
            done.failed.append(study.uid)
            return
        if stored >= len(datasets) and study.whole(stored):
            done.copied.append(study.uid)
            done.held += 1
            done.bytes += sum(_size(ds) for ds in datasets)
        else:
            log.warning("study %s (%s): the site's PACS holds %d of %d instances", study.uid, study.study, stored,
                        len(datasets))  # fmt: skip
            done.failed.append(study.uid)

    def _silent(self, pacs: Pacs, down: PacsDown) -> str:
        """Say once that a store does not answer; the round ends quietly."""
        which = "the site's PACS" if pacs is self.local else "the region's PACS"
        if pacs.base not in self._down:
            self._down.add(pacs.base)
            log.warning("image copies wait: %s (%s) does not answer; trying again next round", which, pacs.name)
        return f"{which} did not answer"

    def _reached(self, pacs: Pacs) -> None:
        if pacs.base in self._down:
            self._down.discard(pacs.base)
            log.info("image copies go on: %s answers again", pacs.name)

    def _publish(self, done: Round) -> None:
        figures = {
            "wanted": done.wanted,
            "held": done.held,
            "copied": len(done.copied),
            "failed": len(done.failed),
            "left": done.left,
            "missing": done.missing,
            "megabytes": round(done.bytes / 1e6, 1),
        }
        for figure, value in figures.items():
            ROUND_FIGURES.labels(self.node, figure).set(value)
        STUDIES.labels(self.node, "copied").inc(len(done.copied))
        STUDIES.labels(self.node, "failed").inc(len(done.failed))
        LAST_ROUND.labels(self.node).set(done.at.timestamp())
        if done.region_reached is not None:
            REGION_REACHED.labels(self.node).set(1.0 if done.region_reached else 0.0)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                done = self.copy_once()
                if done.copied or done.failed:
                    log.info("image copies: %s", done.summary())
            except Exception:  # noqa: BLE001 (a failed round must not stop the node)
                log.exception("image copies: the round failed")
            self.rounds += 1
            self._stop.wait(self.every)
