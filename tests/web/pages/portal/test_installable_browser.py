"""The portal's service worker at work in headless Chromium (web/pages/portal/installable.py,
static/portal-worker.js; issue 25): a citizen logs in through the real OpenID Connect provider,
opens their record (the worker installs); then the node stops answering (its server stopped, the
port closed: the portal unreachable, the phone still online) and /portal shows the offline page —
that the portal cannot be reached, when this device last reached it, 112 — and nothing of the
record; with Chrome's network emulation offline as well, the page adds that the device has no
connection. The node comes back on the same address and /portal is the record again, from the
node. At no point does the browser's cache hold anything under /portal but the offline page.

(Chrome's network emulation alone does not do: it governs the page's own requests, not those of
its service worker, which still reached the node.)
With LIFELINE_SHOTS set (docs/screenshots), the offline page is photographed at each size."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import ExitStack
from urllib.parse import urlsplit

import pytest
from selenium.webdriver.chrome.webdriver import WebDriver as Chrome
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from lifeline.config import Settings
from lifeline.fhir.service import FhirService
from lifeline.identity.keys import new_kek
from lifeline.web.app import create_app
from tests.conftest import TickingClock, dispose, fresh_repository
from tests.identity.citizen_provider import PROVIDER_WARNINGS, CitizenProvider
from tests.web.browser import listening_socket, serving, wait
from tests.web.pages.test_chart import admitted_patient
from tests.web.pages.test_portal import add_portal_data
from tests.web.pages.test_portal_browser import CPR, SIZES, log_in_as_citizen, photographed, provider  # noqa: F401
from tests.web.test_login_browser import Site, chromium, driver, loaded  # noqa: F401
from tests.web.test_pages_browser import console, violations

pytestmark = PROVIDER_WARNINGS
KEPT = """
const done = arguments[arguments.length - 1];
caches.keys()
  .then((names) => Promise.all(names.map((name) => caches.open(name).then((cache) => cache.keys()))))
  .then((lists) => done(lists.flat().map((request) => request.url)))
  .catch((error) => done(["failed: " + error]));
"""
CONTROLLED = "return navigator.serviceWorker.controller !== null"


class Node:
    """The app served on one loopback port, stopped and started again on that same port (the
    browser's service worker belongs to the origin, port included)."""

    def __init__(self, service: FhirService, sock: socket.socket) -> None:
        self.service, self.port = service, int(sock.getsockname()[1])
        self.base = f"http://localhost:{self.port}"
        self._running = ExitStack()
        self._serve(sock)

    def _serve(self, sock: socket.socket) -> None:
        self._running.enter_context(serving(create_app(self.service, close_on_shutdown=False), sock))

    def stop(self) -> None:
        self._running.close()

    def start(self) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self.port))
        sock.listen(64)
        self._serve(sock)


@pytest.fixture(scope="module")
def node(backend: str, tmp_path_factory: pytest.TempPathFactory, provider: CitizenProvider) -> Iterator[Node]:  # noqa: F811
    """The real app with the patient login set up against the provider, on a port of its own."""
    repo = fresh_repository(backend, tmp_path_factory.mktemp(f"portal-app-{backend}"))
    service: FhirService | None = None
    try:
        sock = listening_socket()
        settings = Settings(
            max_body_bytes=1024 * 1024,
            issuer=f"http://localhost:{sock.getsockname()[1]}",
            kek=new_kek(),
            probe_seconds=0,
            citizen_issuer=provider.issuer,
            citizen_client_id="lifeline",
            citizen_client_secret="secret",
        )
        service = FhirService(repo, settings, clock=TickingClock())
        running = Node(service, sock)
        try:
            yield running
        finally:
            running.stop()
    finally:
        dispose(repo, service)


def kept(driver: WebDriver) -> list[str]:  # noqa: F811
    """The paths of everything in the origin's caches."""
    return sorted(urlsplit(url).path if url.startswith("http") else url for url in driver.execute_async_script(KEPT))


def only_offline_page_and_static(paths: list[str]) -> bool:
    offline = "/portal/offline"
    return offline in paths and all(path == offline or path.startswith("/static/") for path in paths)


