"""The image viewer in a real browser (headless Chromium) with the Content-Security-Policy in
force, over a real Orthanc holding a generated chest CT (generate/dicom.py): a doctor opens the
chart's imaging, sees the series' thumbnails, opens the thorax series, moves to image 10 with
the keys and the wheel (the label, the image and the address follow, and an image seen once is
not asked for again), switches to the lung window, zooms, and finds the place kept on reload.
With LIFELINE_SHOTS=docs/screenshots, the screenshots (imaging-chart.png,
imaging-viewer-desktop.png, imaging-viewer-phone.png) are taken here, to be looked at."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pydicom
import pytest
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.actions.wheel_input import ScrollOrigin
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver

from lifeline.config import Settings
from lifeline.fhir.service import FhirService
from lifeline.generate.dicom import Patient, write_study
from lifeline.generate.imaging import instance_uid
from lifeline.identity.keys import new_kek
from lifeline.imaging.orthanc import Orthanc
from lifeline.imaging.pacs import Pacs
from lifeline.web.app import create_app
from tests.conftest import TickingClock, dispose, fresh_repository
from tests.pacs import CT_CLASS, DICOM, orthanc
from tests.web.browser import listening_socket, photograph, serving, wait
from tests.web.pages.test_chart import Ward, admitted_patient, put, ref
from tests.web.pages.test_chart_imaging import report
from tests.web.test_login_browser import Site, chromium, driver, first_login, loaded  # noqa: F401
from tests.web.test_login_pages import add_user
from tests.web.test_pages_browser import console, violations

__all__ = ["orthanc"]  # the fixture, by import

SERIES = (("Topogram", 1), ("Thorax 5 mm", 30), ("Lungevindue 5 mm", 30))  # the generator's chest CT
CHEST = {"system": "http://snomed.info/sct", "code": "51185008", "display": "Thoracic structure"}


@pytest.fixture(scope="module")
def site(backend: str, orthanc: Orthanc, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """The real app on a loopback port, its image store the test Orthanc."""
    repo = fresh_repository(backend, tmp_path_factory.mktemp(f"viewer-{backend}"))
    service: FhirService | None = None
    try:
        with closing(listening_socket()) as sock:
            port = sock.getsockname()[1]
            settings = Settings(
                max_body_bytes=1024 * 1024, issuer=f"http://localhost:{port}", kek=new_kek(), pacs_url=orthanc.url
            )
            service = FhirService(repo, settings, clock=TickingClock())
            with serving(create_app(service, close_on_shutdown=False), sock) as base:
                yield Site(base, service)
    finally:
        dispose(repo, service)


def uid() -> str:
    return f"2.25.{uuid.uuid4().int}"


def generated_chest_ct(service: FhirService, ward: Ward, pacs: Pacs, folder: Path) -> dict[str, Any]:
    """A chest CT as the generator makes it (its series, and DICOM drawn by generate/dicom.py),
    stored in the PACS, with the radiologist's report."""
    coding = {"system": DICOM, "code": "CT", "display": "Computed Tomography"}
    series = []
    for n, (description, count) in enumerate(SERIES, start=1):
        series_uid = uid()
        instances = [
            {"uid": instance_uid(series_uid, k), "sopClass": CT_CLASS, "number": k} for k in range(1, count + 1)
        ]
        series.append({"uid": series_uid, "number": n, "modality": coding, "description": description,
                       "numberOfInstances": count, "bodySite": CHEST, "started": "2026-11-20T10:00:00+01:00",
                       "instance": instances})  # fmt: skip
    study: dict[str, Any] = {
        "resourceType": "ImagingStudy", "id": f"ct-{ward.tag}", "status": "available",
        "identifier": [{"system": "urn:dicom:uid", "value": f"urn:oid:{uid()}"}],
        "subject": ref(f"Patient/{ward.mine}"), "started": "2026-11-20T10:00:00+01:00", "modality": [coding],
        "description": "CT af thorax", "numberOfSeries": len(series),
        "numberOfInstances": sum(c for _, c in SERIES), "series": series,
        "location": ref("Location/rad", "Røntgenafdelingen"),
    }  # fmt: skip
    write_study(folder, study, Patient("Sørensen^Karen", "2507582065", "19580725", "F"), abnormal=True)
    pacs.store([pydicom.dcmread(path) for path in sorted(folder.rglob("*.dcm"))])
    put(service, study)
    conclusion = "Tumor på 28 mm i venstre overlap. Forstørrede lymfeknuder i mediastinum."
    report(service, ward, "ct-report", study["id"], "2026-11-20T10:00:00+01:00", conclusion)
    return study


