"""`/operator/incidents` (web/pages/operator.py): operators open, update and resolve this node's
incidents with problems shown beside the field, a form sent twice writes once, every change is a
security event naming the incident and /status tells it at once; who is affected is shown as
counts; staff without the role operator or administrator are refused."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from starlette.testclient import TestClient

from lifeline.audit.store import events_after, head
from lifeline.fhir.service import FhirService
from lifeline.status import incidents
from lifeline.status.board import board_of
from tests.status.test_affected import directory, failed_login, next_second
from tests.web.test_login_pages import browser, csrf_of
from tests.web.test_middleware import as_staff

PATH = "/operator/incidents"


def _resolve_all(service: FhirService) -> None:
    with service.repo.reading() as session:
        still = incidents.open_incidents(session)
    for each in still:
        incidents.update_incident(service.repo, each.id, status="resolved", text="Test over", author="test")
    board = board_of(str(service.settings.node_id))
    if board is not None:
        board.forget()


@pytest.fixture
def calm(service: FhirService) -> Iterator[FhirService]:
    """The shared node with no open incident, before and after (its banner is on every page)."""
    _resolve_all(service)
    yield service
    _resolve_all(service)


def _open_ones(service: FhirService) -> list[incidents.Incident]:
    with service.repo.reading() as session:
        return incidents.open_incidents(session)


def form_of(page: str, form_id: str | None = None) -> dict[str, str]:
    """The csrf and one-time key of a form on `page` (the first, or the one with `form_id`)."""
    part = page[page.index(f'id="{form_id}"') :] if form_id else page[page.index('id="open-form"') :]
    key = re.search(r'name="key" value="([^"]+)"', part)
    assert key is not None
    return {"csrf": csrf_of(part), "key": key.group(1)}


def _trail_since(service: FhirService, seq: int) -> list[dict[str, Any]]:
    node = str(service.settings.node_id)
    return [orjson.loads(r.content) for r in events_after(service.repo, node, seq, 100_000)]


def _seq(service: FhirService) -> int:
    found = head(service.repo, str(service.settings.node_id))
    return found[0] if found else 0


def operator(service: FhirService, role: str = "operator") -> TestClient:
    web = browser(service)
    as_staff(service, web, extra_roles=[role])
    return web


def test_staff_without_the_role_are_refused_and_nothing_is_written(calm: FhirService) -> None:
    with browser(calm) as web:
        as_staff(calm, web)
        answer = web.get(PATH)
        assert answer.status_code == 403 and "This page is for operators" in answer.text
        sent = web.post(PATH, data={"title": "x", "impact": "minor", "component": "record"})
        assert sent.status_code == 403 and _open_ones(calm) == []
    with operator(calm, role="administrator") as web:
        assert web.get(PATH).status_code == 200


def test_open_update_and_resolve_with_the_trail_and_the_status_page(calm: FhirService) -> None:
    with operator(calm) as web:
        page = web.get(PATH)
        assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
        assert 'id="none-open"' in page.text and 'value="staff-login"' in page.text
        before = _seq(calm)
        sent = {**form_of(page.text), "title": "Staff cannot log in", "impact": "major",
                "component": ["staff-login", "record"], "text": "We are looking into it",
                "eta": "2026-12-06T14:30"}  # fmt: skip
        answer = web.post(PATH, data=sent)
        assert answer.status_code == 303 and answer.headers["location"].startswith(f"{PATH}?done=opened#incident-")
        [opened] = _open_ones(calm)
        assert opened.components == ("staff-login", "record") and opened.impact == "major"
        assert opened.expected_back == "2026-12-06T13:30:00Z"  # read as Danish time
        assert web.post(PATH, data=sent).headers["location"] == f"{PATH}?done=already"  # sent twice: written once
        assert len(_open_ones(calm)) == 1
        assert "Staff cannot log in" in web.get("/status").text  # at once: the board forgot
        shown = web.get(answer.headers["location"]).text
        assert "The incident is opened." in shown and f'id="incident-{opened.id}"' in shown
        update = {**form_of(shown, f"update-{opened.id}"), "status": "identified", "text": "A certificate expired",
                  "eta_none": "yes", "action": "update"}  # fmt: skip
        assert web.post(f"{PATH}/{opened.id}", data=update).status_code == 303
        found = incidents.require_incident(calm.repo, opened.id)
        assert found.status == "identified" and found.expected_back is None
        shown = web.get(PATH).text
        assert "No restoration time is known yet." in shown and "A certificate expired" in shown
        resolve = {**form_of(shown, f"resolve-{opened.id}"), "text": "Renewed; all is well", "action": "resolve"}
        assert web.post(f"{PATH}/{opened.id}", data=resolve).headers["location"].startswith(f"{PATH}?done=resolved")
        assert _open_ones(calm) == [] and "All systems operational" in web.get("/status").text
        trail = [e for e in _trail_since(calm, before) if e["subtype"][0]["code"] == "administration"]
        assert [e["outcomeDesc"].split(")")[0] for e in trail] == [
            f"incident {opened.id} opened (major",
            f"incident {opened.id} updated (identified",
            f"incident {opened.id} resolved (resolved",
        ]
        assert all(e["type"]["code"] == "110137" and e["agent"][0]["altId"].startswith("u-") for e in trail)


@pytest.mark.parametrize(
    ("fields", "beside"),
    [
        ({"title": " ", "impact": "major", "component": "record"}, "title-error"),
        ({"title": "T", "impact": "huge", "component": "record"}, "impact-error"),
        ({"title": "T", "impact": "major"}, "components-error"),
        ({"title": "T", "impact": "major", "component": "kitchen"}, "components-error"),
        ({"title": "T", "impact": "major", "component": "record", "eta": "after lunch"}, "eta-error"),
        (
            {"title": "T", "impact": "major", "component": "record", "eta": "2026-12-06T14:30", "eta_none": "yes"},
            "eta-error",
        ),  # fmt: skip
        ({"title": "T" * 201, "impact": "major", "component": "record"}, "title-error"),
    ],
)
def test_bad_input_is_shown_beside_the_field_and_writes_nothing(
    calm: FhirService, fields: dict[str, str], beside: str
) -> None:
    with operator(calm) as web:
        page = web.get(PATH).text
        before = _seq(calm)
        answer = web.post(PATH, data={**form_of(page), **fields})
        assert answer.status_code == 400 and f'id="{beside}"' in answer.text and 'aria-invalid="true"' in answer.text
        assert _open_ones(calm) == [] and _trail_since(calm, before) == []
        if fields["title"].strip() and len(fields["title"]) < 200:
            assert f'value="{fields["title"]}"' in answer.text  # what was typed is kept


def test_an_update_with_problems_and_a_form_from_elsewhere(calm: FhirService) -> None:
    with operator(calm) as web:
        page = web.get(PATH).text
        opened = incidents.open_incident(calm.repo, title="Search is slow", impact="minor", components=["search"],
                                         text="", author="operator:x")  # fmt: skip
        page = web.get(PATH).text
        empty = {**form_of(page, f"update-{opened.id}"), "status": "identified", "text": " ", "action": "update"}
        answer = web.post(f"{PATH}/{opened.id}", data=empty)
        assert answer.status_code == 400 and f'id="text-{opened.id}-error"' in answer.text
        nokey = {"csrf": csrf_of(page), "status": "identified", "text": "x", "action": "update"}
        answer = web.post(f"{PATH}/{opened.id}", data=nokey)
        assert answer.status_code == 400 and "The form was not complete" in answer.text
        assert web.post(f"{PATH}/{opened.id}", data={**empty, "csrf": "forged"}).status_code == 403
        gone = {**form_of(page, f"update-{opened.id}"), "status": "identified", "text": "x", "action": "update"}
        refused = web.post(f"{PATH}/nope", data=gone)
        assert refused.status_code == 404 and "Nothing was written: no incident &#39;nope&#39;" in refused.text
        assert len(incidents.require_incident(calm.repo, opened.id).updates) == 1


def test_who_is_affected_is_shown_as_counts(calm: FhirService) -> None:
    names = directory(calm, suffix=" Syd")  # other tests' failures of the same second are elsewhere
    next_second()
    opened = incidents.open_incident(calm.repo, title="Logins fail", impact="critical", components=["staff-login"],
                                     text="", author="operator:x")  # fmt: skip
    now = datetime.now(UTC)
    for key in ("ann", "ann", "cy", "di"):
        failed_login(calm, names[key], now)
    with operator(calm) as web:
        page = web.get(PATH).text
        logins = page[page.index(f'id="affected-logins-{opened.id}"') :].split("</li>")[0]
        assert "3 staff could not log in (4 attempts)" in logins
        assert "Herlev Hospital" in page and "Akutmodtagelsen" in page and "Holbæk Sygehus" in page
        assert not any(name in page for name in names.values())
        danish = web.get(PATH, headers={"Accept-Language": "da"}).text
        assert "Hændelser og driftsforstyrrelser på denne node" in danish and "Opret driftsforstyrrelsen" in danish
