"""The README's screenshots of the clinician's pages, taken in headless Chromium from a running
`make demo` (the demo region on the embedded database), at a desktop and a phone size.

    .venv/bin/python tools/screenshots.py [--db sqlite:///var/lifeline.db] [--base http://127.0.0.1:8080]

It logs in as the demo ward physician by writing a session straight into the node's session store
(as the page tests do: a documentation tool, not a way in), opens the first patient of their ward
and saves each page under docs/screenshots/<page>-desktop.png and -phone.png.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import httpx
from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service

from lifeline.config import from_environment
from lifeline.fhir.service import FhirService
from lifeline.identity import records
from lifeline.identity.sessions import STAFF, Sessions
from lifeline.storage import open_repository
from lifeline.web.login import COOKIE

SIZES = {"desktop": (1366, 900), "phone": (390, 844)}
# name -> the page, `{id}` the patient's; pages that scroll are taken whole on the desktop.
PAGES = {
    "worklist": "/patients",
    "finder": "/find?q=s%C3%B8ren",
    "chart": "/patients/{id}",
    "results": "/patients/{id}/results",
    "vitals": "/patients/{id}/vitals",
    "notes": "/patients/{id}/notes",
    "imaging": "/patients/{id}/imaging",
    "timeline": "/patients/{id}/timeline",
    "medication": "/patients/{id}/medication",
    "record-vitals": "/patients/{id}/vitals/record",
    "orders": "/patients/{id}/orders",
    "give": "/patients/{id}/medication/give",
    # Patient logistics (issue 24), each as the demo login who works there (--user); the tests take
    # the same pages over their own small data as clinic-list-*.png, theatre-board-*.png, ...
    "demo-clinic-list": "/clinics",
    "demo-theatre-board": "/theatres",
    "demo-bed-board": "/wards/{ward}",
    "demo-reduce": "/logistics/reduce",
}


def session_cookie(db: str, username: str) -> str:
    settings = from_environment(db=db)
    repo = open_repository(settings.db, node_id=settings.node_id)
    try:
        service = FhirService(repo, settings)
        user = records.get_user(repo, username)
        if user is None:
            raise SystemExit(f"screenshots: no login {username!r} in {db} (run make demo first)")
        sessions = Sessions(repo, service.identity.state, settings.threat_level)
        return sessions.create(STAFF, username=username, fhir_user=f"Practitioner/{user.practitioner}").id
    finally:
        repo.close()


def shown_patient(base: str, cookie: str) -> str:
    """An inpatient of the physician's ward, one with imaging studies where there is one (so
    every part of the chart has something to show)."""
    with httpx.Client(base_url=base, cookies={COOKIE: cookie}, timeout=30) as client:
        answer = client.get("/patients", params={"_format": "json"})
        answer.raise_for_status()
        ids = [str(row["id"]) for row in answer.json().get("inpatients", []) if row.get("id")]
        if not ids:
            raise SystemExit("screenshots: the physician's ward has no inpatient today")
        for patient in ids:
            if client.get(f"/patients/{patient}/imaging", params={"_format": "json"}).json().get("studies"):
                return patient
    return ids[0]


def first_ward(base: str, cookie: str) -> str:
    """The first ward of the login's own departments (the bed board's)."""
    with httpx.Client(base_url=base, cookies={COOKIE: cookie}, timeout=30) as client:
        answer = client.get("/wards", params={"_format": "json"})
        answer.raise_for_status()
        mine = answer.json().get("mine") or []
        if not mine:
            raise SystemExit("screenshots: the login has no ward of its own")
        return str(mine[0]["id"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", default="sqlite:///var/lifeline.db")
    parser.add_argument("--base", default="http://127.0.0.1:8080")
    parser.add_argument("--user", default="rh.kard.physician1")
    parser.add_argument("--out", type=Path, default=Path("docs/screenshots"))
    parser.add_argument("--only", nargs="*", default=list(PAGES))
    chosen = parser.parse_args()
    cookie = session_cookie(chosen.db, chosen.user)
    patient = shown_patient(chosen.base, cookie) if any("{id}" in PAGES[n] for n in chosen.only) else ""
    ward = first_ward(chosen.base, cookie) if any("{ward}" in PAGES[n] for n in chosen.only) else ""
    options = Options()
    options.binary_location = "/usr/bin/chromium"  # Debian's, as `make browser` installs it
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--lang=en"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    try:
        driver.get(f"{chosen.base}/static/missing")  # a page of the node's, to set its cookie on
        driver.add_cookie({"name": COOKIE, "value": cookie, "path": "/", "httpOnly": True})
        chosen.out.mkdir(parents=True, exist_ok=True)
        for name in chosen.only:
            for size, (width, height) in SIZES.items():
                driver.set_window_size(width, height)
                driver.get(chosen.base + PAGES[name].replace("{id}", patient).replace("{ward}", ward))
                time.sleep(0.5)  # the charts' images and the finder's script
                shot = chosen.out / f"{name}-{size}.png"
                driver.save_screenshot(str(shot))
                print(shot)
    finally:
        driver.quit()


if __name__ == "__main__":
    main()
