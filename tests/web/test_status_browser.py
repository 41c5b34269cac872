"""/status in a real browser (headless Chromium) at a phone's size during an incident, with the
Content-Security-Policy in force: the incident and its expected restoration time come first,
nothing is wider than the screen, no violation on the console. With LIFELINE_SHOTS set to a
folder, the page is also photographed there at a desktop's and a phone's size."""

from __future__ import annotations

import os
from pathlib import Path

from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from lifeline.identity.sites import add_site
from lifeline.status import incidents
from lifeline.status.board import board_of
from tests.web.test_login_browser import Site, chromium, driver, loaded, site  # noqa: F401
from tests.web.test_pages_browser import console, violations

SIZES = {"desktop": (1366, 900), "phone": (390, 844)}


def _during_an_incident(site: Site) -> None:  # noqa: F811 - the fixture
    service = site.service
    add_site(service.repo, "herlev", "https://herlev.example")
    past = incidents.open_incident(
        service.repo, title="Search was slow", impact="minor", components=["search"], text="Searches take long",
        author="operator:a", clock=service.clock,
    )  # fmt: skip
    incidents.update_incident(service.repo, past.id, status="resolved", text="Index rebuilt", author="operator:a",
                              clock=service.clock)  # fmt: skip
    now = incidents.instant(service.clock())
    opened = incidents.open_incident(
        service.repo, title="Herlev cannot reach the centre", impact="major",
        components=["replication:herlev", "record"], text="Herlev's link to the centre is down; Herlev works on "
        "its own and its changes wait there.", author="operator:a", clock=service.clock,
        expected_back=now[:11] + "18:30:00Z",
    )  # fmt: skip
    incidents.update_incident(
        service.repo, opened.id, status="identified", author="operator:a", clock=service.clock,
        text="A fibre cut between Herlev and the data centre; the carrier is on site.",
    )  # fmt: skip
    board = board_of(str(service.settings.node_id))
    assert board is not None
    board.forget()


def test_the_status_page_during_an_incident_on_a_phone(driver: WebDriver, site: Site) -> None:  # noqa: F811
    _during_an_incident(site)
    console(driver)
    driver.set_window_size(*SIZES["phone"])
    driver.get(site.base + "/status")
    loaded(driver, (By.ID, "open-incidents"))
    assert "Partial outage" in driver.find_element(By.ID, "overall").text
    eta = driver.find_element(By.CSS_SELECTOR, ".incident .eta")
    assert eta.text.startswith("Expected back:") and eta.location["y"] < 844 * 1.5
    assert int(driver.execute_script("return document.documentElement.scrollWidth")) <= 390
    row = driver.find_element(By.ID, "component-replication-herlev").text
    assert "Replication to herlev" in row and "Partial outage" in row
    entries = console(driver)
    assert not violations(entries), violations(entries)
    assert not [e for e in entries if e["level"] == "SEVERE"], entries
    folder = os.environ.get("LIFELINE_SHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        for size, (width, height) in SIZES.items():
            driver.set_window_size(width, height)
            full = int(driver.execute_script("return document.documentElement.scrollHeight"))
            driver.set_window_size(width, max(height, full + 140))
            driver.save_screenshot(str(Path(folder) / f"status-{size}.png"))
    driver.set_window_size(*SIZES["desktop"])
