"""/operator/incidents in a real browser (headless Chromium) with the Content-Security-Policy in
force: an operator logs in, opens an incident from the form (a problem first, shown beside its
field), sees who it affects as counts, adds an update with no restoration time known and
resolves it; /status tells each step at once; nothing is wider than a phone's screen. With
LIFELINE_SHOTS set to a folder, the page is photographed there at a desktop's and a phone's size."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import Select

from tests.status.test_affected import directory, failed_login, refused
from tests.web.test_login_browser import Site, chromium, driver, first_login, loaded, site  # noqa: F401
from tests.web.test_login_pages import add_user
from tests.web.test_pages_browser import console, violations

SIZES = {"desktop": (1280, 900), "phone": (390, 844)}
PATH = "/operator/incidents"


def _type(browser: WebDriver, element_id: str, text: str) -> None:
    box = browser.find_element(By.ID, element_id)
    box.clear()
    box.send_keys(text)


def _photograph(browser: WebDriver, name: str) -> None:
    folder = os.environ.get("LIFELINE_SHOTS")
    if not folder:
        return
    Path(folder).mkdir(parents=True, exist_ok=True)
    for size, (width, height) in SIZES.items():
        browser.set_window_size(width, height)
        full = int(browser.execute_script("return document.documentElement.scrollHeight"))
        browser.set_window_size(width, max(height, full + 140))
        browser.save_screenshot(str(Path(folder) / f"{name}-{size}.png"))
    browser.set_window_size(*SIZES["desktop"])


def test_an_operator_opens_updates_and_resolves_an_incident(driver: WebDriver, site: Site) -> None:  # noqa: F811
    names = directory(site.service)
    operator = add_user(site.service, extra_roles=["operator"])
    first_login(driver, site, operator)
    console(driver)
    driver.set_window_size(*SIZES["desktop"])
    driver.get(site.base + PATH)
    loaded(driver, (By.ID, "open-form"))
    assert driver.find_element(By.ID, "none-open").is_displayed()

    _type(driver, "title", "Staff cannot log in at Herlev")
    Select(driver.find_element(By.ID, "impact")).select_by_value("critical")
    driver.find_element(By.ID, "open-button").click()  # no component ticked
    loaded(driver, (By.ID, "components-error"))
    assert driver.find_element(By.ID, "title").get_attribute("value") == "Staff cannot log in at Herlev"
    driver.find_element(By.CSS_SELECTOR, 'input[name="component"][value="staff-login"]').click()
    _type(driver, "text", "Logins fail with an error; we are looking into it.")
    driver.execute_script("document.getElementById('eta').value = '2026-12-06T14:30'")
    driver.find_element(By.ID, "open-button").click()
    loaded(driver, (By.ID, "done"), "title-error")
    article = driver.find_element(By.CSS_SELECTOR, "#open-incidents .incident")
    incident_id = str(article.get_attribute("id")).removeprefix("incident-")
    assert "Expected back: 6 Dec 2026" in article.text.replace(",", "")

    now = datetime.now(UTC)
    for key in ("ann", "ann", "bo", "cy", "di"):
        failed_login(site.service, names[key], now)
    refused(site.service, names["cy"], now)
    driver.get(site.base + PATH)
    loaded(driver, (By.ID, f"affected-logins-{incident_id}"))
    assert "4 staff could not log in (5 attempts)" in driver.find_element(By.ID, f"affected-logins-{incident_id}").text
    table = driver.find_element(By.ID, f"affected-table-logins-{incident_id}").text
    assert "Herlev Hospital" in table and "Kardiologisk Afdeling" in table and "Holbæk Sygehus" in table
    assert int(driver.execute_script("return document.documentElement.scrollWidth")) <= 1280

    _type(driver, f"text-{incident_id}", "An expired certificate; a new one is being issued.")
    Select(driver.find_element(By.ID, f"status-{incident_id}")).select_by_value("identified")
    driver.execute_script(f"document.getElementById('eta-{incident_id}').value = ''")
    box = driver.find_element(By.CSS_SELECTOR, f'#update-{incident_id} input[name="eta_none"]')
    if not box.is_selected():
        box.click()
    driver.find_element(By.ID, f"update-button-{incident_id}").click()
    loaded(driver, (By.ID, "done"), f"text-{incident_id}-error")
    assert "No restoration time is known yet." in driver.find_element(By.ID, f"incident-{incident_id}").text
    driver.get(site.base + "/status")
    loaded(driver, (By.ID, "open-incidents"))
    public = driver.find_element(By.ID, "open-incidents").text
    assert "cause identified" in public and "staff at Herlev Hospital could not log in since" in public
    assert "Kardiologisk" not in public and not any(name in public for name in names.values())

    driver.set_window_size(*SIZES["phone"])
    driver.get(site.base + PATH)
    loaded(driver, (By.ID, f"incident-{incident_id}"))
    assert int(driver.execute_script("return document.documentElement.scrollWidth")) <= 390
    _photograph(driver, "operator-incidents")

    driver.set_window_size(*SIZES["desktop"])
    _type(driver, f"resolve-text-{incident_id}", "A new certificate is in place; logins work again.")
    driver.find_element(By.ID, f"resolve-button-{incident_id}").click()
    loaded(driver, (By.ID, "done"), f"resolve-text-{incident_id}-error")
    assert driver.find_elements(By.ID, "none-open")
    entries = console(driver)
    assert not violations(entries), violations(entries)
    # The form sent with a problem is answered 400 on purpose; nothing else may fail.
    assert not [e for e in entries if e["level"] == "SEVERE" and "status of 400" not in e["message"]], entries


def test_staff_without_the_role_see_a_clear_refusal(driver: WebDriver, site: Site) -> None:  # noqa: F811
    staff = add_user(site.service)
    first_login(driver, site, staff)
    driver.get(site.base + PATH)
    loaded(driver, (By.ID, "error-message"))
    assert "This page is for operators" in driver.find_element(By.ID, "error-message").text
