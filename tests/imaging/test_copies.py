"""A site's copies of its patients' recent studies (imaging/copies.py), against two real Orthancs
(the region's and the site's own) on both backends: which studies are wanted (a current stay, an
appointment in three days; not a study older than the cache's days, not a patient with neither),
copied whole, and not again; a copy cut short is made whole; a round's bounds; a region's PACS
that is down ends the round quietly, stores nothing, says so once, and the next round copies."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from typer.testing import CliRunner

from lifeline.audit.store import events_after
from lifeline.cli.main import app
from lifeline.clock import today
from lifeline.fhir.service import FhirService
from lifeline.imaging import copies
from lifeline.imaging.copies import ImageCopies, Round
from lifeline.imaging.orthanc import Orthanc
from lifeline.imaging.pacs import Pacs
from lifeline.replication.status import image_copies
from lifeline.storage import open_repository
from lifeline.telemetry import TELEMETRY
from tests.conftest import TEST_SETTINGS, TickingClock, database_url, dispose
from tests.pacs import as_files, ct_study, fresh_orthanc, orthanc, site_orthanc
from tests.replication.nodes import wait_until
from tests.web.pages.test_chart import put

__all__ = ["fresh_orthanc", "orthanc", "site_orthanc"]  # the fixtures, by import

NOW = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)
CPR = "2507582065"
COPIED = {"node": "herlev", "outcome": "copied"}


@pytest.fixture(scope="module")
def record(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[FhirService]:
    """A site's record of its own, so that only this module's patients are in care."""
    url = database_url(backend, tmp_path_factory.mktemp(f"copies-{backend}"))
    repo = open_repository(url)
    repo.migrate()
    service = FhirService(repo, replace(TEST_SETTINGS, db=url, node_id="herlev"), clock=TickingClock(NOW))
    yield service
    if service.__dict__.get("auditor") is not None:
        service.auditor.close()
    dispose(repo)


def copier(service: FhirService, region: str, site: str) -> ImageCopies:
    return ImageCopies(service, replace(service.settings, pacs_url=region, site_pacs_url=site))


def patient(service: FhirService, *, stay: str | None = None, visit: tuple[str, int] | None = None) -> str:
    """A patient; with an Encounter of status `stay`, and an Appointment (status, days from now)."""
    tag = uuid.uuid4().hex[:10]
    subject = {"reference": f"Patient/p-{tag}"}
    put(service, {"resourceType": "Patient", "id": f"p-{tag}", "name": [{"family": f"Copy{tag}"}]})
    if stay is not None:
        kind = {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "IMP"}
        put(service, {"resourceType": "Encounter", "id": f"e-{tag}", "status": stay, "class": kind,
                      "subject": subject, "period": {"start": (NOW - timedelta(days=2)).isoformat()}})  # fmt: skip
    if visit is not None:
        status, days = visit
        start = (NOW + timedelta(days=days)).isoformat()
        end = (NOW + timedelta(days=days, minutes=30)).isoformat()  # an appointment ends after it starts
        why = {"cancelationReason": {"text": "Aflyst af patienten"}} if status == "cancelled" else {}  # said, as asked
        put(service, {"resourceType": "Appointment", "id": f"a-{tag}", "status": status, "start": start,
                      "end": end, "participant": [{"actor": subject, "status": "accepted"}], **why})  # fmt: skip
    return f"p-{tag}"


def study(service: FhirService, region: Orthanc, who: str, days_ago: int, slices: int = 3) -> tuple[str, list[Any]]:
    """A CT study of `who`, started `days_ago`, in the region's PACS and in the record."""
    resource, made = ct_study(who, CPR, slices, (NOW - timedelta(days=days_ago)).date())
    datasets = as_files(made)
    Pacs(region.url).store(datasets)
    put(service, resource)
    return resource["identifier"][0]["value"].removeprefix("urn:oid:"), datasets


