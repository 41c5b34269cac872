"""`/status` and `/status.json` (issue 23): public, cached, in English and Danish, telling the open
incidents first with their expected restoration time, the components in words and symbols, and
the history; and the banner on a logged-in person's pages, which stay no-store."""

from __future__ import annotations

from collections.abc import Iterator

import orjson
import pytest

from lifeline.fhir.service import FhirService
from lifeline.status import incidents
from lifeline.status.board import board_of
from tests.web.test_login_pages import browser
from tests.web.test_middleware import as_patient, as_staff


def _forget(service: FhirService) -> None:
    board = board_of(str(service.settings.node_id))
    if board is not None:
        board.forget()


def _resolve_all(service: FhirService) -> None:
    with service.repo.reading() as session:
        still = incidents.open_incidents(session)
    for each in still:
        incidents.update_incident(service.repo, each.id, status="resolved", text="Test over", author="test")
    _forget(service)


@pytest.fixture
def calm(service: FhirService) -> Iterator[FhirService]:
    """The shared node with no open incident, before and after (its banner is on every page)."""
    _resolve_all(service)
    yield service
    _resolve_all(service)


def _incident(service: FhirService, eta: str | None = "2026-12-06T14:30:00Z") -> incidents.Incident:
    opened = incidents.open_incident(
        service.repo, title="Logins <script>alert(1)</script> fail", impact="critical",
        components=["staff-login", "record"], text="We are looking into it", author="operator:zelda-ops",
        expected_back=eta, clock=service.clock,
    )  # fmt: skip
    incidents.update_incident(
        service.repo, opened.id, status="identified", text="An expired certificate", author="operator:quentin-ops",
        clock=service.clock,
    )  # fmt: skip
    _forget(service)
    return opened


def test_all_is_well_public_and_cached(calm: FhirService) -> None:
    with browser(calm) as web:
        answer = web.get("/status")
        assert answer.status_code == 200 and answer.headers["cache-control"] == "public, max-age=10"
        assert "All systems operational" in answer.text and 'id="open-incidents"' not in answer.text
        assert "Staff login" in answer.text and "✓" in answer.text and "Operational" in answer.text
        assert "content-security-policy" in answer.headers
        status = orjson.loads(web.get("/status.json").content)
        assert status["overall"] == "operational" and status["incidents"] == []
        assert {"key": "staff-login", "status": "operational"} in status["components"]


def test_an_open_incident_comes_first_with_its_restoration_time(calm: FhirService) -> None:
    opened = _incident(calm)
    with browser(calm) as web:
        page = web.get("/status").text
        assert page.index('id="open-incidents"') < page.index('id="components"') < page.index('id="history"')
        assert "Current state: Major outage" in page and "Critical impact" in page and "cause identified" in page
        assert "Logins &lt;script&gt;alert(1)&lt;/script&gt; fail" in page and "<script>alert" not in page
        assert 'class="eta">Expected back: 6 Dec 2026' in page.replace(",", "")
        assert page.index("An expired certificate") < page.index("We are looking into it")  # newest first
        assert "zelda" not in page and "quentin" not in page and "operator" in page
        row = page[page.index('id="component-record"') :].split("</tr>")[0]
        assert "Major outage" in row and "✕" in row
        status = orjson.loads(web.get("/status.json").content)
        for kept in ("node", "role", "time", "mode", "openConflicts", "position", "lagSeconds"):
            assert kept in status
        [shown] = status["incidents"]
        assert shown["id"] == opened.id and shown["expectedBack"] == "2026-12-06T14:30:00Z"
        assert [u["text"] for u in shown["updates"]] == ["An expired certificate", "We are looking into it"]
        assert {u["author"] for u in shown["updates"]} == {"operator"}
        assert {"key": "record", "status": "major_outage"} in status["components"]
        danish = web.get("/status", headers={"Accept-Language": "da"}).text
        assert "Aktuelle driftsforstyrrelser" in danish and "Forventes tilbage: 06.12.2026 15:30" in danish
        assert "Større nedbrud" in danish and "årsagen er fundet" in danish


def test_no_restoration_time_known_is_said_plainly_and_history_has_durations(calm: FhirService) -> None:
    opened = _incident(calm, eta=None)
    with browser(calm) as web:
        assert "No restoration time is known yet." in web.get("/status").text
        incidents.update_incident(calm.repo, opened.id, status="resolved", text="Back", author="operator:ann")
        _forget(calm)
        page = web.get("/status").text
        assert "All systems operational" in page
        past = page[page.index(f'id="past-{opened.id}"') :].split("</li>")[0]
        assert "Critical impact" in past and "lasted" in past


def test_the_banner_on_staff_and_patient_pages_and_their_pages_stay_private(calm: FhirService) -> None:
    with browser(calm) as web:
        assert 'id="incident"' not in web.get("/login").text
        username = as_staff(calm, web)
        assert 'id="incident"' not in web.get("/account").text
        _incident(calm)
        answer = web.get("/account")
        assert answer.headers["cache-control"] == "no-store"
        banner = answer.text[answer.text.index('id="incident"') :].split("</p>")[0]
        assert 'href="/status#incident-' in banner and "Incident: Logins &lt;script&gt;" in banner
        assert "cause identified" in banner and "Expected back: 6 Dec 2026" in banner.replace(",", "")
        mine = web.get("/status")  # as nobody: a shared cache may hand it to anyone
        assert username not in mine.text and 'name="csrf"' not in mine.text
        assert mine.headers["cache-control"] == "public, max-age=10"
        anchor = banner.split('href="/status#')[1].split('"')[0]
        assert f'id="{anchor}"' in mine.text  # the banner opens the incident itself
        danish = web.get("/account", headers={"Accept-Language": "da"}).text
        assert "Driftsforstyrrelse: Logins" in danish
    with browser(calm) as web:
        as_patient(calm, web)
        assert 'id="incident"' in web.get("/account").text


def test_an_open_incident_tells_per_hospital_how_many_staff_are_affected(calm: FhirService) -> None:
    """Totals only (no department, role or name), cached with the board, in both languages."""
    from datetime import UTC, datetime

    from tests.status.test_affected import directory, failed_login, next_second, refused

    names = directory(calm, suffix=" Nord")  # other tests' failures of the same second are elsewhere
    next_second()
    opened = incidents.open_incident(  # begun now, by the wall clock the audit trail is recorded by
        calm.repo, title="Logins fail", impact="critical", components=["staff-login"], text="", author="operator:x"
    )
    _forget(calm)
    now = datetime.now(UTC)
    for key in ("ann", "bo", "bo", "di"):
        failed_login(calm, names[key], now)
    refused(calm, names["cy"], now)
    with browser(calm) as web:
        page = web.get("/status").text
        shown = page[page.index(f'id="affected-{opened.id}"') :].split("</ul>")[0]
        assert "2 staff at Herlev Hospital Nord could not log in since" in shown
        assert "1 staff at Holbæk Sygehus Nord could not log in since" in shown
        assert "1 staff at Herlev Hospital Nord were refused by the record since" in shown
        assert "Kardiologisk" not in page and "Læge" not in page
        assert not any(name in page for name in names.values())
        failed_login(calm, names["cy"], now)
        _forget(calm)
        assert "2 staff at Herlev Hospital Nord could not log in" in web.get("/status").text  # cached for 30 s
        danish = web.get("/status", headers={"Accept-Language": "da"}).text
        assert "2 ansatte på Herlev Hospital Nord har ikke kunnet logge ind siden" in danish
