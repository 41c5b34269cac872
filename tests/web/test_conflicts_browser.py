"""The reconciliation page in a real browser (headless Chromium, the Content-Security-Policy in
force): a doctor logs in, finds the conflict on their patient's record compared element by element,
opens the raw JSON behind its details switch, keeps the site's birth date, both phone numbers and
the centre's lack of an address, and the record holds exactly that; no violation on the console."""

from __future__ import annotations

import orjson
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from lifeline.fhir.request import FhirRequest
from lifeline.identity.principal import OPERATOR
from tests.web.test_conflicts_page import rich_conflict, ward_with_conflicts
from tests.web.test_login_browser import Site, chromium, driver, first_login, loaded, site  # noqa: F401
from tests.web.test_login_pages import add_user
from tests.web.test_pages_browser import console, violations


def test_a_doctor_resolves_a_conflict_field_by_field(driver: WebDriver, site: Site) -> None:  # noqa: F811
    ward = ward_with_conflicts(site.service)
    rich = rich_conflict(site.service, ward)
    staff = add_user(site.service, practitioner=ward.doctor)
    first_login(driver, site, staff)
    console(driver)
    driver.get(f"{site.base}/conflicts")
    loaded(driver, (By.ID, f"fields-{rich.conflict}"))
    assert f"Patient/{ward.theirs}" not in driver.page_source  # not this doctor's patient
    assert driver.find_element(By.ID, "mode").text == "Regional centre"  # the centre, connected

    table = driver.find_element(By.ID, f"fields-{rich.conflict}")
    rows = [
        [cell.text for cell in row.find_elements(By.CSS_SELECTOR, "th, td")[:3]]
        for row in table.find_elements(By.CSS_SELECTOR, "tbody tr")
    ]
    assert rows == [
        ["Phone", "phone 11 11 11 11", "phone 22 22 22 22"],
        ["Date of birth", "25 Jul 1958", "26 Jul 1958"],
        ["Address", "not recorded", "Havnegade 1, 2730 Herlev"],
    ]
    head = driver.find_element(By.ID, f"central-head-{rich.conflict}").text
    assert "version 2" in head

    # The raw JSON is behind the details switch, and its version is the one the heading names.
    shown_json = driver.find_element(By.ID, f"central-json-{rich.conflict}")
    assert not shown_json.is_displayed()
    driver.find_element(By.CSS_SELECTOR, f"#details-{rich.conflict} summary").click()
    assert orjson.loads(shown_json.text)["meta"]["versionId"] == "2"

    for element, side in (("birthDate", "site"), ("telecom.phone", "both")):
        driver.find_element(By.ID, f"{rich.conflict}-{element}-{side}").click()
    assert driver.find_element(By.ID, f"{rich.conflict}-address-central").is_selected()  # the default
    driver.find_element(By.ID, f"merge-{rich.conflict}").click()
    loaded(driver, (By.ID, "resolved"), f"error-{rich.conflict}")
    assert f"Patient/{rich.id}" in driver.find_element(By.ID, "resolved").text
    assert not driver.find_elements(By.ID, f"conflict-{rich.conflict}")

    answer = site.service.handle(FhirRequest("read", "Patient", rich.id, principal=OPERATOR))
    kept = orjson.loads(answer.raw) if answer.raw is not None else dict(answer.resource or {})
    assert kept["birthDate"] == "1958-07-26" and "address" not in kept
    assert sorted(p["value"] for p in kept["telecom"] if p["system"] == "phone") == ["11111111", "22222222"]

    entries = console(driver)
    assert not violations(entries), violations(entries)
