"""The bed board in a real browser (headless Chromium) with the Content-Security-Policy in force: a
ward nurse chooses the ward, sees who lies in which bed and which beds are free, being cleaned
or blocked, moves a patient to a free bed on another ward through the card's form and sees the
old bed marked for cleaning; a move into a bed taken meanwhile is refused beside the field with
nothing changed; no violation on the console. With LIFELINE_SHOTS=docs/screenshots, the
screenshots bed-board-desktop.png and bed-board-phone.png are taken here."""

from __future__ import annotations

from datetime import timedelta

from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import Select

from lifeline.logistics import beds
from tests.logistics.test_beds import hospital, nurse, place, put, read
from tests.web.browser import photograph
from tests.web.test_login_browser import (  # noqa: F401 - fixtures
    Site,
    chromium,
    driver,
    first_login,
    loaded,
    site,
)
from tests.web.test_login_pages import Staff
from tests.web.test_pages_browser import console, violations

NAMES = {
    "pat1": ("Karen", "Sørensen"),
    "pat2": ("Mads", "Kristensen"),
    "pat3": ("Inger", "Holm"),
    "pat4": ("Jens", "Nielsen"),
}


def test_a_patient_is_moved_on_the_bed_board(driver: WebDriver, site: Site) -> None:  # noqa: F811
    service = site.service
    place_ = hospital(service)
    i = place_.id
    for name, (given, family) in NAMES.items():
        put(service, {**read(service, "Patient", i(name)), "name": [{"given": [given], "family": family}]})
    for n in (5, 6):  # two more beds, free
        put(service, place(i(f"bedA{n}"), f"Seng {n}, Sengeafsnit A{place_.tag}", "bd", i("wardA"), i("dep"), "U"))
    core = nurse(service, place_)
    morning = service.clock() - timedelta(hours=5)
    beds.admit(core, i("pat1"), beds.bed(core, i("bedA1")), morning)
    moving = beds.admit(core, i("pat2"), beds.bed(core, i("bedA2")), morning + timedelta(hours=1))
    leaving = beds.admit(core, i("pat4"), beds.bed(core, i("bedA4")), morning)
    beds.discharge(core, leaving, morning + timedelta(hours=4))  # bed 4 waits for cleaning

    first_login(driver, site, Staff(place_.username))
    console(driver)
    driver.set_window_size(1280, 800)
    driver.get(f"{site.base}/wards")
    loaded(driver, (By.ID, "my-wards"))
    driver.find_element(By.LINK_TEXT, f"Sengeafsnit A{place_.tag}").click()
    loaded(driver, (By.ID, "beds"))
    assert driver.find_element(By.ID, "count-occupied").text == "2 Occupied"
    assert "Mads Kristensen" in driver.find_element(By.ID, f"bed-{i('bedA2')}").text
    assert "Being cleaned" in driver.find_element(By.ID, f"bed-{i('bedA4')}").text
    assert "Blocked" in driver.find_element(By.ID, f"bed-{i('bedA3')}").text
    photograph(driver, "bed-board-desktop.png", 1280, 800)

    Select(driver.find_element(By.ID, f"to-{i('bedA2')}")).select_by_value(i("bedB1"))
    driver.find_element(By.ID, f"transfer-{i('bedA2')}").click()
    loaded(driver, (By.ID, "done"), "form-refused")
    assert "Being cleaned" in driver.find_element(By.ID, f"bed-{i('bedA2')}").text
    assert driver.find_element(By.ID, "count-occupied").text == "1 Occupied"
    assert read(service, "Encounter", moving)["location"][-1]["location"]["reference"] == f"Location/{i('bedB1')}"

    # Bed B2 is taken by another system's admission after the board was shown: refused beside the field.
    Select(driver.find_element(By.ID, f"to-{i('bedA1')}")).select_by_value(i("bedB2"))
    put(
        service,
        {
            "resourceType": "Encounter",
            "id": i("elsewhere"),
            "status": "in-progress",
            "class": {"code": "IMP"},
            "subject": {"reference": f"Patient/{i('pat3')}"},
            "location": [{"location": {"reference": f"Location/{i('bedB2')}"}, "status": "active"}],
        },
    )
    driver.find_element(By.ID, f"transfer-{i('bedA1')}").click()
    loaded(driver, (By.ID, f"to-{i('bedA1')}-error"))
    refusal = driver.find_element(By.ID, f"to-{i('bedA1')}-error").text
    assert f"Seng 2 on Sengeafsnit B{place_.tag} is occupied" in refusal and "Inger" not in refusal
    assert "Karen Sørensen" in driver.find_element(By.ID, f"bed-{i('bedA1')}").text  # nothing changed

    driver.get(f"{site.base}/wards/{i('wardA')}")
    loaded(driver, (By.ID, "beds"))
    photograph(driver, "bed-board-phone.png", 390, 844)
    driver.set_window_size(1366, 900)
    entries = console(driver)
    assert not violations(entries), violations(entries)
