"""Find a patient in a real browser (headless Chromium) with the Content-Security-Policy in force:
static/finder.js answers as the clinician types, without Enter, from the page's JSON form; the
rows it draws are those the server would, and the console shows no violation."""

from __future__ import annotations

from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver

from tests.web.browser import wait
from tests.web.pages.test_finder import ward_of
from tests.web.test_login_browser import Site, chromium, driver, first_login, loaded, site  # noqa: F401
from tests.web.test_login_pages import add_user
from tests.web.test_pages_browser import console, violations


def rows(driver: WebDriver) -> list[str]:  # noqa: F811 - the fixture's name
    """The rows' text, read in one step: the script may redraw them between two."""
    found = driver.execute_script(
        "return Array.from(document.querySelectorAll('#result-rows tr.hit'), row => row.innerText)"
    )
    return [str(text) for text in found]


def retype(driver: WebDriver, text: str) -> None:  # noqa: F811
    box = driver.find_element(By.ID, "q")
    box.send_keys(Keys.CONTROL, "a")
    box.send_keys(Keys.BACKSPACE)
    box.send_keys(text)


def test_a_doctor_finds_a_patient_as_they_type(driver: WebDriver, site: Site) -> None:  # noqa: F811
    ward = ward_of(site.service)
    hansen = ward.patient("Hansen", ["Kirsten"], cpr="2507582065", birthDate="1958-07-25")
    ward.patient("Ærø", ["Søren"], gender="male")
    staff = add_user(site.service, practitioner=ward.doctor)
    first_login(driver, site, staff)
    driver.get(site.base + "/find")
    loaded(driver, (By.ID, "q"))
    console(driver)
    driver.execute_script("window.stillHere = true")  # gone if the page were loaded again

    retype(driver, "250758-2065")  # no Enter: the script asks after a pause
    wait(driver).until(lambda d: any("Kirsten Hansen" in row for row in rows(d)))
    [row] = rows(driver)
    assert "250758-2065" in row and "2730 Herlev" in row
    link = driver.find_element(By.CSS_SELECTOR, "#result-rows tr.hit th a")
    assert link.get_attribute("href") == f"{site.base}/patients/{hansen}"
    assert driver.find_element(By.ID, "find-status").text == "One patient found."
    assert driver.execute_script("return window.stillHere") is True
    assert driver.current_url == f"{site.base}/find?q=250758-2065"  # a reload shows the same

    retype(driver, "søren")
    wait(driver).until(lambda d: any("Søren Ærø" in row for row in rows(d)))
    assert len(rows(driver)) == 1

    # One letter: while typing, a hint; once Search is pressed, an error beside the field.
    retype(driver, "H")
    status = driver.find_element(By.ID, "find-status")
    wait(driver).until(lambda d: status.text == "Type at least 2 letters.")
    assert rows(driver) == [] and not driver.find_element(By.ID, "results").is_displayed()
    problem = driver.find_element(By.ID, "q-problem")
    assert not problem.is_displayed()
    driver.find_element(By.ID, "q").send_keys(Keys.ENTER)
    wait(driver).until(lambda d: problem.is_displayed() and problem.text == "Type at least 2 letters.")
    assert driver.find_element(By.ID, "q").get_attribute("aria-invalid") == "true"
    assert driver.execute_script("return window.stillHere") is True  # Enter asked the script, not the server

    entries = console(driver)
    assert not violations(entries), violations(entries)
    assert not [e for e in entries if e["level"] == "SEVERE"], entries
