"""A site node makes its downtime reports again by itself (downtime/schedule.py): a thread that
runs at once and then on its interval, stops cleanly, reads as the site node (on the audit
trail), and is not started on the centre, without a key, or with the interval 0."""

from __future__ import annotations

import threading
from dataclasses import replace
from pathlib import Path

import orjson

from lifeline.audit.store import events_after
from lifeline.downtime.schedule import Regenerator
from lifeline.fhir.service import FhirService
from tests.downtime.helpers import KEY, admitted_patient, pdf_text, ward_of


def test_the_reports_are_made_again_on_the_interval_and_the_thread_stops(service: FhirService, tmp_path: Path) -> None:
    ward = admitted_patient(service)
    node = f"herlev{ward.tag}"
    settings = replace(service.settings, downtime_dir=str(tmp_path), downtime_key=KEY, node_id=node)
    regenerator = Regenerator(service, settings, every_seconds=0.05)
    twice = threading.Event()
    regenerator.on_run = lambda runs: twice.set() if runs >= 2 else None
    regenerator.start()
    try:
        assert twice.wait(60), regenerator.last_error
    finally:
        regenerator.stop()
    assert regenerator.last_error is None
    assert not regenerator._thread or not regenerator._thread.is_alive()
    report = tmp_path / "current" / f"ward-{ward_of(ward)}.pdf.enc"
    assert "Karen Sørensen" in pdf_text(report)
    assert (tmp_path / "previous" / report.name).exists()  # the run before it, kept
    events = [orjson.loads(r.content) for r in events_after(service.repo, service.settings.node_id, 0, 1_000_000)]
    reads = [e for e in events if any(a.get("altId") == f"site:{node}" for a in e["agent"])]
    assert any(x.get("what", {}).get("reference") == f"Patient/{ward.mine}" for e in reads for x in e.get("entity", []))


def test_it_runs_only_at_a_site_with_a_key_and_an_interval(service: FhirService) -> None:
    site = replace(service.settings, role="site", downtime_key=KEY, downtime_minutes=15)

    class Node:
        settings = site

    assert Regenerator.for_node(Node) is not None  # type: ignore[arg-type]
    for settings in (replace(site, role="central"), replace(site, downtime_key=""), replace(site, downtime_minutes=0)):
        Node.settings = settings
        assert Regenerator.for_node(Node) is None  # type: ignore[arg-type]
    assert Regenerator(service, site).every == 15 * 60


def test_a_site_node_serving_makes_its_paper_copies_and_the_centre_does_not(tmp_path: Path) -> None:
    """Wired into the app's lifespan (web/app.py): a site node with a key makes the reports as it
    starts; the centre, with the same settings, makes none."""
    from tests.replication.nodes import CentralNode, SiteNode, wait_until

    central = CentralNode("sqlite", tmp_path / "central")
    central.start()
    try:
        admitted_patient(central.service)
        papers = tmp_path / "papers"
        site = SiteNode(central, "herlev", "sqlite", tmp_path / "herlev", downtime_dir=str(papers), downtime_key=KEY)
        try:  # the first run is at start (the next one 15 minutes on): its index and label sheet
            wait_until((papers / "index.html").exists, timeout=60, what="the site's first paper copies")
            assert list((papers / "current").glob("labels-herlev*.pdf.enc")), list(papers.glob("**/*"))
        finally:
            site.close()
        assert not (tmp_path / "var").exists() and not any((tmp_path / "central").glob("**/*.pdf.enc"))
    finally:
        central.close()
