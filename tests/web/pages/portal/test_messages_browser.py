"""Messages in a real browser (headless Chromium) under the Content-Security-Policy (issue 25): a
citizen logs in through the real OpenID Connect provider, opens the department's message, sends an
empty answer (said beside the field), then a real one; the department's doctor logs in, finds it
first in the inbox from the landing page, opens it and answers; the patient sees the answer. With
LIFELINE_SHOTS set to a folder (docs/screenshots), each page is photographed there at a desktop's
and a phone's size as portal-messages-<page>-<size>.png and inbox-<page>-<size>.png."""

from __future__ import annotations

import os
from pathlib import Path

from selenium.common.exceptions import WebDriverException
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.expected_conditions import staleness_of
from selenium.webdriver.support.ui import WebDriverWait

from tests.identity.citizen_provider import PROVIDER_WARNINGS, CitizenProvider
from tests.web.pages.portal.test_messages import conversation
from tests.web.pages.test_chart import admitted_patient
from tests.web.pages.test_portal_browser import CPR, SIZES, log_in_as_citizen, provider, site  # noqa: F401
from tests.web.test_login_browser import Site, chromium, driver, first_login, loaded, submit  # noqa: F401
from tests.web.test_login_pages import add_user
from tests.web.test_pages_browser import console, violations

pytestmark = PROVIDER_WARNINGS


def photographed(driver: WebDriver, name: str) -> None:  # noqa: F811 - the fixture
    """The whole page at each size, into $LIFELINE_SHOTS (nothing without it)."""
    folder = os.environ.get("LIFELINE_SHOTS")
    if not folder:
        return
    Path(folder).mkdir(parents=True, exist_ok=True)
    for size, (width, height) in SIZES.items():
        driver.set_window_size(width, height)
        full = int(driver.execute_script("return document.documentElement.scrollHeight"))
        driver.set_window_size(width, max(height, full + 140))
        driver.save_screenshot(str(Path(folder) / f"{name}-{size}.png"))
    driver.set_window_size(*SIZES["desktop"])


def test_a_patient_answers_and_the_department_answers_back(
    driver: WebDriver,  # noqa: F811
    site: Site,  # noqa: F811
    provider: CitizenProvider,  # noqa: F811
) -> None:
    ward = admitted_patient(site.service)
    talk = conversation(site.service, ward)
    provider.add_citizen({"cpr": CPR, "name": "Karen Sørensen"}, subject=f"karen-{ward.tag}")
    driver.set_window_size(*SIZES["desktop"])
    log_in_as_citizen(driver, site, provider, f"karen-{ward.tag}")

    driver.get(f"{site.base}/portal/messages")
    loaded(driver, (By.ID, "threads"))
    listed = driver.find_element(By.ID, "threads").text
    assert "Dit blodtryk" in listed and "Appointment moved" in listed and "Hemmeligt" not in listed
    assert "unread" in str(driver.find_element(By.CSS_SELECTOR, f"#thread-{talk.open}").get_attribute("class"))
    photographed(driver, "portal-messages-list")

    driver.find_element(By.CSS_SELECTOR, f"#thread-{talk.open} a").click()
    loaded(driver, (By.ID, "messages"))
    assert "Mål dit blodtryk." in driver.find_element(By.ID, "messages").text
    submit(driver, {"reply-text": " "})  # nothing written: said beside the field
    loaded(driver, (By.ID, "reply-error"))
    assert "Write your message" in driver.find_element(By.ID, "reply-error").text
    photographed(driver, "portal-messages-empty")
    first_answer = driver.find_element(By.ID, "reply-error")
    submit(driver, {"reply-text": "Det er 150/95 i dag.\nSkal jeg gøre noget?"})
    # The page before still says the error. While the next one loads, chromedriver may answer "node
    # does not belong to the document" rather than "stale": the old page is going either way.
    WebDriverWait(driver, 20, ignored_exceptions=(WebDriverException,)).until(staleness_of(first_answer))
    loaded(driver, (By.ID, "sent"), "reply-error")
    assert "Skal jeg gøre noget?" in driver.find_element(By.ID, "messages").text
    photographed(driver, "portal-messages-thread")

    driver.get(f"{site.base}/portal/messages/{talk.old}")  # no care there now: no form, the reason
    loaded(driver, (By.ID, "no-reply"))
    photographed(driver, "portal-messages-not-in-treatment")
    assert violations(console(driver)) == []

    driver.delete_all_cookies()
    first_login(driver, site, add_user(site.service, practitioner=ward.doctor))
    driver.get(f"{site.base}/")
    loaded(driver, (By.ID, "place-inbox"))
    driver.find_element(By.CSS_SELECTOR, "#place-inbox a").click()
    loaded(driver, (By.ID, "inbox"))
    first = driver.find_element(By.CSS_SELECTOR, "#inbox tbody tr")
    assert first.get_attribute("id") == f"thread-{talk.open}" and "1 new" in first.text
    assert "Karen Sørensen" in first.text and "Skal jeg gøre noget?" in first.text
    photographed(driver, "inbox-list")
    first.find_element(By.TAG_NAME, "a").click()
    loaded(driver, (By.ID, "messages"))
    submit(driver, {"reply-text": "Tag en ekstra måling i morgen, og ring hvis det er over 160."})
    loaded(driver, (By.ID, "sent"), "reply-error")
    assert "over 160" in driver.find_element(By.ID, "messages").text
    photographed(driver, "inbox-thread")
    assert violations(console(driver)) == []

    driver.delete_all_cookies()
    log_in_as_citizen(driver, site, provider, f"karen-{ward.tag}")
    driver.get(f"{site.base}/portal/messages")
    loaded(driver, (By.ID, "threads"))
    assert "1 new" in driver.find_element(By.CSS_SELECTOR, f"#thread-{talk.open}").text
    driver.find_element(By.CSS_SELECTOR, f"#thread-{talk.open} a").click()
    loaded(driver, (By.ID, "messages"))
    assert "ring hvis det er over 160" in driver.find_element(By.ID, "messages").text
    photographed(driver, "portal-messages-answered")
