"""The chart's timeline in a real browser (headless Chromium) with the Content-Security-Policy in
force: a doctor opens their patient's timeline from the chart's tab, the overview loads as an
image (drawn by pygal on the server), the list shows the 2019 stay with its operation, and the
filter by kind works as plain links; no violation on the console."""

from __future__ import annotations

from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from tests.web.pages.test_chart import admitted_patient
from tests.web.pages.test_chart_timeline import add_history
from tests.web.test_login_browser import Site, chromium, driver, first_login, loaded, site  # noqa: F401
from tests.web.test_login_pages import add_user
from tests.web.test_pages_browser import console, violations


def test_the_timeline_and_its_overview_load_under_the_policy(driver: WebDriver, site: Site) -> None:  # noqa: F811 - the fixture
    ward = admitted_patient(site.service)
    add_history(site.service, ward)
    staff = add_user(site.service, practitioner=ward.doctor)
    first_login(driver, site, staff)
    console(driver)
    driver.get(f"{site.base}/patients/{ward.mine}")
    loaded(driver, (By.ID, "part-timeline"))
    driver.find_element(By.CSS_SELECTOR, "#part-timeline a").click()  # the chart's tab links here
    loaded(driver, (By.ID, "timeline-chart"))
    overview = driver.find_element(By.ID, "timeline-chart")
    driver.execute_script("return arguments[0].decode()", overview)
    assert driver.execute_script("return arguments[0].naturalWidth", overview) > 0
    assert "Timeline from 2019 to 2026" in str(overview.get_attribute("alt"))
    stays = driver.find_element(By.ID, "year-2019").text
    assert "6 days" in stays and "Pacemakeranlæggelse" in stays and "Ib Kirurg" in stays
    driver.find_element(By.ID, "kind-emergency").click()
    loaded(driver, (By.CSS_SELECTOR, "#kind-emergency[aria-current=page]"))
    events = driver.find_element(By.ID, "events").text
    assert "Akut besøg" in events and "Pacemakeranlæggelse" not in events
    entries = console(driver)
    assert not violations(entries), violations(entries)
    assert not [e for e in entries if e["level"] == "SEVERE"], entries
