"""The chart's notes in a real browser (headless Chromium) with the Content-Security-Policy in force:
a doctor logs in with TOTP, writes a note and finds it after the redirect; the next one's form is
sent twice (once by a script, as a retry would, then by a double click on Save) and the note is
there once; no violation on the console."""

from __future__ import annotations

from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import Select

from tests.web.pages.test_chart import admitted_patient
from tests.web.test_login_browser import Site, chromium, driver, first_login, loaded, site  # noqa: F401
from tests.web.test_login_pages import add_user
from tests.web.test_pages_browser import console, violations

SEND_THE_FORM = """
const done = arguments[arguments.length - 1];
const form = document.getElementById("note-form");
fetch(form.action, {method: "POST", body: new URLSearchParams(new FormData(form)), redirect: "manual"})
  .then((answer) => done(answer.type), (error) => done(String(error)));
"""


def texts(browser: WebDriver) -> list[str]:
    return [e.text for e in browser.find_elements(By.CSS_SELECTOR, "#notes-list .note-text")]


def write(browser: WebDriver, kind: str, text: str) -> None:
    Select(browser.find_element(By.ID, "note-type")).select_by_value(kind)
    box = browser.find_element(By.ID, "note-text")
    box.clear()
    box.send_keys(text)


def test_a_note_is_written_once_and_read_after_the_redirect(driver: WebDriver, site: Site) -> None:  # noqa: F811
    ward = admitted_patient(site.service)
    staff = add_user(site.service, practitioner=ward.doctor)
    first_login(driver, site, staff)
    console(driver)
    driver.get(f"{site.base}/patients/{ward.mine}/notes")
    loaded(driver, (By.ID, "note-form"))
    assert driver.find_element(By.ID, "no-notes").is_displayed()

    write(driver, "34117-2", "Indlagt med hjertebanken.\nStabil.")
    driver.find_element(By.ID, "note-save").click()
    loaded(driver, (By.ID, "written"), "note-text-error")
    assert driver.current_url.split("#")[0].endswith("/notes?written=" + driver.current_url.rpartition("#note-")[2])
    assert texts(driver) == ["Indlagt med hjertebanken.\nStabil."]  # the line break kept
    first = driver.find_element(By.CSS_SELECTOR, "#notes-list .note")
    assert first.find_element(By.TAG_NAME, "h3").text == "History and physical note"  # the form's words
    assert f"Kardiologisk Afdeling {ward.tag}" in first.text
    assert driver.find_element(By.ID, "note-text").get_attribute("value") == ""  # a fresh form

    write(driver, "11506-3", "Tilset igen. <b>Ingen</b> ændringer.")
    # The same form sent before the click, as a retry after a lost answer would send it.
    sent = driver.execute_async_script(SEND_THE_FORM)
    assert sent == "opaqueredirect", sent  # the 303 to the list: written
    ActionChains(driver).double_click(driver.find_element(By.ID, "note-save")).perform()
    loaded(driver, (By.CSS_SELECTOR, "#written"), "note-text-error")
    driver.refresh()  # a GET: the redirect's page, nothing sent again
    loaded(driver, (By.ID, "notes-list"))
    assert texts(driver) == ["Tilset igen. <b>Ingen</b> ændringer.", "Indlagt med hjertebanken.\nStabil."]

    entries = console(driver)
    assert not violations(entries), violations(entries)
    assert not [e for e in entries if e["level"] == "SEVERE"], entries
