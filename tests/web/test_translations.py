"""English and Danish pages (web/i18n.py): the remembered choice, Accept-Language without one, and
a Danish text for every message the templates use (the .po is read at start; no .mo to fall behind)."""

from __future__ import annotations

from importlib.resources import files

from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from lifeline.fhir.service import FhirService
from lifeline.web import i18n
from tests.web.test_login_pages import browser


def test_danish_chosen_gives_danish_pages_and_the_choice_is_remembered(service: FhirService) -> None:
    with browser(service) as web:
        assert "Log in to Lifeline" in web.get("/login").text
        switch = web.get("/language", params={"to": "da", "next": "/login"})
        assert (switch.status_code, switch.headers["location"]) == (303, "/login")
        cookie = switch.headers["set-cookie"]
        assert cookie.startswith(f"{i18n.COOKIE}=da;") and "Max-Age=31536000" in cookie and "SameSite=lax" in cookie
        login = web.get("/login").text  # the cookie, from now on
        assert "Log ind i Lifeline" in login and "Brugernavn" in login and '<html lang="da">' in login
        assert "Velkommen" not in login and "Til systemer" in web.get("/").text
        assert "Siden findes ikke" in web.get("/no/such/page").text
        web.get("/language", params={"to": "en", "next": "/"})
        assert "Log in to Lifeline" in web.get("/login").text


def test_the_browser_language_decides_until_a_choice_is_made(service: FhirService) -> None:
    with browser(service) as web:
        assert "Log ind i Lifeline" in web.get("/login", headers={"Accept-Language": "da-DK,da;q=0.9,en;q=0.5"}).text
        assert "Log in to Lifeline" in web.get("/login", headers={"Accept-Language": "fr, en;q=0.4"}).text
        assert "Log in to Lifeline" in web.get("/login", headers={"Accept-Language": "en;q=0.9, da;q=0.1"}).text
        web.get("/language", params={"to": "en"})
        assert "Log in to Lifeline" in web.get("/login", headers={"Accept-Language": "da"}).text


def test_no_open_redirect_and_no_unknown_language(service: FhirService) -> None:
    with browser(service) as web:
        assert web.get("/language", params={"to": "da", "next": "//evil.example/"}).headers["location"] == "/"
        refused = web.get("/language", params={"to": "xx"})
        assert refused.status_code == 400 and i18n.COOKIE not in refused.headers.get("set-cookie", "")


def test_chosen_language() -> None:
    assert i18n.chosen("da", "en") == "da"
    assert i18n.chosen("klingon", "da-DK") == "da"
    assert i18n.chosen(None, None) == "en"
    assert i18n.chosen(None, "en-GB,en;q=0.8,da;q=0.5") == "en"


def test_every_message_of_the_templates_has_a_danish_text() -> None:
    root = files("lifeline.web")
    method_map = [("templates/**.html", "jinja2")]
    options = {"templates/**.html": {"extensions": "jinja2.ext.i18n"}}
    used = {message for _, _, message, *_ in extract_from_dir(str(root), method_map, options)}
    with root.joinpath("translations/da/LC_MESSAGES/messages.po").open("rb") as po:
        catalog = read_po(po)
    missing = sorted(str(m) for m in used if not catalog.get(m) or not catalog[m].string)
    assert not missing, f"no Danish for: {missing} (pybabel extract/update, see messages.po's header)"
    assert not [m.id for m in catalog if m.id and m.fuzzy], "fuzzy translations are not shown: review them"
    assert len(used) > 50
