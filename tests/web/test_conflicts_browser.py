"""The reconciliation page in a real browser (headless Chromium): a doctor logs in, finds the
conflict on their patient's record, writes a merge, is told beside the conflict when it is not
valid, and resolves it."""

from __future__ import annotations

import orjson
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from tests.web.test_conflicts_page import ward_with_conflicts
from tests.web.test_login_browser import Site, chromium, driver, first_login, loaded, site  # noqa: F401
from tests.web.test_login_pages import add_user


def _write_merge(driver: WebDriver, conflict: str, text: str) -> None:  # noqa: F811 - the fixture's name
    section = driver.find_element(By.ID, f"conflict-{conflict}")
    section.find_element(By.CSS_SELECTOR, "input[name=choice][value=merged]").click()
    box = section.find_element(By.ID, f"merged-{conflict}")
    box.clear()
    box.send_keys(text)
    section.find_element(By.ID, f"resolve-{conflict}").click()


def test_a_doctor_merges_a_conflict_on_the_page(driver: WebDriver, site: Site) -> None:  # noqa: F811
    ward = ward_with_conflicts(site.service)
    staff = add_user(site.service, practitioner=ward.doctor)
    first_login(driver, site, staff)
    driver.get(f"{site.base}/conflicts")
    loaded(driver, (By.ID, f"conflict-{ward.conflict}"))
    assert f"Patient/{ward.theirs}" not in driver.page_source  # not this doctor's patient
    assert driver.find_element(By.ID, "mode").text.endswith("connected")

    _write_merge(driver, ward.conflict, '{"resourceType": "Patient", "name": [')
    loaded(driver, (By.ID, f"error-{ward.conflict}"))
    assert "not valid JSON" in driver.find_element(By.ID, f"error-{ward.conflict}").text

    merged = {"resourceType": "Patient", "id": ward.mine, "name": [{"family": "Flettesen", "given": [ward.tag]}]}
    _write_merge(driver, ward.conflict, orjson.dumps(merged).decode())
    loaded(driver, (By.ID, "resolved"))
    assert f"Patient/{ward.mine}" in driver.find_element(By.ID, "resolved").text
    kept = orjson.loads(site.service.repo.read("Patient", ward.mine).content or "{}")  # type: ignore[union-attr]
    assert kept["name"][0]["family"] == "Flettesen"
