"""The portal as an installable app (web/pages/portal/installable.py, issue 25), without a browser:
the manifest's content, the offline page (public, naming no one, in both languages) and what the
service worker keeps — read from its script: nothing under /portal but the offline page. The worker
at work in a real browser: tests/web/test_portal_app_browser.py."""

from __future__ import annotations

import json
import re

from lifeline.fhir.service import FhirService
from lifeline.identity.sessions import PATIENT
from lifeline.web import assets
from lifeline.web.pages.portal import installable
from tests.web.pages.test_chart import Ward
from tests.web.pages.test_portal import patient_browser, ward  # noqa: F401 - the fixture
from tests.web.test_login_pages import browser
from tests.web.test_middleware import logged_in_as


def test_the_manifest_installs_the_portal_with_its_icons(service: FhirService) -> None:
    with browser(service) as web:
        answer = web.get("/portal/manifest.webmanifest")
        assert answer.status_code == 200
        assert answer.headers["content-type"] == "application/manifest+json"
        assert answer.headers["cache-control"] == "no-cache"  # a release's new icon names are seen at once
        found = answer.json()
        for icon in found["icons"]:
            image = web.get(icon["src"])
            assert image.status_code == 200 and image.headers["content-type"] == "image/png", icon
            width, height = int.from_bytes(image.content[16:20], "big"), int.from_bytes(image.content[20:24], "big")
            assert f"{width}x{height}" == icon["sizes"], icon  # the PNG's IHDR says what the manifest says
        danish = web.get("/portal/manifest.webmanifest", params={"lang": "da"}).json()
        unknown = web.get("/portal/manifest.webmanifest", params={"lang": "xx"}).json()
    assert found["name"] == "Lifeline: my health record" and found["short_name"] == "Lifeline"
    assert (found["start_url"], found["scope"], found["id"]) == ("/portal", "/portal", "/portal")
    assert found["display"] == "standalone"
    css = assets.manifest()["app.css"].body.decode()
    for key, variable in (("theme_color", "--ink"), ("background_color", "--wash")):
        assert f"{variable}: {found[key]};" in css, key  # the stylesheet's own colours
    assert sorted((icon["sizes"], icon["purpose"]) for icon in found["icons"]) == [
        ("192x192", "any"),
        ("512x512", "any"),
        ("512x512", "maskable"),
    ]
    assert (danish["lang"], danish["name"]) == ("da", "Lifeline: min journal")
    assert unknown["lang"] == "en"


def test_the_worker_keeps_only_the_offline_page_and_static_files(service: FhirService) -> None:
    with browser(service) as web:
        answer = web.get("/portal/worker.js")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/javascript")
    assert answer.headers["service-worker-allowed"] == "/portal"  # its scope may cover /portal itself
    assert answer.headers["cache-control"] == "no-cache"
    script = answer.text
    kept = re.search(r"^const FILES = (\[.*\]);$", script, re.MULTILINE)
    assert kept is not None
    files = [str(name) for name in json.loads(kept.group(1))]
    assert [name for name in files if not name.startswith("/static/")] == ["/portal/offline"]
    assert {assets.static(name) for name in installable.OFFLINE_FILES} <= set(files)
    # One place writes to a cache, the install step, with FILES; a navigation is answered from the
    # network, and from the cache only with the offline page; static files only if in FILES.
    assert re.findall(r"cache\.\w+\(", script) == ["cache.addAll("]
    assert "cache.put" not in script and "caches.match(OFFLINE" in script
    assert re.findall(r"caches\.match\((\w+(?:\.\w+)?)", script) == ["OFFLINE", "url.pathname"]
    assert 'FILES.includes(url.pathname) && url.pathname.startsWith("/static/")' in script


def test_a_new_release_gets_a_new_cache(service: FhirService) -> None:
    before = installable.worker_script()
    assert re.search(r'^const CACHE = "lifeline-portal-[0-9a-f]{12}";$', before, re.MULTILINE)
    assert installable.worker_script() == before  # the same files: the same worker, no reinstall


def test_the_offline_page_says_the_portal_is_unreachable_in_both_languages(service: FhirService) -> None:
    with browser(service) as web:
        english = web.get("/portal/offline")
        danish = web.get("/portal/offline", headers={"Accept-Language": "da"})
    assert english.status_code == 200 and english.headers["cache-control"] == "no-cache"
    page = english.text
    assert "The portal cannot be reached right now" in page and "Portalen kan ikke nås lige nu" in page
    assert page.index('id="offline-en"') < page.index('id="offline-da"')  # the reader's language first
    assert danish.text.index('id="offline-da"') < danish.text.index('id="offline-en"')
    assert "call 112" in page and "ring 112" in page
    assert "you are offline" not in page.lower()  # the device's connection only if the browser says so
    assert re.search(r'<p class="offline-device" hidden>', page)
    assert 'rel="manifest"' not in page and assets.static("portal-app.js") not in page  # kept: no registering itself
    assert assets.static("portal-offline.js") in page
    assert "<script>" not in page  # no inline script (the CSP)


def test_the_offline_page_names_no_one_even_when_a_patient_asks(service: FhirService, ward: Ward) -> None:  # noqa: F811
    with browser(service) as web:
        logged_in_as(service, web, PATIENT, fhir_user=f"Patient/{ward.mine}", patient=ward.mine, username="karen")
        offline = web.get("/portal/offline")
        record = web.get("/portal")
    assert offline.status_code == 200 and record.status_code == 200
    assert "Karen Sørensen" in record.text and "Karen Sørensen" not in offline.text
    assert 'id="who"' not in offline.text and "Log out" not in offline.text
    assert ward.mine not in offline.text


def test_only_a_patients_portal_pages_link_the_manifest_and_the_worker(service: FhirService, ward: Ward) -> None:  # noqa: F811
    web, _ = patient_browser(service, ward.mine)
    with web:
        record, results = web.get("/portal").text, web.get("/portal/results").text
    with browser(service) as anonymous:
        login = anonymous.get("/login").text
    link = '<link rel="manifest" href="/portal/manifest.webmanifest?lang=en">'
    for page in (record, results):
        assert link in page and assets.static("portal-app.js") in page
    assert "manifest" not in login and assets.static("portal-app.js") not in login
