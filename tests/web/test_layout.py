"""The base layout (templates/base.html, web/layout.py): on every page, who is logged in, the node
and its mode, and the warnings a clinician must see — a threat level that is not normal, a clock
that is off, a site working on its own."""

from __future__ import annotations

import dataclasses

import pytest

from lifeline.fhir.service import FhirService
from lifeline.identity.clock_skew import Skew
from lifeline.web.layout import render
from tests.web.test_login_pages import browser
from tests.web.test_middleware import as_staff


def test_the_top_bar_shows_the_node_and_who_is_logged_in(service: FhirService) -> None:
    with browser(service) as web:
        page = web.get("/login").text
        assert f"{service.settings.node_id} · {service.settings.role} · connected" in page
        assert 'id="threat"' not in page and 'id="skew"' not in page
        username = as_staff(service, web)
        page = web.get("/account").text
        assert f'id="who">{username} <span class="role">(staff)' in page
        assert 'action="/logout"' in page and 'href="/language?to=da&amp;next=/account"' in page


def test_threat_level_and_clock_skew_are_banners_on_every_page(
    service: FhirService, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(service, "settings", dataclasses.replace(service.settings, threat_level="high"))
    monkeypatch.setattr(service.identity.skew, "current", lambda: Skew(-300.4, 2, 0.0))
    with browser(service) as web:
        for path in ("/", "/login", "/no/such/page"):
            page = web.get(path).text
            assert 'id="threat" role="status">Threat level HIGH' in page, path
            assert "differs from its peers' by 300 s" in page, path


def test_a_site_in_continuity_says_so_on_every_page() -> None:
    node = {
        "node": "site-north",
        "role": "site",
        "mode": "continuity",
        "centralUnreachableSince": "2026-11-22T08:00:00Z",
        "newestReplicated": "2026-11-22T07:59:00Z",
    }
    page = render("message.html", title="t", message="m", node=node).body.decode()
    assert 'class="banner" id="mode" role="status"><strong>site-north is working on its own (continuity).' in page
    assert "unreachable since 2026-11-22T08:00:00Z" in page