def test_the_recent_studies_of_patients_in_care_are_copied_whole_and_once(
    record: FhirService, orthanc: Orthanc, site_orthanc: Orthanc
) -> None:
    staying = patient(record, stay="in-progress")
    coming = patient(record, visit=("booked", 3))
    neither = patient(record, stay="finished", visit=("booked", 20))
    cancelled = patient(record, visit=("cancelled", 2))
    recent, _ = study(record, orthanc, staying, days_ago=5)
    cut_short, cut_datasets = study(record, orthanc, staying, days_ago=1, slices=4)
    old, _ = study(record, orthanc, staying, days_ago=40)
    soon, _ = study(record, orthanc, coming, days_ago=10)
    unwanted = [study(record, orthanc, who, days_ago=2)[0] for who in (neither, cancelled)]
    site = Pacs(site_orthanc.url)
    site.store(cut_datasets[:2])  # an earlier copy cut short: 2 of its 4 images

    done = copier(record, orthanc.url, site_orthanc.url).copy_once()
    assert done.copied == [cut_short, recent, soon]  # the newest first
    assert (done.wanted, done.held, done.failed, done.error) == (3, 3, [], None)
    assert done.bytes == (4 + 3 + 3) * 256 * 256 * 2
    assert [site.holds(uid) for uid in (recent, cut_short, soon)] == [3, 4, 3]
    assert [site.holds(uid) for uid in (old, *unwanted)] == [0, 0, 0]

    again = copier(record, orthanc.url, site_orthanc.url).copy_once()
    assert (again.copied, again.failed, again.held, again.wanted) == ([], [], 3, 3)
    assert "0 studies copied" in again.summary() and "3 of 3 wanted studies held here" in again.summary()
    # The choice was read as the site node itself, through the core: on the audit trail.
    events = [orjson.loads(row.content) for row in events_after(record.repo, "herlev", 0, 1_000_000)]
    readers = {a.get("altId") for e in events for a in e.get("agent", [])}
    assert "site:herlev" in readers


def test_a_round_is_bounded_and_the_next_goes_on(
    record: FhirService, orthanc: Orthanc, site_orthanc: Orthanc, monkeypatch: pytest.MonkeyPatch
) -> None:
    staying = patient(record, stay="in-progress")
    older, _ = study(record, orthanc, staying, days_ago=3, slices=2)
    newer, _ = study(record, orthanc, staying, days_ago=0, slices=2)
    monkeypatch.setattr(copies, "STUDIES_A_ROUND", 1)
    first = copier(record, orthanc.url, site_orthanc.url).copy_once()
    assert newer in first.copied and older not in first.copied and first.left >= 1
    second = copier(record, orthanc.url, site_orthanc.url).copy_once()
    assert second.copied == [older] and Pacs(site_orthanc.url).holds(older) == 2


def test_a_region_pacs_that_is_down_ends_the_round_quietly_and_the_next_round_copies(
    record: FhirService,
    orthanc: Orthanc,
    site_orthanc: Orthanc,
    fresh_orthanc: Orthanc,
    caplog: pytest.LogCaptureFixture,
) -> None:
    region = fresh_orthanc
    staying = patient(record, stay="in-progress")
    first, _ = study(record, region, staying, days_ago=2)
    second, _ = study(record, region, staying, days_ago=4)
    copy = copier(record, region.url, site_orthanc.url)
    copy.copy_once()  # whatever else this record wants is held from here on
    site = Pacs(site_orthanc.url)
    for uid in (first, second):  # as if they had not been copied yet
        _delete(site_orthanc, uid)
    region.stop()

    with caplog.at_level(logging.WARNING, logger="lifeline.imaging"):
        rounds = [copy.copy_once(), copy.copy_once()]
    for done in rounds:
        assert (done.copied, done.failed, done.region_reached) == ([], [], False)
        assert done.error == "the region's PACS did not answer" and done.left == 2
    assert [site.holds(uid) for uid in (first, second)] == [0, 0]  # nothing half-stored
    said = [r for r in caplog.records if "does not answer" in r.getMessage()]
    assert len(said) == 1  # once, not every round
    assert image_copies("herlev") is not None and image_copies("herlev")["regionPacsReached"] is False  # type: ignore[index]

    region.start()
    back = copy.copy_once()
    assert back.copied == [first, second] and back.region_reached is True and back.error is None
    assert [site.holds(uid) for uid in (first, second)] == [3, 3]


