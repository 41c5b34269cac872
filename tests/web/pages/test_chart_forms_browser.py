"""The chart's forms that record care in a real browser (headless Chromium) with the
Content-Security-Policy in force: a doctor records a set of vital signs and finds them in the
flowsheet after the redirect; an order's form is sent twice (once by a script, as a retry after a
lost answer would, then by a double click on Save) and the order is there once; a dose is
recorded against a prescription; no violation on the console. At a hospital's site node, a set of
vital signs recorded twice reaches the centre once."""

from __future__ import annotations

import httpx
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import Select

from lifeline.fhir.request import FhirRequest
from lifeline.identity import records
from lifeline.identity.principal import OPERATOR
from lifeline.web.pages.chart import form_key
from tests.replication.nodes import CentralNode, SiteNode, wait_until
from tests.web.browser import press
from tests.web.pages.test_chart import admitted_patient
from tests.web.pages.test_chart_site_browser import region  # noqa: F401
from tests.web.test_login_browser import Site, chromium, driver, first_login, loaded, site  # noqa: F401
from tests.web.test_login_pages import add_user
from tests.web.test_pages_browser import console, violations

SEND_THE_FORM = """
const done = arguments[arguments.length - 1];
const form = document.getElementById("order-form");
fetch(form.action, {method: "POST", body: new URLSearchParams(new FormData(form)), redirect: "manual"})
  .then((answer) => done(answer.type), (error) => done(String(error)));
"""


def test_vital_signs_and_an_order_recorded_once(driver: WebDriver, site: Site) -> None:  # noqa: F811 - the fixture
    ward = admitted_patient(site.service)
    staff = add_user(site.service, practitioner=ward.doctor)
    first_login(driver, site, staff)
    console(driver)
    driver.get(f"{site.base}/patients/{ward.mine}/vitals")
    loaded(driver, (By.ID, "record-vitals"))
    driver.find_element(By.ID, "record-vitals").click()  # the flowsheet links to its form
    loaded(driver, (By.ID, "vitals-form"))
    for name, value in {"systolic": "138", "diastolic": "84", "pulse": "92", "temp": "38,2"}.items():
        driver.find_element(By.ID, f"vitals-{name}").send_keys(value)
    press(driver, "vitals-save")
    loaded(driver, (By.ID, "flowsheet"), "vitals-problems")
    assert driver.current_url.endswith(f"/patients/{ward.mine}/vitals#flowsheet")
    assert "138/84" in driver.find_element(By.ID, "row-85354-9").text
    assert "92" in driver.find_element(By.ID, "row-8867-4").text
    assert "38.2" in driver.find_element(By.ID, "row-8310-5").text

    driver.execute_script("window.scrollTo(0, 0)")  # the tabs, under the header that stays on top
    driver.find_element(By.CSS_SELECTOR, "#part-orders a").click()  # the chart's tab
    loaded(driver, (By.ID, "order-form"))
    Select(driver.find_element(By.ID, "order-code")).select_by_value("36643-5")
    press(driver, "order-priority-urgent")
    driver.find_element(By.ID, "order-reason").send_keys("Feber. Pneumoni?")
    sent = driver.execute_async_script(SEND_THE_FORM)  # the same form, sent before the click
    assert sent == "opaqueredirect", sent
    button = driver.find_element(By.ID, "order-save")
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", button)
    ActionChains(driver).double_click(button).perform()
    loaded(driver, (By.ID, "written"), "order-problems")
    driver.get(f"{site.base}/patients/{ward.mine}/orders")
    loaded(driver, (By.ID, "open-orders"))
    rows = [r.text for r in driver.find_elements(By.CSS_SELECTOR, "#open-orders tbody tr")]
    assert sum("Røntgen af thorax" in r for r in rows) == 1, rows
    asking = FhirRequest("search", "ServiceRequest", params=[("patient", ward.mine), ("code", "36643-5")])
    asking.principal = OPERATOR
    assert len((site.service.handle(asking).resource or {}).get("entry", [])) == 1

    driver.get(f"{site.base}/patients/{ward.mine}/medication/give?request=med2-{ward.tag}")
    loaded(driver, (By.ID, "give-form"))
    assert driver.find_element(By.ID, "give-dose").get_attribute("value") == "50"
    Select(driver.find_element(By.ID, "give-route")).select_by_value("26643006")
    press(driver, "give-save")
    loaded(driver, (By.ID, "given-table"), "give-problems")
    assert f"/patients/{ward.mine}/medication" in driver.current_url
    assert "Metoprolol" in driver.find_element(By.ID, "given-table").text  # the dose just given
    assert driver.find_element(By.ID, "record-given").get_attribute("href").endswith("/medication/give")

    entries = console(driver)
    assert not violations(entries), violations(entries)
    assert not [e for e in entries if e["level"] == "SEVERE"], entries


SEND_THE_VITALS = SEND_THE_FORM.replace('"order-form"', '"vitals-form"')


def test_vital_signs_recorded_at_a_site_reach_the_centre_once(
    driver: WebDriver,  # noqa: F811 - the fixture
    region: tuple[CentralNode, SiteNode, Site],  # noqa: F811 - the fixture
) -> None:
    """At a hospital's site node, connected: the set is written through to the centre in its one
    transaction, and the same form sent twice is one set there too."""
    central, site_node, served = region
    ward = admitted_patient(central.service)  # the record lives at the centre
    staff = add_user(central.service, practitioner=ward.doctor)
    wait_until(lambda: records.get_user(site_node.repo, staff.username) is not None, what="the user at the site")
    wait_until(
        lambda: site_node.node.status()["behind"] == 0 and site_node.node.mode == "connected", what="the site caught up"
    )
    first_login(driver, served, staff)
    driver.get(f"{served.base}/patients/{ward.mine}/vitals/record")
    loaded(driver, (By.ID, "vitals-form"))
    for name, value in {"systolic": "141", "diastolic": "86", "spo2": "95"}.items():
        driver.find_element(By.ID, f"vitals-{name}").send_keys(value)
    assert driver.execute_async_script(SEND_THE_VITALS) == "opaqueredirect"
    press(driver, "vitals-save")
    loaded(driver, (By.ID, "flowsheet"), "vitals-problems")
    assert "141/86" in driver.find_element(By.ID, "row-85354-9").text
    answer = httpx.get(
        f"{central.url}/fhir/Observation",
        params={"patient": ward.mine, "category": "vital-signs", "identifier": f"{form_key.KEY_SYSTEM}|"},
        headers={"Authorization": f"Bearer {central.token()}"},
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
    at_centre = [e["resource"] for e in answer.json().get("entry", []) if e["resource"].get("identifier")]
    assert sorted(o["code"]["coding"][0]["code"] for o in at_centre) == ["59408-5", "85354-9"]
