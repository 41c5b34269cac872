"""The chart in a real browser (headless Chromium) with the Content-Security-Policy in force: a
doctor logs in and opens their patient's chart; no violation on the console, and the header (who
the patient is, the allergies) stays in view when the summary is scrolled."""

from __future__ import annotations

from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from tests.web.pages.test_chart import admitted_patient
from tests.web.test_login_browser import Site, chromium, driver, first_login, loaded, site  # noqa: F401
from tests.web.test_login_pages import add_user
from tests.web.test_pages_browser import console, violations


def test_the_chart_header_stays_in_view(driver: WebDriver, site: Site) -> None:  # noqa: F811 - the fixture's name
    ward = admitted_patient(site.service)
    staff = add_user(site.service, practitioner=ward.doctor)
    first_login(driver, site, staff)
    driver.set_window_size(1024, 600)  # shorter than the chart: it scrolls
    try:
        console(driver)
        driver.get(f"{site.base}/patients/{ward.mine}")
        loaded(driver, (By.ID, "chart-header"))
        assert driver.find_element(By.ID, "patient-name").text == "Karen Sørensen"
        assert "Penicillin" in driver.find_element(By.ID, "allergies").text
        entries = console(driver)
        assert not violations(entries), violations(entries)
        assert not [e for e in entries if e["level"] == "SEVERE"], entries

        driver.execute_script("document.getElementById('coming').scrollIntoView()")
        assert driver.execute_script("return window.scrollY") > 100
        top, bottom = driver.execute_script(
            "const r = document.getElementById('chart-header').getBoundingClientRect(); return [r.top, r.bottom]"
        )
        assert top == 0 and bottom > 0, (top, bottom)
        assert driver.find_element(By.ID, "patient-name").is_displayed()
        assert (
            driver.execute_script("return getComputedStyle(document.getElementById('chart-header')).position")
            == "sticky"
        )
    finally:
        driver.set_window_size(1366, 900)
