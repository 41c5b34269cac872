"""Re-entry after a downtime (web/pages/reentry.py) in a real browser (headless Chromium) with the
Content-Security-Policy in force: a doctor types an identifier with a miscopied digit and is told
beside the field, types it right, finds their patient by CPR number, links it, and enters a set of
vital signs from the paper at its original time; the list then shows it entered. The page fits a
phone's width. With LIFELINE_SHOTS set, the pages are saved there at a desktop and a phone size."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from lifeline.clock import COPENHAGEN
from lifeline.downtime import labels, reentry
from tests.web.browser import press
from tests.web.pages.test_chart import admitted_patient
from tests.web.test_login_browser import Site, chromium, driver, first_login, loaded, site  # noqa: F401
from tests.web.test_login_pages import add_user
from tests.web.test_pages_browser import console, violations

SIZES = {"desktop": (1280, 900), "phone": (390, 844)}


def shots(driver: WebDriver, name: str) -> None:  # noqa: F811 - the fixture's name
    folder = os.environ.get("LIFELINE_SHOTS")
    if not folder:
        return
    Path(folder).mkdir(parents=True, exist_ok=True)
    for size, (width, height) in SIZES.items():
        driver.set_window_size(width, height)
        full = int(driver.execute_script("return document.documentElement.scrollHeight"))
        driver.set_window_size(width, max(height, full + 140))
        driver.save_screenshot(str(Path(folder) / f"{name}-{size}.png"))
    driver.set_window_size(*SIZES["desktop"])


def test_a_doctor_links_an_identifier_and_enters_vital_signs(driver: WebDriver, site: Site) -> None:  # noqa: F811
    service = site.service
    ward = admitted_patient(service)
    made = service.clock()
    dt, *others = labels.identifiers("HERLEV", made, 6)
    reentry.issue(service.repo, "herlev", made, [dt, *others])
    staff = add_user(service, practitioner=ward.doctor)
    first_login(driver, site, staff)
    console(driver)

    driver.get(f"{site.base}/downtime/reentry")
    loaded(driver, (By.ID, "reentry-find"))
    assert dt in driver.find_element(By.ID, "sheets").text
    miscopied = dt[:-3] + str((int(dt[-3]) + 1) % 10) + dt[-2:]
    driver.find_element(By.ID, "dt").send_keys(miscopied)
    driver.find_element(By.CSS_SELECTOR, "#reentry-find button").click()
    loaded(driver, (By.ID, "dt-error"))
    assert "check digit" in driver.find_element(By.ID, "dt-error").text
    assert driver.find_element(By.ID, "dt").get_attribute("aria-invalid") == "true"
    box = driver.find_element(By.ID, "dt")
    box.clear()
    box.send_keys(dt.lower())  # as typed in a hurry: the case does not matter
    driver.find_element(By.CSS_SELECTOR, "#reentry-find button").click()
    loaded(driver, (By.ID, "reentry-search"))

    driver.find_element(By.ID, "q").send_keys("250758-2065")
    driver.find_element(By.CSS_SELECTOR, "#reentry-search button").click()
    loaded(driver, (By.ID, "reentry-found"))
    assert "Karen Sørensen" in driver.find_element(By.ID, "reentry-found").text
    shots(driver, "reentry-link")
    driver.find_element(By.CSS_SELECTOR, "#reentry-found .reentry-link").click()
    loaded(driver, (By.ID, "vitals-form"))
    assert "Karen Sørensen" in driver.find_element(By.ID, "reentry-patient").text
    shots(driver, "reentry-forms")

    when = (service.clock() - timedelta(days=9)).astimezone(COPENHAGEN)
    driver.execute_script("document.getElementById('vitals-when').value = arguments[0]", f"{when:%Y-%m-%dT%H:%M}")
    for name, value in {"systolic": "150", "diastolic": "90", "pulse": "104", "temp": "38,6"}.items():
        driver.find_element(By.ID, f"vitals-{name}").send_keys(value)
    press(driver, "vitals-save")
    loaded(driver, (By.CSS_SELECTOR, "#reentry-entered li"), "vitals-problems")
    entered = driver.find_element(By.ID, "reentry-entered").text
    assert "Vital signs" in entered and f"{when:%d.%m.%Y %H:%M}" in entered
    found = reentry.label(service.repo, dt)
    assert found is not None and found.state == "entered" and len(found.entries[0].resources) == 3

    driver.get(f"{site.base}/downtime/reentry")
    loaded(driver, (By.ID, "sheets"))
    row = driver.find_element(By.CSS_SELECTOR, "#sheets tr.reentry-entered").text
    assert dt in row and "Karen Sørensen" in row and "Vital signs" in row
    shots(driver, "reentry")
    driver.set_window_size(*SIZES["phone"])
    assert int(driver.execute_script("return document.documentElement.scrollWidth")) <= SIZES["phone"][0]
    driver.set_window_size(*SIZES["desktop"])
    entries = console(driver)
    assert not violations(entries), violations(entries)
    assert not [e for e in entries if e["level"] == "SEVERE"], entries