def shown(browser: WebDriver) -> dict[str, Any]:
    """The viewer as the reader sees it: the label, the image's address and whether it is drawn."""
    return dict(
        browser.execute_script(
            "var i = document.getElementById('viewer-image');"
            "return {position: document.getElementById('viewer-position').textContent, src: i.src,"
            " drawn: i.complete && i.naturalWidth > 0, transform: i.style.transform, address: location.search};"
        )
    )


def fetched(browser: WebDriver, part: str) -> int:
    """How many times the page asked for an address containing `part`."""
    return int(
        browser.execute_script(
            "var part = arguments[0]; return performance.getEntriesByType('resource').filter(function (e) {"
            " return e.name.indexOf(part) >= 0; }).length;",
            part,
        )
    )


def doctor_with_a_ct(browser: WebDriver, site: Site, orthanc: Orthanc, tmp_path: Path) -> tuple[Ward, dict[str, Any]]:
    """A ward's patient with the generator's chest CT in the record and the PACS, and the ward's
    doctor logged in in `browser`."""
    ward = admitted_patient(site.service)
    study = generated_chest_ct(site.service, ward, Pacs(orthanc.url), tmp_path)
    first_login(browser, site, add_user(site.service, practitioner=ward.doctor))
    return ward, study


def test_a_doctor_reads_a_ct_in_the_viewer(
    driver: WebDriver,  # noqa: F811 - the fixture
    site: Site,
    orthanc: Orthanc,
    tmp_path: Path,
) -> None:
    ward, study = doctor_with_a_ct(driver, site, orthanc, tmp_path)
    thorax = study["series"][1]
    console(driver)
    driver.set_window_size(1366, 900)

    driver.get(f"{site.base}/patients/{ward.mine}/imaging")
    loaded(driver, (By.ID, f"view-{study['id']}"))
    wait(driver).until(
        lambda d: d.execute_script(
            "return Array.prototype.every.call(document.querySelectorAll('.thumbnails img'),"
            " function (i) { return i.complete && i.naturalWidth > 0; });"
        )
    )
    thumbnails = driver.find_elements(By.CSS_SELECTOR, f"#images-{study['id']} .thumbnails img")
    assert [t.get_attribute("alt") for t in thumbnails] == [
        "CT, Topogram, 1 image",
        "CT, Thorax 5 mm, 30 images",
        "CT, Lungevindue 5 mm, 30 images",
    ]
    photograph(driver, "imaging-chart.png", 1366, 900)

    thumbnails[1].click()  # the thorax series
    loaded(driver, (By.ID, "viewer-image"))
    wait(driver).until(lambda d: shown(d)["drawn"])
    assert shown(driver)["position"] == "Image 1 of 30"
    stage = driver.find_element(By.ID, "viewer-stage")
    stage.click()
    for _ in range(5):
        ActionChains(driver).send_keys(Keys.ARROW_DOWN).perform()
    wait(driver).until(lambda d: shown(d)["position"] == "Image 6 of 30")
    for _ in range(4):
        ActionChains(driver).scroll_from_origin(ScrollOrigin.from_element(stage), 0, 100).perform()
    tenth = thorax["instance"][9]["uid"]
    wait(driver).until(lambda d: shown(d)["position"] == "Image 10 of 30" and tenth in shown(d)["src"])
    now = shown(driver)
    assert now["drawn"] and "image=10" in now["address"] and "window=soft-tissue" in now["address"]
    alt = driver.find_element(By.ID, "viewer-image").get_attribute("alt")
    assert alt == "CT, Thorax 5 mm, image 10 of 30, window: Soft tissue"

    ActionChains(driver).send_keys(Keys.HOME).perform()  # back to the start and on again: nothing asked twice
    wait(driver).until(lambda d: shown(d)["position"] == "Image 1 of 30")
    for _ in range(9):
        ActionChains(driver).send_keys(Keys.ARROW_DOWN).perform()
    wait(driver).until(lambda d: tenth in shown(d)["src"] and shown(d)["drawn"])
    assert fetched(driver, f"{tenth}/rendered?window=40,400") == 1

    driver.find_element(By.ID, "window-lung").click()
    wait(driver).until(lambda d: "window=-600,1500" in shown(d)["src"] and shown(d)["drawn"])
    assert tenth in shown(driver)["src"] and "window=lung" in shown(driver)["address"]
    assert driver.find_element(By.ID, "window-lung").get_attribute("aria-pressed") == "true"
    assert driver.find_element(By.ID, "window-soft-tissue").get_attribute("aria-pressed") == "false"
    driver.find_element(By.ID, "zoom-in").click()
    ActionChains(driver).send_keys("+").perform()
    assert "scale(1.5)" in shown(driver)["transform"]
    assert driver.find_element(By.ID, "zoom-level").text == "150 %"
    assert not driver.find_element(By.ID, "viewer-message").is_displayed()
    photograph(driver, "imaging-viewer-desktop.png", 1366, 900)

    driver.refresh()  # the address kept the place
    loaded(driver, (By.ID, "viewer-image"))
    wait(driver).until(lambda d: shown(d)["drawn"])
    assert shown(driver)["position"] == "Image 10 of 30" and "window=-600,1500" in shown(driver)["src"]
    ActionChains(driver).send_keys("3").perform()  # the third window: bone
    wait(driver).until(lambda d: "window=300,1500" in shown(d)["src"])
    driver.find_element(By.ID, "window-lung").click()
    wait(driver).until(lambda d: "window=-600,1500" in shown(d)["src"] and shown(d)["drawn"])
    driver.set_window_size(390, 844)
    driver.execute_script("document.getElementById('viewer').scrollIntoView()")  # where its links lead
    photograph(driver, "imaging-viewer-phone.png", 390, 844)
    assert driver.find_element(By.ID, "viewer-stage").size["width"] <= 390

    entries = console(driver)
    assert not violations(entries), violations(entries)
    assert not [e for e in entries if e["level"] == "SEVERE"], entries
    driver.set_window_size(1366, 900)


def test_a_frame_the_proxy_refuses_is_explained(
    driver: WebDriver,  # noqa: F811 - the fixture
    site: Site,
    orthanc: Orthanc,
    tmp_path: Path,
) -> None:
    """An image the store does not hold (listed in the record, never sent): the proxy's words are shown."""
    ward, study = doctor_with_a_ct(driver, site, orthanc, tmp_path)
    thorax = study["series"][1]
    thorax["instance"].append({"uid": uid(), "sopClass": CT_CLASS, "number": 31})
    thorax["numberOfInstances"] = 31
    put(site.service, study)
    driver.get(f"{site.base}/patients/{ward.mine}/imaging/{study['id']}?series={thorax['uid']}&image=30")
    loaded(driver, (By.ID, "viewer-image"))
    wait(driver).until(lambda d: shown(d)["drawn"])
    ActionChains(driver).send_keys(Keys.END).perform()
    message = driver.find_element(By.ID, "viewer-message")
    wait(driver).until(lambda d: message.is_displayed())
    assert "does not hold" in message.text and shown(driver)["position"] == "Image 31 of 31"
