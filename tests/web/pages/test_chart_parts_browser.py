"""The chart's imaging and medication in a real browser (headless Chromium) with the
Content-Security-Policy in force: a doctor opens each from the chart's tabs, finds the X-ray's
report with the place kept for its images, and the current, past and given medication in their
tables; no violation on the console. With LIFELINE_SHOTS set to a folder, each page is also
photographed there at a desktop's and a phone's size, to be looked at."""

from __future__ import annotations

import os
from pathlib import Path

from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from tests.web.pages.test_chart import admitted_patient
from tests.web.pages.test_chart_imaging import add_imaging
from tests.web.pages.test_chart_medication import add_medication
from tests.web.test_login_browser import Site, chromium, driver, first_login, loaded, site  # noqa: F401
from tests.web.test_login_pages import add_user
from tests.web.test_pages_browser import console, violations

SIZES = {"desktop": (1366, 900), "phone": (390, 844)}


def photographed(driver: WebDriver, name: str) -> None:  # noqa: F811 - the fixture
    """The whole page at each size, into $LIFELINE_SHOTS (nothing without it)."""
    folder = os.environ.get("LIFELINE_SHOTS")
    if not folder:
        return
    Path(folder).mkdir(parents=True, exist_ok=True)
    for size, (width, height) in SIZES.items():
        driver.set_window_size(width, height)
        full = int(driver.execute_script("return document.documentElement.scrollHeight"))
        driver.set_window_size(width, max(height, full + 140))  # the browser's own frame is counted
        driver.save_screenshot(str(Path(folder) / f"chart-{name}-{size}.png"))
    driver.set_window_size(*SIZES["desktop"])


def test_imaging_and_medication_open_from_the_chart_under_the_policy(driver: WebDriver, site: Site) -> None:  # noqa: F811
    ward = admitted_patient(site.service)
    add_imaging(site.service, ward)
    add_medication(site.service, ward)
    staff = add_user(site.service, practitioner=ward.doctor)
    first_login(driver, site, staff)
    console(driver)

    driver.get(f"{site.base}/patients/{ward.mine}")
    loaded(driver, (By.ID, "part-imaging"))
    driver.find_element(By.CSS_SELECTOR, "#part-imaging a").click()  # the chart's tab links here
    loaded(driver, (By.ID, "imaging-list"))
    xray = driver.find_element(By.ID, f"study-xr-{ward.tag}")
    assert "X-ray" in xray.text and "Normale forhold for hjerte og lunger." in xray.text
    assert driver.find_element(By.ID, f"images-xr-{ward.tag}").is_displayed()  # the viewer's place
    assert driver.find_element(By.CSS_SELECTOR, "#part-imaging a").get_attribute("aria-current") == "page"
    photographed(driver, "imaging")

    driver.find_element(By.CSS_SELECTOR, "#part-medication a").click()
    loaded(driver, (By.ID, "current-table"))
    assert "Apixaban" in driver.find_element(By.ID, "current-table").text
    assert "Paracetamol" in driver.find_element(By.ID, "past-table").text
    assert "Sygeplejerske Bo" in driver.find_element(By.ID, "given-table").text
    photographed(driver, "medication")

    entries = console(driver)
    assert not violations(entries), violations(entries)
    assert not [e for e in entries if e["level"] == "SEVERE"], entries
