"""The chart's results in a real browser (headless Chromium) with the Content-Security-Policy in
force: a doctor opens their patient's results, picks a test, and its trend chart loads as an image
(drawn by pygal on the server) with the values in a table beside it; no violation on the console."""

from __future__ import annotations

from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from tests.web.pages.test_chart import admitted_patient
from tests.web.pages.test_chart_results import CREATININE, POTASSIUM, add_reports
from tests.web.test_login_browser import Site, chromium, driver, first_login, loaded, site  # noqa: F401
from tests.web.test_login_pages import add_user
from tests.web.test_pages_browser import console, violations


def test_a_trend_chart_loads_under_the_policy(driver: WebDriver, site: Site) -> None:  # noqa: F811 - the fixture
    ward = admitted_patient(site.service)
    add_reports(site.service, ward)
    staff = add_user(site.service, practitioner=ward.doctor)
    first_login(driver, site, staff)
    console(driver)
    driver.get(f"{site.base}/patients/{ward.mine}")
    loaded(driver, (By.ID, "part-results"))
    driver.find_element(By.CSS_SELECTOR, "#part-results a").click()  # the chart's tab links here
    loaded(driver, (By.ID, "tests"))
    driver.find_element(By.LINK_TEXT, "Kalium").click()
    loaded(driver, (By.ID, "trend-chart"))
    driver.execute_script("return arguments[0].decode()", driver.find_element(By.ID, "trend-chart"))
    assert driver.execute_script("return document.getElementById('trend-chart').naturalWidth") > 0
    assert "5.9 mmol/L" in driver.find_element(By.ID, "values-1").text

    # Two tests ticked and compared: a GET form, no script needed.
    for code in (POTASSIUM, CREATININE):
        box = driver.find_element(By.CSS_SELECTOR, f"input[name=code][value='{code}']")
        if not box.is_selected():
            box.click()
    driver.find_element(By.CSS_SELECTOR, ".compare-form button[type=submit]").click()
    loaded(driver, (By.ID, "values-2"))
    driver.execute_script("return arguments[0].decode()", driver.find_element(By.ID, "trend-chart"))
    assert driver.execute_script("return document.getElementById('trend-chart').naturalWidth") > 0
    assert driver.find_element(By.ID, "trend-units").is_displayed()
    entries = console(driver)
    assert not violations(entries), violations(entries)
    assert not [e for e in entries if e["level"] == "SEVERE"], entries

    # The chart by itself, under its own policy (its inline style, no script): the values on hover.
    driver.find_element(By.ID, "trend-open").click()
    loaded(driver, (By.CSS_SELECTOR, "circle"))
    titles = driver.execute_script("return [...document.querySelectorAll('g.dots > title')].map(t => t.textContent)")
    assert "Kalium 5.9 mmol/L, 21 Nov 2026, 07:45" in titles, titles
    fill = driver.execute_script("return getComputedStyle(document.querySelector('.plot .background')).fill")
    assert fill == "rgb(255, 255, 255)", fill  # pygal's own style applied
    entries = console(driver)
    assert not violations(entries), violations(entries)
