"""The portal's results, notes, and scans with their images in a real browser (headless Chromium)
under the Content-Security-Policy (issue 25), with a real citizen login and a real Orthanc: a
result taken this morning is held back; on the day after its hold has passed (the server's clock
moved on) it is there. The patient reads their notes, opens a scan's report, sees its images and
steps through them; no violation on the console. With LIFELINE_SHOTS set to a folder
(docs/screenshots), the pages are photographed as portal-<page>-<size>.png."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import timedelta

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver, WebElement
from selenium.webdriver.support.ui import WebDriverWait

from lifeline.clock import COPENHAGEN, fhir_instant
from lifeline.fhir.service import FhirService
from lifeline.imaging.orthanc import Orthanc
from lifeline.imaging.pacs import Pacs
from tests.conftest import TickingClock
from tests.identity.citizen_provider import PROVIDER_WARNINGS, CitizenProvider
from tests.pacs import ct_study, orthanc
from tests.web.pages.test_chart import Ward, admitted_patient, mmol, observation, put, ref
from tests.web.pages.test_chart_imaging import report
from tests.web.pages.test_portal import add_portal_data
from tests.web.pages.test_portal_browser import CPR, SIZES, log_in_as_citizen, photographed, portal_site, provider
from tests.web.test_login_browser import Site, chromium, driver, follow, loaded  # noqa: F401
from tests.web.test_pages_browser import console, violations

__all__ = ["orthanc", "provider"]  # the fixtures, by import
pytestmark = PROVIDER_WARNINGS


@pytest.fixture(scope="module")
def site(
    backend: str, tmp_path_factory: pytest.TempPathFactory, provider: CitizenProvider, orthanc: Orthanc
) -> Iterator[Site]:
    """The real app on a loopback port, with the patient login and the PACS, on a clock of its own."""
    yield from portal_site(
        backend, tmp_path_factory.mktemp(f"portal-reports-{backend}"), provider, pacs_url=orthanc.url
    )


def add_notes_and_a_scan(service: FhirService, ward: Ward, pacs: Pacs) -> None:
    """A discharge summary and a progress note; a chest CT in the PACS, reported a week and a half ago."""
    texts = [
        ("dis", "18842-5", "Epikrise", 10,
         "Indlagt med hjertebanken.\nAtrieflimren, startet i Eliquis.\nKontrol om 3 mdr."),
        ("prog", "11506-3", "Journalnotat", 9, "Stuegang. Har det godt, ingen brystsmerter."),
    ]  # fmt: skip
    now = service.clock()
    for name, loinc, title, days, text in texts:
        put(service, {
            "resourceType": "DocumentReference", "id": f"{name}-{ward.tag}", "status": "current", "docStatus": "final",
            "type": {"coding": [{"system": "http://loinc.org", "code": loinc}], "text": title},
            "subject": ref(f"Patient/{ward.mine}"), "date": fhir_instant(now - timedelta(days=days)),
            "author": [ref(f"Practitioner/{ward.doctor}")],
            "custodian": ref("Organization/kard", "Kardiologisk afdeling"),
            "content": [{"attachment": {"contentType": "text/plain; charset=utf-8",
                                        "data": base64.b64encode(text.encode()).decode()}}],
        })  # fmt: skip
    day = (now - timedelta(days=10)).astimezone(COPENHAGEN).date()
    study, images = ct_study(ward.mine, CPR, 6, started=day, study_id=f"ct-{ward.tag}")
    pacs.store(images)
    put(service, study)
    report(service, ward, "ct-report", study["id"], f"{day.isoformat()}T10:00:00+01:00", "Ingen tegn på lungeemboli.")


def drawn(driver: WebDriver, image: WebElement) -> None:  # noqa: F811 - the fixture's name
    """Wait until `image` has loaded a picture (through the proxy, from the PACS)."""
    script = "return arguments[0].complete && arguments[0].naturalWidth > 0"
    WebDriverWait(driver, 20).until(lambda d: d.execute_script(script, image))


def test_a_held_result_appears_after_its_day_and_the_scans_images_open(
    driver: WebDriver,  # noqa: F811
    site: Site,
    provider: CitizenProvider,
    orthanc: Orthanc,
) -> None:
    service = site.service
    ward: Ward = admitted_patient(service)
    add_portal_data(service, ward)
    add_notes_and_a_scan(service, ward, Pacs(orthanc.url))
    clock = service.clock
    assert isinstance(clock, TickingClock)
    taken = fhir_instant(clock() - timedelta(hours=2))
    subject = ref(f"Patient/{ward.mine}")
    put(service, observation(f"crp-{ward.tag}", subject, "laboratory", "1988-5", "C-reaktivt protein",
                             effectiveDateTime=taken, issued=taken, valueQuantity={**mmol(48), "unit": "mg/L"},
                             referenceRange=[{"high": {"value": 8, "unit": "mg/L"}}]))  # fmt: skip
    provider.add_citizen({"cpr": CPR, "name": "Karen Sørensen"}, subject=f"karen-{ward.tag}")
    driver.set_window_size(*SIZES["desktop"])
    log_in_as_citizen(driver, site, provider, f"karen-{ward.tag}")

    driver.get(f"{site.base}/portal/results")
    loaded(driver, (By.ID, "tests"))
    assert "Kalium" in driver.find_element(By.ID, "tests").text
    assert "C-reaktivt protein" not in driver.page_source  # held back: results wait 3 days

    clock.now += timedelta(days=3, hours=3)  # the server's clock: past the hold
    driver.refresh()
    loaded(driver, (By.ID, "tests"))
    assert "C-reaktivt protein" in driver.find_element(By.ID, "tests").text
    assert "above the normal range" in driver.find_element(By.ID, "tests").text

    driver.find_element(By.ID, "nav-notes").click()
    loaded(driver, (By.ID, "notes"))
    text = driver.find_element(By.ID, "notes").text
    assert text.index("Indlagt med hjertebanken.") > text.index("Stuegang")  # newest first
    assert "Kontrol om 3 mdr." in text and "Kardiologisk afdeling" in text
    photographed(driver, "notes")

    driver.find_element(By.ID, "nav-imaging").click()
    loaded(driver, (By.ID, f"view-ct-{ward.tag}"))
    assert "Ingen tegn på lungeemboli." in driver.page_source
    thumbnail = driver.find_element(By.CSS_SELECTOR, ".thumbnails img")
    driver.execute_script("arguments[0].scrollIntoView()", thumbnail)
    drawn(driver, thumbnail)
    photographed(driver, "imaging")

    driver.find_element(By.ID, f"view-ct-{ward.tag}").click()
    loaded(driver, (By.ID, "scan-image"))
    assert "1 of 6" in driver.find_element(By.ID, "scan-position").text
    follow(driver, driver.find_element(By.ID, "image-next"), (By.ID, "scan-image"))
    assert "2 of 6" in driver.find_element(By.ID, "scan-position").text
    drawn(driver, driver.find_element(By.ID, "scan-image"))
    assert "Ingen tegn på lungeemboli." in driver.find_element(By.ID, "scan-reports").text
    photographed(driver, "scan")
    assert ward.theirs_name not in driver.page_source
    assert violations(console(driver)) == []