def test_an_unreachable_portal_shows_the_offline_page_and_never_a_kept_record(
    driver: WebDriver,  # noqa: F811
    node: Node,
    provider: CitizenProvider,  # noqa: F811
) -> None:
    site = Site(node.base, node.service)
    ward = admitted_patient(site.service)
    add_portal_data(site.service, ward)
    provider.add_citizen({"cpr": CPR, "name": "Karen Sørensen"}, subject=f"karen-app-{ward.tag}")
    driver.set_window_size(*SIZES["phone"])
    log_in_as_citizen(driver, site, provider, f"karen-app-{ward.tag}")
    console(driver)
    manifest = driver.execute_script("return document.querySelector('link[rel=manifest]')")
    assert manifest is None  # the landing page is not the portal's

    driver.get(f"{site.base}/portal")
    loaded(driver, (By.ID, "portal-title"))
    wait(driver).until(lambda browser: browser.execute_script(CONTROLLED))  # installed, and in charge
    for path, landmark in (("/portal/results", "tests"), ("/portal/appointments", "past"), ("/portal", "portal-title")):
        driver.get(site.base + path)
        loaded(driver, (By.ID, landmark))
    paths = kept(driver)
    assert only_offline_page_and_static(paths), paths
    assert not any(path.startswith("/portal/") and path != "/portal/offline" for path in paths)

    node.stop()  # the portal unreachable; the phone is still online
    try:
        driver.get(f"{site.base}/portal")
        loaded(driver, (By.ID, "offline-en"))
        shown = driver.find_element(By.ID, "offline-en")
        assert shown.is_displayed() and not driver.find_element(By.ID, "offline-da").is_displayed()
        assert "The portal cannot be reached right now" in shown.text and "call 112" in shown.text
        reached = shown.find_element(By.CSS_SELECTOR, ".offline-reached")
        assert reached.is_displayed() and reached.find_element(By.TAG_NAME, "time").get_attribute("datetime")
        assert not shown.find_element(By.CSS_SELECTOR, ".offline-device").is_displayed()  # not the phone's fault
        assert not driver.find_elements(By.ID, "portal-title") and "Karen" not in driver.page_source
        assert driver.current_url == f"{site.base}/portal"
        photographed(driver, "offline")
        driver.get(f"{site.base}/portal/results")  # every portal page: the offline page, never a kept one
        loaded(driver, (By.ID, "offline-en"))
        assert not driver.find_elements(By.ID, "tests")

        assert isinstance(driver, Chrome)
        driver.set_network_conditions(offline=True, latency=0, download_throughput=-1, upload_throughput=-1)
        try:
            driver.get(f"{site.base}/portal")
            loaded(driver, (By.ID, "offline-en"))
            device = driver.find_element(By.CSS_SELECTOR, "#offline-en .offline-device")
            assert device.is_displayed() and "no internet connection" in device.text  # the browser says so
        finally:
            driver.delete_network_conditions()
    finally:
        node.start()

    driver.get(f"{site.base}/portal")
    loaded(driver, (By.ID, "portal-title"))
    assert "Karen Sørensen" in driver.find_element(By.ID, "portal-title").text  # from the node, not a cache
    paths = kept(driver)
    assert only_offline_page_and_static(paths), paths
    assert violations(console(driver)) == []


def test_the_offline_page_in_danish(driver: WebDriver, node: Node) -> None:  # noqa: F811
    """A reader whose portal answered in Danish gets the Danish text only; without a time stored,
    no 'last reached' line."""
    site = Site(node.base, node.service)
    driver.get(f"{site.base}/portal/offline")
    loaded(driver, (By.ID, "offline-en"))
    driver.execute_script(
        "localStorage.setItem('lifeline-portal-language', 'da'); localStorage.removeItem('lifeline-portal-reached')"
    )
    driver.refresh()
    loaded(driver, (By.ID, "offline-da"))
    danish = driver.find_element(By.ID, "offline-da")
    assert danish.is_displayed() and not driver.find_element(By.ID, "offline-en").is_displayed()
    assert "Portalen kan ikke nås lige nu" in danish.text and "ring 112" in danish.text
    assert not danish.find_element(By.CSS_SELECTOR, ".offline-reached").is_displayed()
    assert driver.execute_script("return document.documentElement.lang") == "da"
    driver.execute_script("localStorage.clear()")
