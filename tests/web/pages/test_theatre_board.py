"""The theatre board (web/pages/theatre_board.py) through its JSON form, on both backends: the
plan of a day, a move, a refused move (shown beside the form, nothing changed), marking a case
started and finished, the checklist done."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient

from lifeline.fhir.service import FhirService
from lifeline.identity.sessions import STAFF
from tests.fhir.rules.test_theatres import Site, book, case, theatre_site
from tests.web.test_login_pages import add_user, browser
from tests.web.test_middleware import logged_in_as

JSON = {"Accept": "application/json"}


@pytest.fixture(scope="module")
def site(service: FhirService) -> Site:
    site = theatre_site(service)
    book(service, case(site, "a", 1, 1, site.at(8), 90, priority="stat"))
    book(service, case(site, "b", 2, 1, site.at(10), 120, surgeon="surgeon2"))
    book(service, case(site, "c", 3, 2, site.at(12, 30), 60, surgeon="surgeon2", priority="urgent"))
    return site


def coordinator(service: FhirService, site: Site) -> tuple[TestClient, str]:
    """The anaesthetist, logged in: the department that runs the theatres."""
    web = browser(service)
    staff = add_user(service, practitioner=site.id("anaesthetist"))
    csrf = logged_in_as(
        service, web, STAFF, username=staff.username, fhir_user=f"Practitioner/{site.id('anaesthetist')}"
    )
    return web, csrf


def shown(web: TestClient, site: Site, **query: str) -> dict[str, Any]:
    answer = web.get("/theatres", params={"day": site.day.isoformat(), "site": site.id("site"), **query}, headers=JSON)
    assert answer.status_code == 200, answer.text
    return answer.json()  # type: ignore[no-any-return]


def one(board: dict[str, Any], case_id: str) -> dict[str, Any]:
    return next(c for c in board["cases"] if c["id"] == case_id)


def post(web: TestClient, csrf: str, site: Site, action: str, name: str, board: dict[str, Any], **fields: str) -> Any:
    found = one(board, site.id(f"app-{name}"))
    data = {
        "csrf": csrf,
        "action": action,
        "case": found["id"],
        "version": found["version"],
        "day": site.day.isoformat(),
        "site": site.id("site"),
        "minutes": str(found["minutes"]),
        **fields,
    }
    return web.post("/theatres", data=data, headers=JSON, follow_redirects=False)


def test_the_plan_of_a_day(service: FhirService, site: Site) -> None:
    web, _ = coordinator(service, site)
    board = shown(web, site)
    assert [t["name"] for t in board["theatres"]] == ["Operationsstue 1", "Operationsstue 2"]
    assert {"id": site.id("site"), "name": f"Hospital {site.tag}"} in board["sites"]
    a = one(board, site.id("app-a"))
    assert (a["start"], a["end"], a["minutes"], a["priority"], a["state"]) == ("08:00", "09:30", 90, "acute", "planned")
    assert a["procedure"] == "Operation a" and a["surgeon"] == "Dr Surgeon" and a["anaesthetist"] == "Dr Anaesthetist"
    assert a["patient"]["name"] == f"Ib Patient1{site.tag}" and a["checklist"] == "not-started"
    assert a["x"] == pytest.approx(100 * 60 / 960) and a["width"] == pytest.approx(100 * 90 / 960)
    assert (
        one(board, site.id("app-c"))["priority"] == "urgent" and one(board, site.id("app-b"))["priority"] == "elective"
    )
    assert board["conflicts"] == 0
    web.cookies.set("lifeline-lang", "da")
    page = web.get("/theatres", params={"day": site.day.isoformat(), "site": site.id("site")})
    assert page.status_code == 200 and "Operationstavle" in page.text and "Akut" in page.text
    web.cookies.delete("lifeline-lang")
    own = web.get("/theatres", params={"day": site.day.isoformat()}, headers=JSON).json()
    assert own["site"] == site.id("site")  # the coordinator's own hospital when none is chosen
    other_day = shown(web, site, day=site.at(8, days=1).date().isoformat())
    assert not any(c["id"].endswith(site.tag) for c in other_day["cases"])


def test_a_move_moves_the_case_and_its_slot(service: FhirService, site: Site) -> None:
    web, csrf = coordinator(service, site)
    answer = post(web, csrf, site, "move", "c", shown(web, site), time="13:00", theatre=site.id("or1"))
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"].startswith("/theatres?day=")
    moved = one(shown(web, site), site.id("app-c"))
    assert (moved["start"], moved["end"], moved["theatre"]) == ("13:00", "14:00", site.id("or1"))
    with service.repo.reading() as session:
        stored = session.read("Slot", site.id("slot-c"))
    assert stored is not None and stored.content is not None
    assert f"Schedule/{site.id('sch1')}" in str(stored.content) and "T13:00:00" in str(stored.content)


def test_a_move_into_a_taken_theatre_is_refused_beside_the_form(service: FhirService, site: Site) -> None:
    web, csrf = coordinator(service, site)
    before = one(shown(web, site), site.id("app-a"))
    answer = post(web, csrf, site, "move", "a", shown(web, site), time="10:30", theatre=site.id("or1"))
    assert answer.status_code == 422
    problem = answer.json()["problem"]
    assert problem["case"] == site.id("app-a")
    assert problem["message"].startswith("Operationsstue 1 is taken 10:00-12:00 by another case")  # no "Entry 0"
    assert (problem["time"], problem["theatre"]) == ("10:30", site.id("or1"))  # the form as filled in
    assert f"Patient2{site.tag}" not in problem["message"]
    assert one(shown(web, site), site.id("app-a")) == before  # nothing changed
    html = web.post(
        "/theatres",
        data={
            "csrf": csrf,
            "action": "move",
            "case": before["id"],
            "version": before["version"],
            "day": site.day.isoformat(),
            "site": site.id("site"),
            "time": "10:30",
            "theatre": site.id("or1"),
        },
    )
    assert html.status_code == 422 and f'id="case-{before["id"]}-refused"' in html.text


def test_bad_input_is_said_beside_the_field(service: FhirService, site: Site) -> None:
    web, csrf = coordinator(service, site)
    board = shown(web, site)
    late = post(web, csrf, site, "move", "a", board, time="22:30", theatre=site.id("or1"))
    assert late.status_code == 400 and late.json()["problem"] == {
        "case": site.id("app-a"),
        "field": "time",
        "code": "outside-day",
        "time": "22:30",
        "theatre": site.id("or1"),
    }
    garbled = post(web, csrf, site, "move", "a", board, time="half past", theatre=site.id("or1"))
    assert garbled.json()["problem"]["field"] == "time"
    nowhere = post(web, csrf, site, "move", "a", board, time="12:00", theatre="no-such-theatre")
    assert nowhere.json()["problem"]["field"] == "theatre"
    stale = post(
        web,
        csrf,
        site,
        "move",
        "a",
        {**board, "cases": [{**one(board, site.id("app-a")), "version": "99"}]},
        time="16:00",
        theatre=site.id("or2"),
    )
    assert stale.status_code in (409, 412) and stale.json()["problem"]["code"] == "stale"
    assert one(shown(web, site), site.id("app-a"))["start"] == "08:00"


def test_start_finish_and_the_checklist(service: FhirService, site: Site) -> None:
    web, csrf = coordinator(service, site)
    assert post(web, csrf, site, "checklist", "b", shown(web, site)).status_code == 303
    assert one(shown(web, site), site.id("app-b"))["checklist"] == "done"
    assert post(web, csrf, site, "start", "b", shown(web, site)).status_code == 303
    started = one(shown(web, site), site.id("app-b"))
    assert (started["state"], started["status"]) == ("started", "arrived")
    assert post(web, csrf, site, "finish", "b", shown(web, site)).status_code == 303
    finished = one(shown(web, site), site.id("app-b"))
    assert (finished["state"], finished["status"]) == ("finished", "fulfilled")
    with service.repo.reading() as session:
        order = session.read("ServiceRequest", site.id("sr-b"))
    assert order is not None and '"completed"' in str(order.content)
