"""The staff login pages in a real browser (headless Chromium through selenium) against the app
served by uvicorn: typing, submitting, reading the TOTP secret off the page, the cookie's flags as
the browser keeps them, and passkeys through static/passkeys.js with Chrome's virtual authenticator.

The node here is the tests' own, not the shared `service`: its issuer is http://localhost:port, so
the passkeys' relying party (rp id "localhost") matches the browser's origin, and http://localhost
is a secure context where navigator.credentials works."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from contextlib import closing
from urllib.parse import quote

import pyotp
import pytest
from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
from selenium.webdriver.common.by import By
from selenium.webdriver.common.virtual_authenticator import Protocol, Transport, VirtualAuthenticatorOptions
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support import expected_conditions as ec

from lifeline.config import Settings
from lifeline.fhir.service import FhirService
from lifeline.identity import records
from lifeline.identity.keys import new_kek
from lifeline.identity.login import WRONG_CREDENTIALS
from lifeline.web.app import create_app
from lifeline.web.login import COOKIE
from tests.conftest import TickingClock, dispose, fresh_repository
from tests.identity.helpers import PASSWORD
from tests.web.browser import headless_chromium, listening_socket, serving, wait
from tests.web.test_login_pages import Staff, add_user

NEW_PASSWORD = "a much longer passphrase"
Locator = tuple[str, str]


@dataclasses.dataclass
class Site:
    base: str  # http://localhost:port
    service: FhirService


@pytest.fixture(scope="module")
def site(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """The real app on a loopback port, over a fresh repository of this backend."""
    repo = fresh_repository(backend, tmp_path_factory.mktemp(f"browser-{backend}"))
    service: FhirService | None = None
    try:
        with closing(listening_socket()) as sock:
            port = sock.getsockname()[1]
            settings = Settings(max_body_bytes=1024 * 1024, issuer=f"http://localhost:{port}", kek=new_kek())
            service = FhirService(repo, settings, clock=TickingClock())
            with serving(create_app(service, close_on_shutdown=False), sock) as base:
                yield Site(base, service)
    finally:
        dispose(repo, service)


@pytest.fixture(scope="module")
def chromium() -> Iterator[WebDriver]:
    driver = headless_chromium()
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def driver(chromium: WebDriver) -> Iterator[WebDriver]:
    """The module's browser, with no session left over from the previous test."""
    yield chromium
    chromium.delete_all_cookies()


def open_login(driver: WebDriver, site: Site) -> None:
    """The login page, asking to come back to /login (the account page) once logged in."""
    driver.get(f"{site.base}/login?next={quote('/login', safe='')}")
    wait(driver).until(ec.presence_of_element_located((By.ID, "username")))


def submit(driver: WebDriver, fields: dict[str, str]) -> None:
    """Type into the fields (by id) of the form holding the first, then press its submit button."""
    for name, value in fields.items():
        box = driver.find_element(By.ID, name)
        box.clear()
        box.send_keys(value)
    form = driver.find_element(By.ID, next(iter(fields))).find_element(By.XPATH, "./ancestor::form")
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()


def loaded(driver: WebDriver, locator: Locator, error_id: str | None = None) -> None:
    """Wait for the next page: `locator` present and the page's deferred scripts run. An error
    shown in `error_id` meanwhile fails at once, with its text."""

    def arrived(browser: WebDriver) -> bool:
        if error_id:
            errors = browser.find_elements(By.ID, error_id)
            try:
                shown = bool(errors) and errors[0].is_displayed()
            except WebDriverException as exc:
                # The page navigated between finding and asking: Chromium's form of a stale element.
                if "does not belong to the document" not in str(exc):
                    raise
                return False
            if shown:
                raise AssertionError(errors[0].text)
        ready = browser.execute_script("return document.readyState") == "complete"
        return ready and bool(browser.find_elements(*locator))

    wait(driver, (StaleElementReferenceException,)).until(arrived)


def follow(driver: WebDriver, link: WebElement, locator: Locator, error_id: str | None = None) -> None:
    """Click `link` and wait for the page it leads to, the page it was on gone first: where both
    pages show `locator`, the old one would otherwise pass for the new."""
    link.click()
    # While the next page loads, chromedriver may answer "node does not belong to the document"
    # rather than "stale": the old page is going either way.
    wait(driver, (WebDriverException,)).until(ec.staleness_of(link))
    loaded(driver, locator, error_id)


def account_of(driver: WebDriver) -> str:
    loaded(driver, (By.XPATH, "//h1[text()='Logged in']"))
    return str(driver.find_element(By.CSS_SELECTOR, "main p strong").text)


