"""Issue 22, "At a cut-off hospital", in a real region: a centre (two server processes on
PostgreSQL) and a hospital's site node (SQLite) as processes, the region's Orthanc and the site's
own. A patient is admitted, with a CT from three days ago and one from two months ago in the
region's PACS and their ImagingStudies in the record. The site copies the recent study (`lifeline
images copy`); then the centre and the region's PACS stop, and a doctor logged in at the site
still sees a frame of the recent study through the site's image proxy, while the old one is said
to be not kept at this hospital. When both are back and the site has healed, the same frame
answers as before, and the old study can be seen again."""

from __future__ import annotations

import io
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
from PIL import Image

from lifeline.clock import epoch_clock, today
from lifeline.config import Settings
from lifeline.fhir.service import FhirService
from lifeline.imaging.orthanc import Orthanc
from lifeline.imaging.pacs import Pacs
from lifeline.imaging.stores import NOT_HERE
from lifeline.storage import open_repository
from tests.conftest import database_url, dispose, require_postgres
from tests.pacs import as_files, ct_study
from tests.replication.nodes import free_port, wait_until
from tests.replication.region import Node, Region, lifeline
from tests.web.pages.test_chart import Ward, admitted_patient, put
from tests.web.test_imaging_proxy import frame_path
from tests.web.test_login_pages import Staff, add_user, log_in

SLICES = 6
PNG = {"accept": "image/png"}


def the_record(region: Region, db: str, pacs: Orthanc) -> tuple[Ward, Staff, dict[str, Any], dict[str, Any]]:
    """Written at the centre before it starts: the admitted patient, their doctor's login, the
    two studies (in the record and in the region's PACS), and the centre's signing key."""
    repo = open_repository(db)
    service = FhirService(repo, Settings(db=db, kek=region.kek, issuer=region.central.url))
    try:
        ward = admitted_patient(service)
        staff = add_user(service, practitioner=ward.doctor)
        studies = []
        for days_ago in (3, 60):
            study, datasets = ct_study(ward.mine, "2507582065", SLICES, today() - timedelta(days=days_ago))
            Pacs(pacs.url).store(as_files(datasets))
            put(service, study)
            studies.append(study)
        service.identity.issue(subject="tests", client_id="tests", scopes="system/*.rs", lifetime=60)
    finally:
        if service.__dict__.get("auditor") is not None:
            service.auditor.close()
        repo.close()
    return ward, staff, studies[0], studies[1]


def uid_of(study: dict[str, Any]) -> str:
    return str(study["identifier"][0]["value"]).removeprefix("urn:oid:")


def caught_up(site: Node) -> bool:
    status = site.status()
    return status["mode"] == "connected" and status["position"] > 0 and status["behind"] == 0


def a_frame(web: httpx.Client, study: dict[str, Any]) -> httpx.Response:
    return web.get(frame_path(study, SLICES // 2), params={"window": "40,400"}, headers=PNG)


def test_a_cut_off_hospital_shows_its_copies_and_nothing_changes_after_healing(tmp_path: Path) -> None:
    require_postgres()
    region_pacs = Orthanc(tmp_path / "region-pacs", free_port())
    site_pacs = Orthanc(tmp_path / "site-pacs", free_port())
    central_db = database_url("postgresql", tmp_path)
    region = Region(tmp_path, central_db)
    region.env["LIFELINE_PACS_URL"] = region_pacs.url  # every node's region PACS, the centre's too
    try:
        region_pacs.start()
        site_pacs.start()
        lifeline("db", "upgrade", "--db", central_db, env=region.env)
        ward, staff, recent, old = the_record(region, central_db, region_pacs)
        region.central.start()
        site = region.add_site("herlev", f"sqlite:///{tmp_path / 'herlev.db'}", LIFELINE_SITE_PACS_URL=site_pacs.url)
        wait_until(lambda: caught_up(site), 60, "the site to replicate the record")

        said = lifeline("images", "copy", "--db", site.db, env={**site.env, "LIFELINE_NODE_ID": "herlev"})
        kept = Pacs(site_pacs.url)
        assert kept.holds(uid_of(recent)) == SLICES, said  # copied now, or by the site's own first rounds
        assert kept.holds(uid_of(old)) == 0, said
        assert "1 of 1 wanted studies held here" in said, said

        with httpx.Client(base_url=site.url, timeout=15, follow_redirects=False) as web:
            assert log_in(web, staff, epoch_clock).status_code == 200  # type: ignore[arg-type]
            before = a_frame(web, recent)
            assert before.status_code == 200, before.text

            region.central.stop()
            region_pacs.stop()
            wait_until(lambda: site.status()["mode"] == "continuity", 30, "the site to work on its own")
            cut_off = a_frame(web, recent)
            assert cut_off.status_code == 200, cut_off.text
            assert cut_off.headers["content-type"] == "image/png"
            assert Image.open(io.BytesIO(cut_off.content)).size == (256, 256)
            missing = a_frame(web, old)
            assert missing.status_code == 503, missing.text
            assert missing.json()["issue"][0]["diagnostics"] == NOT_HERE  # "not kept at this hospital"
            assert "imageCopies" in site.status()  # the site's own rounds, on its status

            region_pacs.start()
            region.central.start()
            wait_until(lambda: caught_up(site), 60, "the site to heal")
            after = a_frame(web, recent)
            assert after.status_code == 200 and after.content == cut_off.content  # nothing changes for the user
            # The old study is seen again once the region's PACS is asked again (after its rest).
            wait_until(lambda: a_frame(web, old).status_code == 200, 30, "the old study from the region's PACS")
    finally:
        region.close()
        region_pacs.stop()
        site_pacs.stop()
        dispose(open_repository(central_db))
