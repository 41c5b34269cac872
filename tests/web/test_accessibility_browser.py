"""The portal and the login page against WCAG 2.1 A and AA (issue 25), in headless Chromium at a
phone's size and a desktop's: axe-core's rules tagged wcag2a, wcag2aa, wcag21a and wcag21aa on
every portal page, and two checks axe cannot make: every button and link of the portal that is
not a link inside a sentence is at least 44 x 44 CSS px (WCAG 2.5.5, which the portal keeps for
phones), and every element the keyboard reaches shows its focus (2.4.7).

axe-core is Deque's engine, the one behind most accessibility checkers, taken from the npm
registry at a pinned version and checked against its pinned integrity, fetched once with npm into
pytest's cache (the Python wrappers on PyPI that bundle it, axe-selenium-python among them, have
not followed axe-core for years). Its script is run by the driver, which the page's CSP does not
govern; the pages keep their policy.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import subprocess
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver

from tests.identity.citizen_provider import PROVIDER_WARNINGS, CitizenProvider
from tests.web.pages.portal.test_access_log import looked_at
from tests.web.pages.portal.test_messages import conversation
from tests.web.pages.portal.test_notes_and_scans import note, pathology
from tests.web.pages.test_chart import Ward, put
from tests.web.pages.test_portal import add_portal_data
from tests.web.pages.test_portal_browser import CPR, SIZES, log_in_as_citizen, provider, site  # noqa: F401
from tests.web.test_login_browser import Site, chromium, driver, loaded  # noqa: F401

pytestmark = PROVIDER_WARNINGS
AXE_VERSION = "4.14.1"
AXE_INTEGRITY = "sha512-FHfa+lmNjQZfJz1q8wKqIDwC6DExcHt/pkjNQb09a3NPjCKg2rhu5qb2S4r76ASyFNNtuFooJpZe37OgudVGtQ=="
WCAG_21_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
PORTAL_PAGES = {
    "/portal": "portal-title",
    "/portal/results": "tests",
    "/portal/results?code=2823-3": "trend-values",
    "/portal/appointments": "past",
    "/portal/notes": "notes",
    "/portal/imaging": "nav-imaging",
    "/portal/messages": "threads",
    "/portal/messages/t-{tag}": "messages",
    "/portal/access-log": "show-period",
    "/portal/download": "main",
    "/portal/contact": "phone-input",
    "/portal/offline": "offline-en",
}
TOUCH_PX = 44
RUN_AXE = """
const done = arguments[arguments.length - 1];
axe.run(document, {runOnly: {type: "tag", values: arguments[0]}, resultTypes: ["violations"]})
  .then((found) => done(JSON.stringify(found.violations)))
  .catch((error) => done(JSON.stringify([{id: "axe-failed", help: String(error), nodes: []}])));
"""
# Buttons and links smaller than 44 x 44, but for a link inside a sentence (2.5.5's "inline").
SMALL_TARGETS = """
const inline = (a) => a.tagName === "A" && a.parentElement.textContent.trim() !== a.textContent.trim()
  && getComputedStyle(a).display === "inline";
const targets = "main a[href], main button, nav a[href], nav button, header a, header button";
return Array.from(document.querySelectorAll(targets))
  .filter((el) => el.getClientRects().length > 0 && !inline(el))
  .map((el) => [el.id || el.textContent.trim(), el.getBoundingClientRect()])
  .filter(([, box]) => box.width < arguments[0] || box.height < arguments[0])
  .map(([name, box]) => `${name}: ${Math.round(box.width)}x${Math.round(box.height)}`);
