"""The base layout (templates/base.html, web/layout.py): on every page, who is logged in, the node
and its mode, and the warnings a clinician must see — a threat level that is not normal, a clock
that is off, a site working on its own."""

from __future__ import annotations

import dataclasses
import uuid

import orjson
import pytest

from lifeline.audit.store import events_after
from lifeline.fhir.service import FhirService
from lifeline.identity.clock_skew import Skew
from lifeline.identity.sessions import STAFF
from lifeline.web.layout import render
from tests.web.pages.test_chart import put
from tests.web.test_login_pages import add_user, browser
from tests.web.test_middleware import as_staff, logged_in_as


def test_the_top_bar_shows_the_node_and_who_is_logged_in(service: FhirService) -> None:
    with browser(service) as web:
        page = web.get("/login").text
        assert '<p class="node" id="mode">Regional centre</p>' in page  # the centre, connected
        assert 'id="threat"' not in page and 'id="skew"' not in page
        username = as_staff(service, web)
        page = web.get("/account").text
        assert f'id="who">{username} <span class="role">(staff)' in page
        assert 'action="/logout"' in page and 'href="/language?to=da&amp;next=/account"' in page


def test_the_top_bar_names_the_practitioner_read_once_as_them(service: FhirService) -> None:
    """A login linked to a practitioner shows their name, read through the core as that person
    (one read on the trail, kept with the session), and the login name where there is none."""
    doctor = f"doc-{uuid.uuid4().hex[:8]}"
    name = [{"given": ["Asta"], "family": "Møller <i>Læge</i>"}]
    put(service, {"resourceType": "Practitioner", "id": doctor, "name": name})
    with browser(service) as web:
        username = add_user(service, practitioner=doctor).username
        logged_in_as(service, web, STAFF, username=username, fhir_user=f"Practitioner/{doctor}")
        for _ in range(3):
            page = web.get("/account").text
            assert 'id="who">Asta Møller &lt;i&gt;Læge&lt;/i&gt; <span class="role">(staff)' in page
    events = [orjson.loads(r.content) for r in events_after(service.repo, service.settings.node_id, 0, 10_000_000)]
    reads = [e for e in events if any(a.get("altId") == username for a in e["agent"])]
    assert len(reads) == 1 and f"Practitioner/{doctor}" in str(reads[0]["entity"]), reads


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
    assert (
        'class="banner" id="mode" role="status"><strong>site-north is working on its own (cut off from the centre).'
        in page
    )
    assert "unreachable since 22 Nov 2026, 09:00." in page  # in Danish time
