"""The chart's vital signs in a real browser (headless Chromium) with the Content-Security-Policy
in force: a doctor opens their patient's vital signs from the chart's tab, the flowsheet shows
blood pressure as 132/79, and the curves load as images (drawn by pygal on the server); no
violation on the console."""

from __future__ import annotations

from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from tests.web.pages.test_chart import admitted_patient
from tests.web.pages.test_chart_vitals import add_vitals
from tests.web.test_login_browser import Site, chromium, driver, first_login, loaded, site  # noqa: F401
from tests.web.test_login_pages import add_user
from tests.web.test_pages_browser import console, violations


def test_the_flowsheet_and_its_curves_load_under_the_policy(driver: WebDriver, site: Site) -> None:  # noqa: F811 - the fixture
    ward = admitted_patient(site.service)
    add_vitals(site.service, ward)
    staff = add_user(site.service, practitioner=ward.doctor)
    first_login(driver, site, staff)
    console(driver)
    driver.get(f"{site.base}/patients/{ward.mine}")
    loaded(driver, (By.ID, "part-vitals"))
    driver.find_element(By.CSS_SELECTOR, "#part-vitals a").click()  # the chart's tab links here
    loaded(driver, (By.ID, "flowsheet"))
    assert "132/79" in driver.find_element(By.ID, "flowsheet").text
    curve = driver.find_element(By.CSS_SELECTOR, "img.vitals-chart")
    driver.execute_script("arguments[0].scrollIntoView()", curve)  # the curves load when in sight
    driver.execute_script("return arguments[0].decode()", curve)
    assert driver.execute_script("return arguments[0].naturalWidth", curve) > 0
    entries = console(driver)
    assert not violations(entries), violations(entries)
    assert not [e for e in entries if e["level"] == "SEVERE"], entries
