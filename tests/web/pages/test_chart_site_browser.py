"""The chart at a hospital cut off from the centre, in a real browser (issue 21's "see the
continuity banner at a site whose centre is stopped and write a note there that reaches the centre
afterwards"): a doctor logs in at their hospital's site node (a real server whose replication loop
runs), the centre stops, the chart says so at its top, the doctor writes a note, records a set of
vital signs (one transaction) and orders an X-ray at the site, and when the centre is back they
are there, once each."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import httpx
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import Select

from lifeline.identity import records
from tests.replication.nodes import CentralNode, SiteNode, wait_until
from tests.web.browser import listening_socket, press, serving
from tests.web.pages.test_chart import admitted_patient
from tests.web.pages.test_chart_notes_browser import texts, write
from tests.web.test_login_browser import Site, chromium, driver, first_login, loaded  # noqa: F401
from tests.web.test_login_pages import add_user
from tests.web.test_pages_browser import console, violations

NOTE = "Skrevet på Herlev mens centret var nede.\nPt. stabil."


@pytest.fixture
def region(backend: str, tmp_path: Path) -> Iterator[tuple[CentralNode, SiteNode, Site]]:
    """A centre, and a site node served by uvicorn at http://localhost:port (its issuer)."""
    central = CentralNode(backend, tmp_path / "central")
    central.start()
    try:
        with closing(listening_socket()) as sock:
            base = f"http://localhost:{sock.getsockname()[1]}"
            site = SiteNode(central, "herlev", backend, tmp_path / "herlev", client=False, issuer=base)
            try:
                with serving(site.app, sock) as served:
                    yield central, site, Site(served, site.service)
            finally:
                site.close()
    finally:
        central.close()


def at_centre(central: CentralNode, res_type: str, patient: str) -> list[dict[str, Any]]:
    answer = httpx.get(
        f"{central.url}/fhir/{res_type}",
        params={"patient": patient},
        headers={"Authorization": f"Bearer {central.token()}"},
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
    return [entry["resource"] for entry in answer.json().get("entry", [])]


def test_a_note_written_at_a_cut_off_site_reaches_the_centre(
    driver: WebDriver,  # noqa: F811 - the fixture
    region: tuple[CentralNode, SiteNode, Site],
) -> None:
    central, site, served = region
    ward = admitted_patient(central.service)  # the record lives at the centre
    staff = add_user(central.service, practitioner=ward.doctor)
    wait_until(lambda: records.get_user(site.repo, staff.username) is not None, what="the user at the site")
    wait_until(lambda: site.node.status()["behind"] == 0 and site.node.mode == "connected", what="the site caught up")
    first_login(driver, served, staff)
    console(driver)
    driver.get(f"{served.base}/patients/{ward.mine}/notes")
    loaded(driver, (By.ID, "note-form"))
    assert not driver.find_elements(By.CSS_SELECTOR, "p.banner#mode")  # connected: no banner

    central.stop()
    wait_until(lambda: site.node.mode == "continuity", what="the site to notice the centre is gone")
    driver.get(f"{served.base}/patients/{ward.mine}/notes")
    loaded(driver, (By.ID, "note-form"))
    banner = driver.find_element(By.CSS_SELECTOR, "p.banner#mode").text
    assert "herlev is working on its own" in banner and "unreachable since" in banner, banner
    assert "Karen Sørensen" in driver.find_element(By.CSS_SELECTOR, ".chart-header").text  # the record still reads

    write(driver, "11506-3", NOTE)
    driver.find_element(By.ID, "note-save").click()
    loaded(driver, (By.ID, "written"), "note-text-error")
    assert texts(driver) == [NOTE]
    # A set of vital signs (one transaction) and an order, also written at the site.
    driver.get(f"{served.base}/patients/{ward.mine}/vitals/record")
    loaded(driver, (By.ID, "vitals-form"))
    for name, value in {"systolic": "152", "diastolic": "91", "pulse": "104"}.items():
        driver.find_element(By.ID, f"vitals-{name}").send_keys(value)
    press(driver, "vitals-save")
    loaded(driver, (By.ID, "flowsheet"), "vitals-problems")
    assert "152/91" in driver.find_element(By.ID, "row-85354-9").text
    driver.get(f"{served.base}/patients/{ward.mine}/orders")
    loaded(driver, (By.ID, "order-form"))
    Select(driver.find_element(By.ID, "order-code")).select_by_value("36643-5")
    driver.find_element(By.ID, "order-reason").send_keys("Feber under nedbrud")
    press(driver, "order-save")
    loaded(driver, (By.ID, "written"), "order-problems")
    assert site.node.status()["pendingLocalChanges"] > 0  # kept at the site, for the centre

    central.start()
    wait_until(
        lambda: site.node.mode == "connected" and site.node.status()["pendingLocalChanges"] == 0,
        what="the site to hand its work to the centre",
    )
    [note] = at_centre(central, "DocumentReference", ward.mine)
    assert base64.b64decode(note["content"][0]["attachment"]["data"]).decode() == NOTE
    assert note["author"] == [{"reference": f"Practitioner/{ward.doctor}"}]
    recorded = [o for o in at_centre(central, "Observation", ward.mine) if o.get("identifier")]
    assert sorted(o["code"]["coding"][0]["code"] for o in recorded) == ["85354-9", "8867-4"]
    [order] = [o for o in at_centre(central, "ServiceRequest", ward.mine) if o.get("identifier")]
    assert order["code"]["coding"][0]["code"] == "36643-5" and order["requester"]["reference"].endswith(ward.doctor)
    driver.get(f"{served.base}/patients/{ward.mine}/notes")
    loaded(driver, (By.ID, "note-form"))
    assert not driver.find_elements(By.CSS_SELECTOR, "p.banner#mode")  # connected again
    entries = console(driver)
    assert not violations(entries), violations(entries)
