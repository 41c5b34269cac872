"""The theatre board in a real browser (headless Chromium) with the Content-Security-Policy in
force: the coordinator sees the day's theatres as a timeline, a conflict outlined, moves a case
to another theatre and time through its form and sees the block move; a move into a taken
theatre is refused beside the form with nothing changed; no violation on the console. With
LIFELINE_SHOTS=docs/screenshots, the screenshots theatre-board-desktop.png and
theatre-board-phone.png are taken here."""

from __future__ import annotations

from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import Select

from tests.fhir.rules.test_theatres import ROLE_CODE, book, case, put, ref, theatre_site
from tests.web.browser import photograph
from tests.web.test_login_browser import (  # noqa: F401 - fixtures
    Site,
    chromium,
    driver,
    first_login,
    loaded,
    site,
)
from tests.web.test_login_pages import add_user
from tests.web.test_pages_browser import console, violations


def block_x(browser: WebDriver, lane: str, case_id: str) -> str | None:
    blocks = browser.find_elements(By.CSS_SELECTOR, f"#lane-{lane} a[data-case='{case_id}'] svg")
    return blocks[0].get_attribute("x") if blocks else None


def move(browser: WebDriver, case_id: str, when: str, theatre: str) -> None:
    browser.execute_script(f"document.getElementById('time-{case_id}').value = arguments[0]", when)
    Select(browser.find_element(By.ID, f"theatre-{case_id}")).select_by_value(theatre)
    browser.find_element(By.CSS_SELECTOR, f"#case-{case_id} .case-move button").click()


def test_a_case_is_moved_on_the_board(driver: WebDriver, site: Site) -> None:  # noqa: F811
    plan = theatre_site(site.service)
    i = plan.id
    book(site.service, case(plan, "a", 1, 1, plan.at(8), 90, priority="stat"))
    book(site.service, case(plan, "b", 2, 1, plan.at(10), 150, surgeon="surgeon2"))
    book(site.service, case(plan, "c", 3, 2, plan.at(13), 60, surgeon="surgeon2", priority="urgent"))
    # A conflict that stood before the room was a theatre: the board shows it.
    put(site.service, {"resourceType": "Location", "id": i("or3"), "name": "Operationsstue 3"})
    put(
        site.service,
        {"resourceType": "Schedule", "id": i("sch3"), "active": True, "actor": [ref(f"Location/{i('or3')}")]},
    )
    for name, patient, start, minutes in (("d", 4, plan.at(9), 120), ("e", 1, plan.at(15), 90)):
        resources = case(plan, name, patient, 3, start, minutes, surgeon="surgeon2")
        resources[2]["participant"] = resources[2]["participant"][:2] + resources[2]["participant"][3:]
        book(site.service, resources)
    put(
        site.service,
        {
            "resourceType": "Location",
            "id": i("or3"),
            "name": f"Operationsstue 3, Hospital {plan.tag}",
            "type": [{"coding": [{"system": ROLE_CODE, "code": "OR"}]}],
            "partOf": ref(f"Location/{i('dept')}"),
            "managingOrganization": ref(f"Organization/{i('anae')}"),
        },
    )
    late = case(plan, "f", 2, 3, plan.at(16, 30), 60, surgeon="surgeon2")
    late[2]["participant"] = late[2]["participant"][:2] + late[2]["participant"][3:]
    book(site.service, late[:2])
    late[2]["participant"][2]["actor"] = ref(f"Location/{i('or3')}", "Operationsstue 3")
    put(site.service, {**late[2]})  # 16:30 in theatre 3: free

    first_login(driver, site, add_user(site.service, practitioner=i("anaesthetist")))
    console(driver)
    driver.set_window_size(1280, 800)
    driver.get(f"{site.base}/theatres?day={plan.day.isoformat()}&site={i('site')}")
    loaded(driver, (By.ID, "board"))
    assert block_x(driver, i("or2"), i("app-c")) == f"{100 * 360 / 960:.3f}".rstrip("0").rstrip(".") + "%"
    assert "Conflict" in driver.find_element(By.ID, f"lane-{i('or3')}").text or driver.find_elements(
        By.CSS_SELECTOR, f"#lane-{i('or3')} .block-conflict"
    )
    photograph(driver, "theatre-board-desktop.png", 1280, 800)

    move(driver, i("app-c"), "19:00", i("or2"))
    loaded(driver, (By.CSS_SELECTOR, f"#case-{i('app-c')}.case-done"), f"case-{i('app-c')}-refused")
    assert block_x(driver, i("or2"), i("app-c")) == "75.0%"
    assert driver.find_element(By.CSS_SELECTOR, f"#case-{i('app-c')} .case-time").text == "19:00-20:00"

    move(driver, i("app-c"), "11:00", i("or1"))  # theatre 1 is taken 10:00-12:30
    loaded(driver, (By.ID, f"case-{i('app-c')}-refused"))
    refusal = driver.find_element(By.ID, f"case-{i('app-c')}-refused").text
    assert "Operationsstue 1 is taken 10:00-12:30 by another case" in refusal and "Patient2" not in refusal
    assert block_x(driver, i("or2"), i("app-c")) is not None and block_x(driver, i("or1"), i("app-c")) is None

    driver.get(f"{site.base}/theatres?day={plan.day.isoformat()}&site={i('site')}")
    loaded(driver, (By.ID, "board"))
    photograph(driver, "theatre-board-phone.png", 390, 844)
    assert not driver.find_element(By.ID, "board").is_displayed()  # on a phone: the list
    assert driver.find_element(By.ID, f"case-{i('app-c')}").is_displayed()
    driver.set_window_size(1366, 900)
    entries = console(driver)
    assert not violations(entries), violations(entries)
