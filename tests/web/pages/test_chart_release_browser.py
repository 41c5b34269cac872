"""Releasing a held-back result in a real browser (headless Chromium) with the
Content-Security-Policy in force (issue 25): the doctor opens their patient's results, reads
when a new report will reach the patient, presses "Release to the patient now" (a plain POST
form with the session's CSRF token) and is back on the results with the report released as them;
no violation on the console. With LIFELINE_SHOTS=docs/screenshots, the screenshots
chart-release-desktop.png and chart-release-phone.png are taken here."""

from __future__ import annotations

from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import WebDriverWait

from lifeline.access.held_results import is_released
from tests.web.browser import press, shoot
from tests.web.pages.test_chart import admitted_patient
from tests.web.pages.test_chart_release import add_held_report, stored
from tests.web.test_login_browser import Site, chromium, driver, first_login, loaded, site  # noqa: F401 - fixtures
from tests.web.test_login_pages import add_user
from tests.web.test_pages_browser import console, violations


def photograph(browser: WebDriver, name: str, width: int, height: int, form: WebElement) -> None:
    browser.set_window_size(width, height)
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", form)
    shoot(browser, name)


def test_a_held_report_is_released_to_the_patient(driver: WebDriver, site: Site) -> None:  # noqa: F811
    ward = admitted_patient(site.service)
    report = add_held_report(site.service, ward, "SP")
    first_login(driver, site, add_user(site.service, practitioner=ward.doctor))
    console(driver)
    driver.set_window_size(1280, 800)
    driver.get(f"{site.base}/patients/{ward.mine}/results")
    mine = (By.XPATH, f"//form[@class='held-result notice'][input[@value='DiagnosticReport/{report}']]")
    loaded(driver, mine)
    held = driver.find_element(*mine)
    assert "Held back from the patient until" in held.text
    photograph(driver, "chart-release-desktop.png", 1280, 800, held)
    photograph(driver, "chart-release-phone.png", 390, 844, held)
    driver.set_window_size(1280, 800)
    button = held.find_element(By.CSS_SELECTOR, "button[type=submit]").get_attribute("id")
    press(driver, str(button))
    # The page pressed on has #reports too: wait for the redirect to the page after the release.
    WebDriverWait(driver, 20).until(lambda d: d.current_url.endswith(f"/patients/{ward.mine}/results#reports"))
    loaded(driver, (By.ID, "reports"), "release-problem")
    assert not driver.find_elements(*mine)
    assert is_released(stored(site.service, "DiagnosticReport", report))
    entries = console(driver)
    assert not violations(entries), violations(entries)
    assert not [e for e in entries if e["level"] == "SEVERE"], entries
