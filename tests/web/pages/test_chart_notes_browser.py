"""The chart's notes in a real browser (headless Chromium) with the Content-Security-Policy in force:
a doctor logs in with TOTP, writes a note and finds it after the redirect; the next one's form is
sent twice (once by a script, as a retry would, then by a double click on Save) and the note is
there once; no violation on the console."""

from __future__ import annotations

import time

import pyotp
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import Select

from lifeline.web.login import COOKIE
from tests.identity.helpers import PASSWORD
from tests.web.pages.test_chart import admitted_patient
from tests.web.test_login_browser import (  # noqa: F401 - fixtures
    Site,
    chromium,
    driver,
    first_login,
    loaded,
    site,
    submit,
)
from tests.web.test_login_pages import Staff, add_user
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


def end_session(browser: WebDriver) -> None:
    """The node no longer knows the browser's session (it expired, or ended elsewhere)."""
    browser.delete_cookie(COOKIE)
    browser.add_cookie({"name": COOKIE, "value": "a-session-that-ended", "path": "/", "httpOnly": True})


def log_in_again(browser: WebDriver, staff: Staff) -> None:
    """The login the node sent the browser to: password, then the next TOTP step's code."""
    loaded(browser, (By.ID, "username"))
    submit(browser, {"username": staff.username, "password": PASSWORD})  # add_user: no change asked
    loaded(browser, (By.ID, "code"), "password-error")
    assert staff.secret is not None
    submit(browser, {"code": pyotp.TOTP(staff.secret).at(time.time() + 30)})  # a step not used before


def test_a_session_that_ends_while_typing_keeps_the_text_through_the_login(
    driver: WebDriver,  # noqa: F811 - the fixture
    site: Site,  # noqa: F811
) -> None:
    ward = admitted_patient(site.service)
    staff = add_user(site.service, practitioner=ward.doctor)
    first_login(driver, site, staff)
    notes = f"{site.base}/patients/{ward.mine}/notes"
    driver.get(notes)
    loaded(driver, (By.ID, "note-form"))
    write(driver, "18842-5", "Epikrise: udskrevet til eget hjem.\nKontrol om 3 mdr.")
    end_session(driver)
    driver.find_element(By.ID, "note-save").click()

    log_in_again(driver, staff)  # the login, and back to the notes
    loaded(driver, (By.ID, "note-form"), "code-error")
    assert driver.current_url == notes
    assert driver.find_element(By.ID, "note-restored").is_displayed()
    assert (
        driver.find_element(By.ID, "note-text").get_attribute("value")
        == "Epikrise: udskrevet til eget hjem.\nKontrol om 3 mdr."
    )
    assert Select(driver.find_element(By.ID, "note-type")).first_selected_option.get_attribute("value") == "18842-5"
    assert driver.find_element(By.ID, "no-notes").is_displayed()  # nothing was written meanwhile
    driver.find_element(By.ID, "note-save").click()
    loaded(driver, (By.ID, "written"), "note-text-error")
    assert texts(driver) == ["Epikrise: udskrevet til eget hjem.\nKontrol om 3 mdr."]
    driver.get(notes)  # once saved, the copy is gone
    loaded(driver, (By.ID, "note-form"))
    assert driver.find_element(By.ID, "note-text").get_attribute("value") == ""
    assert not driver.find_element(By.ID, "note-restored").is_displayed()


def test_what_one_person_typed_is_not_given_to_the_next_to_log_in(
    driver: WebDriver,  # noqa: F811 - the fixture
    site: Site,  # noqa: F811
) -> None:
    ward = admitted_patient(site.service)
    first, second = (add_user(site.service, practitioner=ward.doctor) for _ in range(2))
    first_login(driver, site, second)  # the colleague's TOTP, enrolled
    driver.delete_all_cookies()
    first_login(driver, site, first)
    driver.get(f"{site.base}/patients/{ward.mine}/notes")
    loaded(driver, (By.ID, "note-form"))
    write(driver, "11506-3", "Første læges udkast.")
    end_session(driver)
    driver.find_element(By.ID, "note-save").click()

    log_in_again(driver, second)  # someone else at the same screen
    loaded(driver, (By.ID, "note-form"), "code-error")
    assert driver.find_element(By.ID, "note-text").get_attribute("value") == ""
    assert not driver.find_element(By.ID, "note-restored").is_displayed()
