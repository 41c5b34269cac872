"""A parent acts for a child in a real browser (headless Chromium, issue 25): logged in through the
real citizen provider, the parent switches to their child, sees the child's name and age on each
portal page, and switches back to their own record; no Content-Security-Policy violation. With
LIFELINE_SHOTS set (docs/screenshots), the pages are photographed as portal-child-<page>-<size>.png."""

from __future__ import annotations

from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from tests.identity.citizen_provider import PROVIDER_WARNINGS, CitizenProvider
from tests.web.pages.portal.test_people import add_family
from tests.web.pages.test_portal_browser import SIZES, log_in_as_citizen, photographed, provider, site  # noqa: F401 - fixtures
from tests.web.test_login_browser import Site, chromium, driver, follow  # noqa: F401 - fixtures
from tests.web.test_pages_browser import console, violations

pytestmark = PROVIDER_WARNINGS


def test_a_parent_switches_to_a_child_and_back(
    driver: WebDriver,  # noqa: F811
    site: Site,  # noqa: F811
    provider: CitizenProvider,  # noqa: F811
) -> None:
    family = add_family(site.service)
    subject = provider.add_citizen({"cpr": family.cpr, "name": "Mette Parent"}, subject=f"mette-{family.tag}")
    driver.set_window_size(*SIZES["phone"])
    log_in_as_citizen(driver, site, provider, subject)
    console(driver)

    follow(driver, driver.find_element(By.CSS_SELECTOR, "#place-portal a"), (By.ID, "portal-switch"))
    assert f"Mette Parent{family.tag}" in driver.find_element(By.ID, "portal-title").text
    switch = driver.find_element(By.ID, "portal-switch").text
    assert f"Emma Child{family.tag} (age 7)" in switch and f"Oscar Baby{family.tag} (3 months old)" in switch
    assert "Anders" not in switch and "Sofie" not in switch and "Lukas" not in switch
    photographed(driver, "child-switch")

    follow(
        driver,
        driver.find_element(By.CSS_SELECTOR, f'#portal-switch button[value="{family.young}"]'),
        (By.ID, "portal-child"),
    )
    assert "You are looking at Emma's record (age 7)." in driver.find_element(By.ID, "portal-child").text
    assert f"Emma Child{family.tag}" in driver.find_element(By.ID, "portal-title").text
    assert f"Vaccine {family.young}" in driver.page_source and f"Vaccine {family.parent}" not in driver.page_source
    photographed(driver, "child-record")

    for section, shot in (("nav-results", "results"), ("nav-messages", "messages"), ("nav-contact", "contact")):
        follow(driver, driver.find_element(By.ID, section), (By.ID, "portal-child"))
        assert "You are looking at Emma's record (age 7)." in driver.find_element(By.ID, "portal-child").text
        photographed(driver, f"child-{shot}")
    assert "not change them" in driver.find_element(By.ID, "portal-child-may").text

    follow(driver, driver.find_element(By.ID, "back-to-own"), (By.ID, "portal-switch"))
    assert driver.current_url.endswith("/portal/contact")
    assert not driver.find_elements(By.ID, "portal-child")
    follow(driver, driver.find_element(By.ID, "nav-record"), (By.ID, "portal-title"))
    assert f"Mette Parent{family.tag}" in driver.find_element(By.ID, "portal-title").text
    assert not violations(console(driver))
