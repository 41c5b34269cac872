"""/logistics/reduce and /logistics/rebook in a real browser (headless Chromium) with the
Content-Security-Policy in force and no script of their own: a lead chooses the department and the
week (a wrong period first, told beside the field), keeps one case, undoes it, keeps it again and
confirms (asked once more, as the tick was not saved); the rebooking page books every freed time.
Nothing is wider than a phone's screen. With LIFELINE_SHOTS set to a folder, the proposal is
and the rebooking proposal are photographed there at a desktop's and a phone's size
(docs/screenshots/reduce-*.png, rebook-*.png)."""

from __future__ import annotations

from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import Select

from tests.logistics.hospital import LEAD, WEEK, build
from tests.logistics.test_reduce import read
from tests.web.pages.test_operator_browser import SIZES, _photograph
from tests.web.test_login_browser import Site, chromium, driver, first_login, follow, loaded, site  # noqa: F401
from tests.web.test_login_pages import add_user
from tests.web.test_pages_browser import console, violations


def _dates(browser: WebDriver, first: str, last: str) -> None:
    browser.execute_script(
        "document.getElementById('first').value = arguments[0]; document.getElementById('last').value = arguments[1]",
        first,
        last,
    )


def _press(browser: WebDriver, button: str, arrives: str, error_id: str = "refusal") -> None:
    """Press a form's button and wait for the page it answers (after "save", "undo" answers a
    page that also says "done")."""
    follow(browser, browser.find_element(By.ID, button), (By.ID, arrives), error_id)


def test_a_lead_reduces_a_week_and_the_secretaries_rebook(driver: WebDriver, site: Site) -> None:  # noqa: F811
    hospital = build(site.service)
    lead = add_user(site.service, practitioner=hospital.doctor, extra_roles=["lead"])
    first_login(driver, site, lead)
    console(driver)
    driver.set_window_size(*SIZES["desktop"])
    driver.get(site.base + "/logistics/reduce")
    loaded(driver, (By.ID, "choose-form"))
    Select(driver.find_element(By.ID, "org")).select_by_value(hospital.department)
    _dates(driver, WEEK[1].isoformat(), WEEK[0].isoformat())
    _press(driver, "propose", "last-error", "")
    assert "The last day is before the first." in driver.find_element(By.ID, "last-error").text
    assert Select(driver.find_element(By.ID, "org")).first_selected_option.get_attribute("value") == hospital.department
    _dates(driver, *(d.isoformat() for d in WEEK))
    _press(driver, "propose", "proposal-form")
    summary = driver.find_element(By.ID, "confirm-summary").text
    assert "2 operations and 3 appointments will be cancelled and 5 patients told." in summary

    keep = hospital.cases["elective-new"].removeprefix("Appointment/")
    driver.find_element(By.ID, f"keep-{keep}").click()
    _press(driver, "save", "done")
    assert driver.find_element(By.ID, f"keep-{keep}").is_selected()
    assert "2 appointments will be cancelled" in driver.find_element(By.ID, "confirm-summary").text
    _press(driver, "undo", "done")
    assert not driver.find_element(By.ID, f"keep-{keep}").is_selected()
    driver.find_element(By.ID, f"keep-{keep}").click()
    driver.find_element(By.ID, "reason").send_keys("Strømsvigt på hospitalet")
    _photograph(driver, "reduce")
    driver.set_window_size(*SIZES["phone"])
    assert int(driver.execute_script("return document.documentElement.scrollWidth")) <= SIZES["phone"][0]
    driver.set_window_size(*SIZES["desktop"])
    _press(driver, "confirm", "done")  # the tick was not saved: saved now, and asked again
    assert "check the summary" in driver.find_element(By.ID, "done").text
    core = site.service.as_user(LEAD)
    assert all(read(core, ref)["status"] == "booked" for ref in hospital.cases.values())
    assert "2 operations and 2 appointments" in driver.find_element(By.ID, "confirm-summary").text
    _press(driver, "confirm", "confirmed")
    assert read(core, hospital.cases["urgent-op"])["status"] == "cancelled"
    assert read(core, hospital.cases["elective-new"])["status"] == "booked"

    driver.find_element(By.LINK_TEXT, "Go to the rebooking list").click()
    loaded(driver, (By.ID, "book-all"))
    assert len(driver.find_elements(By.CSS_SELECTOR, "#offers tbody tr")) == 4
    _photograph(driver, "rebook")
    _press(driver, "book-all", "done")
    assert "4 booked" in driver.find_element(By.ID, "done").text
    assert driver.find_elements(By.ID, "no-offers")
    assert violations(console(driver)) == []
