"""A patient moves an appointment and accepts a new time offered after a downtime, in a real
browser (headless Chromium) under the Content-Security-Policy (issue 25), logged in through the
real citizen identity provider. With LIFELINE_SHOTS set (docs/screenshots), each step is
photographed as portal-appointments-<step>-<size>.png."""

from __future__ import annotations

from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from tests.fhir.interactions.test_scheduling_patients import open_clinic, put, read, slot
from tests.identity.citizen_provider import PROVIDER_WARNINGS, CitizenProvider
from tests.web.pages.portal.test_appointment_changes import offered
from tests.web.pages.test_chart import admitted_patient
from tests.web.pages.test_portal_browser import (  # noqa: F401 - provider and site are fixtures
    CPR,
    SIZES,
    log_in_as_citizen,
    photographed,
    provider,
    site,
)
from tests.web.test_login_browser import Site, chromium, driver, loaded  # noqa: F401 - fixtures
from tests.web.test_pages_browser import console, violations

pytestmark = PROVIDER_WARNINGS


def test_a_patient_moves_an_appointment_and_accepts_a_new_time(
    driver: WebDriver,  # noqa: F811
    site: Site,  # noqa: F811
    provider: CitizenProvider,  # noqa: F811
) -> None:
    ward = admitted_patient(site.service)
    clinic = open_clinic(site.service, ward.mine)
    # The ward's own appointment is on 3 December at 10:00: the offer and the move go elsewhere.
    put(site.service, slot(f"s7-{clinic.tag}", clinic.tag, "2026-12-04T10:00:00+01:00"))
    put(site.service, slot(f"s8-{clinic.tag}", clinic.tag, "2026-12-05T10:00:00+01:00"))
    offered(site.service, clinic, "s8", "2026-12-05T10:00:00+01:00")
    provider.add_citizen({"cpr": CPR, "name": "Karen Sørensen"}, subject=f"karen-{ward.tag}")
    driver.set_window_size(*SIZES["desktop"])
    log_in_as_citizen(driver, site, provider, f"karen-{ward.tag}")

    driver.get(f"{site.base}/portal/appointments")
    loaded(driver, (By.ID, "upcoming"))
    assert "emergencies only" in driver.find_element(By.ID, "upcoming").text
    photographed(driver, "appointments-list")

    driver.find_element(By.CSS_SELECTOR, f'a[href="/portal/appointments/a-{clinic.tag}"]').click()
    loaded(driver, (By.ID, "move-title"))
    driver.find_element(By.ID, "cancel").click()  # no reason chosen: said beside the field
    loaded(driver, (By.ID, "reason-error"))
    photographed(driver, "appointments-error")
    driver.find_element(By.CSS_SELECTOR, f'input[name=slot][value="s7-{clinic.tag}"]').click()
    photographed(driver, "appointments-move")
    driver.find_element(By.ID, "move").click()
    loaded(driver, (By.ID, "done"))
    assert driver.find_element(By.ID, "when").text == "4 Dec 2026, 10:00"
    assert read(site.service, f"Appointment/a-{clinic.tag}")["start"].startswith("2026-12-04T10:00")
    photographed(driver, "appointments-moved")

    driver.get(f"{site.base}/portal/appointments")
    loaded(driver, (By.ID, "upcoming"))
    driver.find_element(By.CSS_SELECTOR, f'a.button[href="/portal/appointments/new-{clinic.tag}"]').click()
    loaded(driver, (By.ID, "accept"))
    photographed(driver, "appointments-offer")
    driver.find_element(By.ID, "accept").click()
    loaded(driver, (By.ID, "done"))
    accepted = read(site.service, f"Appointment/new-{clinic.tag}")
    assert {p["status"] for p in accepted["participant"]} == {"accepted"}
    photographed(driver, "appointments-accepted")
    assert violations(console(driver)) == []
