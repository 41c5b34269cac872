"""The patient portal in a real browser (headless Chromium) under the Content-Security-Policy
(issue 25): a citizen logs in through a real OpenID Connect provider (oidc-provider-mock, the one
`make demo` runs), opens their record, a result's trend chart and their appointments, changes
their phone number and sees the change; no violation on the console. With LIFELINE_SHOTS set to
a folder (docs/screenshots), each page is photographed there as portal-<page>-<size>.png."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.expected_conditions import staleness_of
from selenium.webdriver.support.ui import WebDriverWait

from lifeline.config import Settings
from lifeline.fhir.service import FhirService
from lifeline.identity.keys import new_kek
from lifeline.web.app import create_app
from tests.conftest import TickingClock, dispose, fresh_repository
from tests.identity.citizen_provider import PROVIDER_WARNINGS, CitizenProvider, running_citizen_provider
from tests.web.browser import listening_socket, serving
from tests.web.pages.test_chart import Ward, admitted_patient
from tests.web.pages.test_portal import add_portal_data
from tests.web.test_login_browser import Site, chromium, driver, follow, loaded, submit  # noqa: F401
from tests.web.test_pages_browser import console, violations

pytestmark = PROVIDER_WARNINGS
SIZES = {"desktop": (1280, 900), "phone": (390, 844)}
CPR = "2507582065"  # admitted_patient's Karen Sørensen


@pytest.fixture(scope="module")
def provider() -> Iterator[CitizenProvider]:
    with running_citizen_provider(register_client=False) as running:
        yield running


@pytest.fixture(scope="module")
def site(backend: str, tmp_path_factory: pytest.TempPathFactory, provider: CitizenProvider) -> Iterator[Site]:
    """The real app on a loopback port with the patient login set up against the provider."""
    yield from portal_site(backend, tmp_path_factory.mktemp(f"portal-{backend}"), provider)


def portal_site(backend: str, folder: Path, provider: CitizenProvider, **more: Any) -> Iterator[Site]:
    """The real app on a loopback port, its patient login against `provider`, its clock fixed
    (TickingClock); `more`: further settings (a PACS, say)."""
    repo = fresh_repository(backend, folder)
    service: FhirService | None = None
    try:
        with closing(listening_socket()) as sock:
            port = sock.getsockname()[1]
            settings = Settings(
                max_body_bytes=1024 * 1024,
                issuer=f"http://localhost:{port}",
                kek=new_kek(),
                probe_seconds=0,
                citizen_issuer=provider.issuer,
                citizen_client_id="lifeline",
                citizen_client_secret="secret",
                **more,
            )
            service = FhirService(repo, settings, clock=TickingClock())
            with serving(create_app(service, close_on_shutdown=False), sock) as base:
                yield Site(base, service)
    finally:
        dispose(repo, service)


def photographed(driver: WebDriver, name: str) -> None:  # noqa: F811 - the fixture
    """The whole page at each size, into $LIFELINE_SHOTS (nothing without it)."""
    folder = os.environ.get("LIFELINE_SHOTS")
    if not folder:
        return
    Path(folder).mkdir(parents=True, exist_ok=True)
    for size, (width, height) in SIZES.items():
        driver.set_window_size(width, height)
        full = int(driver.execute_script("return document.documentElement.scrollHeight"))
        driver.set_window_size(width, max(height, full + 140))  # the browser's own frame is counted
        driver.save_screenshot(str(Path(folder) / f"portal-{name}-{size}.png"))
    driver.set_window_size(*SIZES["desktop"])


def log_in_as_citizen(driver: WebDriver, site: Site, provider: CitizenProvider, subject: str) -> None:  # noqa: F811
    """From Lifeline's login page to the provider's, where the citizen is named, and back."""
    driver.get(f"{site.base}/login")
    loaded(driver, (By.ID, "login-citizen"))
    driver.find_element(By.ID, "login-citizen").click()
    loaded(driver, (By.NAME, "sub"))
    assert driver.current_url.startswith(provider.issuer)
    box = driver.find_element(By.NAME, "sub")
    box.send_keys(subject)
    box.find_element(By.XPATH, "./ancestor::form").find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    loaded(driver, (By.ID, "places"))  # back at Lifeline's landing page, logged in


def test_a_citizen_logs_in_reads_their_record_and_changes_their_phone(
    driver: WebDriver,  # noqa: F811
    site: Site,
    provider: CitizenProvider,
) -> None:
    ward: Ward = admitted_patient(site.service)
    add_portal_data(site.service, ward)
    provider.add_citizen({"cpr": CPR, "name": "Karen Sørensen"}, subject=f"karen-{ward.tag}")
    driver.set_window_size(*SIZES["desktop"])
    log_in_as_citizen(driver, site, provider, f"karen-{ward.tag}")
    console(driver)

    driver.find_element(By.CSS_SELECTOR, "#place-portal a").click()
    loaded(driver, (By.ID, "portal-title"))
    assert "Karen Sørensen" in driver.find_element(By.ID, "portal-title").text
    assert "Penicillin" in driver.find_element(By.ID, "allergies").text
    assert "Atrieflimren" in driver.find_element(By.ID, "diagnoses").text
    assert "Apixaban" in driver.find_element(By.ID, "medication").text
    assert ward.theirs_name not in driver.page_source
    photographed(driver, "record")

    driver.find_element(By.ID, "nav-results").click()
    loaded(driver, (By.ID, "tests"))
    assert "above the normal range" in driver.find_element(By.ID, "tests").text
    photographed(driver, "results")
    driver.find_element(By.LINK_TEXT, "Kalium").click()
    loaded(driver, (By.ID, "trend-values"))
    assert driver.execute_script("return document.getElementById('trend-chart').naturalWidth") > 0  # drawn
    assert "above the normal range" in driver.find_element(By.ID, "trend-values").text
    photographed(driver, "trend")

    driver.find_element(By.ID, "nav-appointments").click()
    loaded(driver, (By.ID, "past"))
    assert "Forundersøgelse" in driver.find_element(By.ID, "past").text
    photographed(driver, "appointments")

    driver.find_element(By.ID, "nav-contact").click()
    loaded(driver, (By.ID, "phone-input"))
    submit(driver, {"phone-input": "12"})  # too short: said beside the field
    loaded(driver, (By.ID, "phone-error"))
    photographed(driver, "contact-error")
    first_answer = driver.find_element(By.ID, "phone-error")
    submit(driver, {"phone-input": "+45 20 12 34 56", "email-input": "karen@example.dk"})
    # The page before still says the error. While the next one loads, chromedriver may answer "node
    # does not belong to the document" rather than "stale": the old page is going either way.
    WebDriverWait(driver, 20, ignored_exceptions=(WebDriverException,)).until(staleness_of(first_answer))
    loaded(driver, (By.ID, "saved"), "phone-error")
    assert driver.find_element(By.ID, "phone").text == "+45 20 12 34 56"
    photographed(driver, "contact")
    follow(driver, driver.find_element(By.ID, "nav-record"), (By.ID, "portal-title"))
    assert driver.find_element(By.ID, "phone").text == "+45 20 12 34 56"
    assert violations(console(driver)) == []