"""
FOCUS_SHOWN = """
const el = document.activeElement, style = getComputedStyle(el);
const outlined = style.outlineStyle !== "none" && parseFloat(style.outlineWidth) > 0;
return [el.id || el.tagName + ":" + el.textContent.trim().slice(0, 30), outlined || style.boxShadow !== "none"];
"""


def npm_axe(folder: Path) -> Path:
    """axe.min.js of AXE_VERSION in `folder`, packed by npm once and checked against AXE_INTEGRITY."""
    script = folder / "axe.min.js"
    if script.exists():
        return script
    npm = shutil.which("npm")
    if npm is None:
        reason = "npm is not installed (apt-get install npm): it fetches axe-core for the accessibility tests"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    packed = subprocess.run(
        [npm, "pack", f"axe-core@{AXE_VERSION}", "--pack-destination", str(folder), "--json"],
        check=True,
        capture_output=True,
        text=True,
        timeout=300,
    )
    tarball = folder / json.loads(packed.stdout)[0]["filename"]
    digest = "sha512-" + base64.b64encode(hashlib.sha512(tarball.read_bytes()).digest()).decode()
    assert digest == AXE_INTEGRITY, f"axe-core {AXE_VERSION} is not the package pinned here"
    with tarfile.open(tarball) as archive:
        member = archive.extractfile("package/axe.min.js")
        assert member is not None
        script.write_bytes(member.read())
    tarball.unlink()
    return script


@pytest.fixture(scope="session")
def axe_script(request: pytest.FixtureRequest) -> str:
    return npm_axe(request.config.cache.mkdir(f"axe-core-{AXE_VERSION}")).read_text()


def axe_violations(driver: WebDriver, axe: str) -> list[str]:  # noqa: F811
    if not driver.execute_script("return typeof window.axe === 'object'"):
        driver.execute_script(axe)
    found: list[dict[str, Any]] = json.loads(driver.execute_async_script(RUN_AXE, WCAG_21_AA))
    return [
        f"{violation['id']} ({violation['help']}): {[node['target'] for node in violation['nodes']][:5]}"
        for violation in found
    ]


def focus_not_shown(driver: WebDriver) -> list[str]:  # noqa: F811
    """Tab through the page from its top: every element reached must show that it has the focus."""
    driver.execute_script("window.scrollTo(0, 0); document.activeElement.blur()")
    hidden, seen = [], set()
    for _ in range(80):
        ActionChains(driver).send_keys(Keys.TAB).perform()
        name, shown = driver.execute_script(FOCUS_SHOWN)
        if name in seen or name.startswith("BODY:"):
            break
        seen.add(name)
        if not shown:
            hidden.append(name)
    return hidden


def checked(driver: WebDriver, axe: str, where: str) -> list[str]:  # noqa: F811
    """Every problem of the page shown, at each size."""
    problems = []
    for size, (width, height) in SIZES.items():
        driver.set_window_size(width, height)
        problems += [f"{where} {size}: {found}" for found in axe_violations(driver, axe)]
        small = driver.execute_script(SMALL_TARGETS, TOUCH_PX)
        problems += [f"{where} {size}: target under {TOUCH_PX} px: {target}" for target in small]
        problems += [f"{where} {size}: focus not shown: {name}" for name in focus_not_shown(driver)]
    return problems


@pytest.fixture(scope="module")
def karen(site: Site, provider: CitizenProvider) -> Iterator[Ward]:  # noqa: F811
    """A patient with results, a vaccination, appointments, messages and a doctor's look at her
    record, known to the citizen provider: every part of every page has something to show."""
    ward = looked_at(site.service)
    add_portal_data(site.service, ward)
    conversation(site.service, ward)
    for day in (3, 4):
        put(site.service, note(ward, f"a11y-note-{day}", day, "Stuegang.\nHar det godt."))
    put(site.service, pathology(ward))
    provider.add_citizen({"cpr": CPR, "name": "Karen Sørensen"}, subject=f"karen-a11y-{ward.tag}")
    yield ward


def test_the_login_page_meets_wcag_21_aa(driver: WebDriver, site: Site, axe_script: str) -> None:  # noqa: F811
    driver.get(f"{site.base}/login")
    loaded(driver, (By.ID, "login-citizen"))
    problems = checked(driver, axe_script, "/login")
    assert problems == [], "\n".join(problems)


def test_every_portal_page_meets_wcag_21_aa(
    driver: WebDriver,  # noqa: F811
    site: Site,  # noqa: F811
    provider: CitizenProvider,  # noqa: F811
    karen: Ward,
    axe_script: str,
) -> None:
    driver.set_window_size(*SIZES["desktop"])
    log_in_as_citizen(driver, site, provider, f"karen-a11y-{karen.tag}")
    problems = []
    for path, landmark in PORTAL_PAGES.items():
        driver.get(site.base + path.format(tag=karen.tag))
        loaded(driver, (By.ID, landmark))
        problems += checked(driver, axe_script, path)
    assert problems == [], "\n".join(problems)


def test_the_checker_sees_a_violation(driver: WebDriver, site: Site, axe_script: str) -> None:  # noqa: F811
    """The checks above can fail: a field without its label, a small button and a hidden focus."""
    driver.get(f"{site.base}/portal/offline")
    loaded(driver, (By.ID, "offline-en"))
    driver.execute_script(
        "const main = document.querySelector('main');"
        "main.insertAdjacentHTML('beforeend', '<input type=text id=unlabelled><button id=tiny>x</button>');"
        "document.getElementById('tiny').style.cssText ="
        " 'min-height:0;padding:0;outline:none!important;box-shadow:none!important';"
    )
    driver.set_window_size(*SIZES["phone"])
    assert any(found.startswith("label ") for found in axe_violations(driver, axe_script))
    assert any(target.startswith("tiny: ") for target in driver.execute_script(SMALL_TARGETS, TOUCH_PX))
    assert "tiny" in focus_not_shown(driver)