def test_each_round_is_on_metrics_and_the_site_status(
    record: FhirService, orthanc: Orthanc, site_orthanc: Orthanc
) -> None:
    staying = patient(record, stay="in-progress")
    study(record, orthanc, staying, days_ago=1, slices=2)
    copied_before = TELEMETRY.get_sample_value("lifeline_image_copies_studies_total", COPIED)
    done: Round = copier(record, orthanc.url, site_orthanc.url).copy_once()
    assert len(done.copied) == 1
    copied = TELEMETRY.get_sample_value("lifeline_image_copies_studies_total", COPIED)
    assert copied == (copied_before or 0) + 1
    status = image_copies("herlev")
    assert status is not None
    assert status["copied"] == 1 and status["held"] == status["wanted"] and status["failed"] == 0
    assert status["lastRound"] == done.at.strftime("%Y-%m-%dT%H:%M:%SZ") and status["regionPacsReached"] is True
    assert image_copies("nowhere") is None


def test_a_site_with_both_stores_copies_in_the_background(
    record: FhirService, orthanc: Orthanc, site_orthanc: Orthanc, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert ImageCopies.for_node(record) is None  # not a site
    site = replace(record.settings, role="site", pacs_url=orthanc.url, site_pacs_url=site_orthanc.url)
    for missing in ({"pacs_url": ""}, {"site_pacs_url": ""}):
        monkeypatch.setattr(record, "settings", replace(site, **missing))
        assert ImageCopies.for_node(record) is None
    monkeypatch.setattr(record, "settings", site)
    staying = patient(record, stay="in-progress")
    recent, _ = study(record, orthanc, staying, days_ago=1, slices=2)
    background = ImageCopies.for_node(record)
    assert background is not None
    background.every = 0.05
    background.start()
    try:
        wait_until(lambda: Pacs(site_orthanc.url).holds(recent) == 2, 20, "the copy made in the background")
    finally:
        background.stop()
    assert background.rounds >= 1


def test_lifeline_images_copy_runs_one_round_and_says_what_it_copied(
    record: FhirService, orthanc: Orthanc, site_orthanc: Orthanc
) -> None:
    env = {"LIFELINE_KEK": TEST_SETTINGS.kek, "LIFELINE_PACS_URL": orthanc.url, "LIFELINE_SITE_PACS_URL": ""}
    db = record.settings.db
    unnamed = CliRunner().invoke(app, ["images", "copy", "--db", db], env=env)
    assert unnamed.exit_code == 1 and "name both image stores: --site-pacs" in unnamed.output
    staying = patient(record, stay="in-progress")
    resource, made = ct_study(staying, CPR, 2, today() - timedelta(days=1))  # the command's clock is the real one
    Pacs(orthanc.url).store(as_files(made))
    put(record, resource)
    uid = resource["identifier"][0]["value"].removeprefix("urn:oid:")
    done = CliRunner().invoke(app, ["images", "copy", "--db", db, "--site-pacs", site_orthanc.url], env=env)
    assert done.exit_code == 0, done.output
    assert f"copied {uid}" in done.output and "studies copied" in done.output
    assert Pacs(site_orthanc.url).holds(uid) == 2


def _delete(pacs: Orthanc, uid: str) -> None:
    """Take a study out of an Orthanc (its REST API: DICOMweb has no delete)."""
    import httpx

    base = f"http://127.0.0.1:{pacs.port}"
    found = httpx.post(f"{base}/tools/lookup", content=uid, timeout=5).json()
    for item in found:
        httpx.delete(f"{base}{item['Path']}", timeout=5).raise_for_status()
