"""The page framework in a real browser (headless Chromium) with the Content-Security-Policy in
force: the landing and login pages load their hashed stylesheet and script with no violation on
the console, the stylesheet applies, and an inline style is indeed refused."""

from __future__ import annotations

from typing import Any

from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from tests.web.test_login_browser import Site, chromium, driver, first_login, loaded, site  # noqa: F401
from tests.web.test_login_pages import add_user

TOPBAR_INK = "rgb(27, 36, 48)"  # app.css --ink: the top bar's background


def console(driver: WebDriver) -> list[dict[str, Any]]:  # noqa: F811 - the fixture's name
    """The console's entries since the last call."""
    return list(driver.get_log("browser"))


def violations(entries: list[dict[str, Any]]) -> list[str]:
    return [str(e["message"]) for e in entries if "Content Security Policy" in str(e["message"])]


def styled(driver: WebDriver, selector: str, prop: str) -> str:  # noqa: F811
    return str(driver.execute_script(f"return getComputedStyle(document.querySelector('{selector}')).{prop}"))


def test_the_landing_and_login_pages_keep_the_policy(driver: WebDriver, site: Site) -> None:  # noqa: F811
    console(driver)
    for path, landmark in (("/", "login-staff"), ("/login", "username")):
        driver.get(site.base + path)
        loaded(driver, (By.ID, landmark))
        assert styled(driver, ".topbar", "backgroundColor") == TOPBAR_INK, path
        assert styled(driver, "body", "fontFamily").startswith("system-ui"), path
        entries = console(driver)
        assert not violations(entries), violations(entries)
        assert not [e for e in entries if e["level"] == "SEVERE"], entries

    # The policy is in force: an inline style is refused, and the console says so.
    driver.execute_script(
        "var s = document.createElement('style'); s.textContent = 'body { color: rgb(255, 0, 0) }';"
        "document.head.appendChild(s);"
    )
    assert styled(driver, "body", "color") != "rgb(255, 0, 0)"
    assert violations(console(driver))


def test_a_logged_in_doctor_sees_where_to_go_next(driver: WebDriver, site: Site) -> None:  # noqa: F811
    staff = add_user(site.service)
    first_login(driver, site, staff)
    console(driver)
    driver.get(site.base + "/")
    loaded(driver, (By.ID, "places"))
    assert driver.find_element(By.ID, "who").text.startswith(staff.username)
    assert driver.find_element(By.CSS_SELECTOR, "#place-conflicts a").get_attribute("href") == site.base + "/conflicts"
    assert driver.find_element(By.CSS_SELECTOR, "#place-patients a").get_attribute("href") == site.base + "/patients"
    assert driver.find_element(By.ID, "mode").text == "Regional centre"  # the centre, connected
    assert not violations(console(driver))
    driver.find_element(By.CSS_SELECTOR, "#languages a[lang=da]").click()
    loaded(driver, (By.XPATH, "//h1[starts-with(text(), 'Velkommen')]"))
    driver.find_element(By.CSS_SELECTOR, "form[action='/logout'] button").click()
    loaded(driver, (By.ID, "username"))
    assert driver.find_element(By.TAG_NAME, "h1").text == "Log ind i Lifeline"
