"""Who looked, and the download, in a real browser (headless Chromium) under the
Content-Security-Policy (issue 25): a doctor breaks the glass to open a patient's chart; the
patient logs in through the real OpenID Connect provider, opens the access log and finds the
access with the reason given, tries a bad date (said beside the field), and downloads the PDF,
whose pages poppler renders and whose text holds the sections. With LIFELINE_SHOTS set to a
folder (docs/screenshots), each page is photographed as portal-access-log-<page>-<size>.png at a
desktop's (1280x900) and a phone's (390x844) size."""

from __future__ import annotations

import subprocess
from pathlib import Path

import httpx
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from tests.identity.citizen_provider import PROVIDER_WARNINGS, CitizenProvider
from tests.web.pages.portal.test_access_log import REASON, looked_at
from tests.web.pages.test_portal_browser import SIZES, log_in_as_citizen, photographed, provider, site  # noqa: F401
from tests.web.test_login_browser import Site, chromium, driver, loaded  # noqa: F401
from tests.web.test_pages_browser import console, violations

pytestmark = PROVIDER_WARNINGS
THEIRS_CPR = "0101701235"  # admitted_patient's patient outside the doctor's care


def test_the_patient_sees_the_broken_glass_and_downloads_the_pdf(
    driver: WebDriver,  # noqa: F811
    site: Site,  # noqa: F811
    provider: CitizenProvider,  # noqa: F811
    tmp_path: Path,
) -> None:
    ward = looked_at(site.service)
    provider.add_citizen({"cpr": THEIRS_CPR, "name": "Ole Fremmed"}, subject=f"ole-{ward.tag}")
    driver.set_window_size(*SIZES["desktop"])
    log_in_as_citizen(driver, site, provider, f"ole-{ward.tag}")

    driver.get(f"{site.base}/portal/access-log")
    loaded(driver, (By.ID, "accesses"))
    listed = driver.find_element(By.ID, "accesses").text
    assert "Asta Møller" in listed and REASON in listed and "Break the glass" in listed
    assert f"Aarhus Universitetshospital {ward.tag}" in listed
    assert driver.find_elements(By.CSS_SELECTOR, ".access-entry.broken-glass")
    assert "What does “break the glass” mean?" in driver.find_element(By.ID, "about-break-the-glass").text
    photographed(driver, "access-log")

    # As the date picker leaves them (typing into a date field follows the browser's locale).
    for field, day in (("from-input", "2026-12-01"), ("to-input", "2026-11-01")):
        driver.execute_script("arguments[0].value = arguments[1]", driver.find_element(By.ID, field), day)
    driver.find_element(By.ID, "show-period").click()
    loaded(driver, (By.ID, "to-error"))
    assert "before the start date" in driver.find_element(By.ID, "to-error").text
    assert not driver.find_elements(By.ID, "accesses")
    photographed(driver, "access-log-bad-date")

    driver.get(f"{site.base}/portal/download")
    loaded(driver, (By.ID, "download-pdf"))
    photographed(driver, "access-log-download")
    link = str(driver.find_element(By.ID, "download-pdf").get_attribute("href"))
    assert violations(console(driver)) == []
    # The file as the browser's session fetches it (headless Chromium saves downloads nowhere).
    cookies = {c["name"]: c["value"] for c in driver.get_cookies()}
    pdf = httpx.get(link, cookies=cookies, timeout=30)
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    path = tmp_path / "record.pdf"
    path.write_bytes(pdf.content)
    subprocess.run(["pdftoppm", "-r", "40", "-png", str(path), str(tmp_path / "page")], check=True)
    assert sorted(p.name for p in tmp_path.glob("page-*.png"))
    text = subprocess.run(["pdftotext", str(path), "-"], check=True, capture_output=True, text=True).stdout
    for heading in ("Contact details", "Allergies", "Diagnoses", "Medication", "Vaccinations", "Appointments"):
        assert heading in text
    assert ward.theirs_name in text and "Karen Sørensen" not in text
