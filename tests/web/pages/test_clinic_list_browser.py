"""The clinic list and booking in a real browser (headless Chromium) with the
Content-Security-Policy in force: a secretary finds the clinic's free times, types the patient's
CPR number, books a time and finds the patient on the day's list; a CPR number that is no one's
is said beside the field with nothing booked; the patient is marked arrived; no violation on the
console. With LIFELINE_SHOTS=docs/screenshots, the screenshots clinic-list-desktop.png,
clinic-list-phone.png and booking-desktop.png are taken here."""

from __future__ import annotations

from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from tests.web.browser import photograph
from tests.web.pages.test_chart import put
from tests.web.pages.test_clinic_list import book, clinic_day, read
from tests.web.test_login_browser import Site, chromium, driver, first_login, follow, loaded, site  # noqa: F401 - fixtures
from tests.web.test_login_pages import add_user
from tests.web.test_pages_browser import console, violations


def test_a_time_is_booked_and_the_patient_arrives(driver: WebDriver, site: Site) -> None:  # noqa: F811
    place = clinic_day(site.service, days_ahead=1, slots=8)
    tag = place.ward.tag
    for number, (given, family) in enumerate((("Jens", "Holm"), ("Aisha", "Nielsen")), start=1):
        put(site.service, {"resourceType": "Patient", "id": f"p{number}-{tag}", "birthDate": "1971-03-0" + str(number),
                           "name": [{"given": [given], "family": family}]})  # fmt: skip
        book(
            site.service,
            place,
            f"p{number}-{tag}",
            place.slots[number * 2],
            description="Ambulant kontrol, hjertesvigt",
        )
    first_login(driver, site, add_user(site.service, practitioner=place.ward.doctor))
    console(driver)
    driver.set_window_size(1280, 800)
    driver.get(f"{site.base}/")
    loaded(driver, (By.ID, "place-clinics"))
    driver.find_element(By.CSS_SELECTOR, "#place-clinics a").click()
    loaded(driver, (By.ID, "clinic-choice"))
    driver.find_element(By.ID, "book-link").click()
    loaded(driver, (By.ID, "search-form"))
    driver.execute_script("document.getElementById('from').value = arguments[0]", place.day.isoformat())
    driver.execute_script("document.getElementById('to').value = arguments[0]", place.day.isoformat())
    follow(driver, driver.find_element(By.ID, "search-show"), (By.ID, "free-times"))  # the same page, searched
    driver.find_element(By.ID, "cpr").send_keys("0101011234")  # a possible number, but no one's
    driver.find_element(By.ID, "reason").send_keys("Kontrol efter ablation")
    photograph(driver, "booking-desktop.png", 1280, 800)
    driver.find_element(By.ID, f"book-{place.slots[1]}").click()
    loaded(driver, (By.ID, "cpr-error"))
    assert "No patient in your department's care has this CPR number" in driver.find_element(By.ID, "cpr-error").text
    assert read(site.service, "Slot", place.slots[1])["status"] == "free"
    field = driver.find_element(By.ID, "cpr")
    field.clear()
    field.send_keys("250758-2065")
    driver.find_element(By.ID, f"book-{place.slots[1]}").click()
    loaded(driver, (By.ID, "clinic-rows"), "booking-refused")
    assert "/clinics?" in driver.current_url and f"day={place.day.isoformat()}" in driver.current_url
    rows = driver.find_elements(By.CSS_SELECTOR, "#clinic-rows tbody tr")
    assert [r.find_element(By.CSS_SELECTOR, "th").text for r in rows] == [
        "Karen Sørensen",
        "Jens Holm",
        "Aisha Nielsen",
    ]
    booked = rows[0].get_attribute("id").removeprefix("row-")
    assert "09:30" in rows[0].text and "Kontrol efter ablation" in rows[0].text
    photograph(driver, "clinic-list-desktop.png", 1280, 800)
    driver.find_element(By.ID, f"arrive-{booked}").click()
    loaded(driver, (By.CSS_SELECTOR, f"#row-{booked}.status-arrived"), "clinic-refused")
    assert read(site.service, "Appointment", booked)["status"] == "arrived"
    photograph(driver, "clinic-list-phone.png", 390, 844)
    driver.set_window_size(1366, 900)
    entries = console(driver)
    assert not violations(entries), violations(entries)