def first_login(driver: WebDriver, site: Site, staff: Staff) -> None:
    """Password, TOTP enrolment from the secret on the page, the password change if asked,
    past the recovery codes to the account page."""
    open_login(driver, site)
    submit(driver, {"username": staff.username, "password": PASSWORD})
    loaded(driver, (By.ID, "totp-secret"), "password-error")
    staff.secret = driver.find_element(By.ID, "totp-secret").text
    uri = driver.find_element(By.ID, "otpauth-uri").text
    assert uri.startswith("otpauth://totp/Lifeline") and f"secret={staff.secret}" in uri
    submit(driver, {"code": pyotp.TOTP(staff.secret).now()})
    loaded(driver, (By.CSS_SELECTOR, "#recovery-codes, #new"), "code-error")
    if driver.find_elements(By.ID, "new"):
        submit(driver, {"new": NEW_PASSWORD, "repeated": NEW_PASSWORD})
        loaded(driver, (By.ID, "recovery-codes"), "new-error")
    assert len(driver.find_elements(By.CSS_SELECTOR, "#recovery-codes li")) > 0
    driver.find_element(By.LINK_TEXT, "Continue").click()
    assert account_of(driver) == staff.username


@pytest.mark.parametrize("must_change_password", [False, True], ids=["password-kept", "temporary-password"])
def test_first_login_enrols_totp_and_ends_on_the_account_page(
    driver: WebDriver, site: Site, must_change_password: bool
) -> None:
    staff = add_user(site.service, must_change_password=must_change_password)
    first_login(driver, site, staff)

    (cookie,) = [c for c in driver.get_cookies() if c["name"] == COOKIE]
    assert cookie["httpOnly"] is True and cookie["sameSite"] == "Lax" and cookie["path"] == "/"
    assert COOKIE not in driver.execute_script("return document.cookie")  # out of the scripts' reach
    user = records.require_user(site.service.repo, staff.username)
    assert user.must_change_password is False


def test_a_wrong_password_is_shown_beside_the_field(driver: WebDriver, site: Site) -> None:
    staff = add_user(site.service)
    open_login(driver, site)
    submit(driver, {"username": staff.username, "password": "not the password"})
    loaded(driver, (By.ID, "password-error"))

    assert driver.title.startswith("Log in") and driver.current_url.startswith(f"{site.base}/login")
    assert driver.find_element(By.ID, "password-error").text == WRONG_CREDENTIALS
    after_field = "return document.getElementById('password-error').previousElementSibling.id"
    assert driver.execute_script(after_field) == "password"
    assert driver.find_element(By.ID, "username").get_attribute("value") == staff.username
    assert driver.find_element(By.ID, "password").get_attribute("value") == ""
    assert not driver.find_elements(By.ID, "form-error")


@pytest.fixture
def passkey_authenticator(driver: WebDriver) -> Iterator[Callable[[], list[str]]]:
    """Chrome's virtual authenticator (a platform authenticator that verifies its user) for one
    test; yields a function listing the credential ids it holds (base64url, unpadded)."""
    options = VirtualAuthenticatorOptions(
        protocol=Protocol.CTAP2,
        transport=Transport.INTERNAL,
        has_resident_key=True,
        has_user_verification=True,
        is_user_verified=True,
    )
    driver.add_virtual_authenticator(options)
    try:
        yield lambda: [credential.id.rstrip("=") for credential in driver.get_credentials()]
    finally:
        driver.remove_virtual_authenticator()


def test_register_a_passkey_then_log_in_with_it(
    driver: WebDriver, site: Site, passkey_authenticator: Callable[[], list[str]]
) -> None:
    staff = add_user(site.service)
    first_login(driver, site, staff)

    loaded(driver, (By.ID, "passkey-register"))
    driver.find_element(By.ID, "passkey-label").send_keys("Ward 4 key")
    driver.find_element(By.ID, "passkey-register").click()  # passkeys.js: navigator.credentials.create
    loaded(driver, (By.XPATH, "//ul[@id='passkeys']/li[contains(., 'Ward 4 key')]"), "passkey-error")
    (stored,) = records.require_user(site.service.repo, staff.username).passkeys
    assert passkey_authenticator() == [stored["credential_id"]]

    driver.find_element(By.XPATH, "//form[@action='/logout']//button").click()
    loaded(driver, (By.ID, "username"))
    open_login(driver, site)
    submit(driver, {"username": staff.username, "password": PASSWORD})
    loaded(driver, (By.ID, "passkey-login"), "password-error")
    driver.find_element(By.ID, "passkey-login").click()  # passkeys.js: navigator.credentials.get
    loaded(driver, (By.XPATH, "//h1[text()='Logged in']"), "passkey-error")

    assert account_of(driver) == staff.username
    (used,) = records.require_user(site.service.repo, staff.username).passkeys
    assert used["last_used"] and used["sign_count"] >= 1
