"""`/logistics/reduce` and `/logistics/rebook` (web/pages/reduce_page.py) through their JSON form and
their forms, on both backends: a staff member without the role lead may look but not change; a lead
is told beside the field what is wrong with a period; keeps a case, undoes, is asked again when the
ticks were not saved, confirms; the secretaries book the freed times, one or all."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from starlette.testclient import TestClient

from lifeline.fhir.service import FhirService
from lifeline.identity.sessions import STAFF
from tests.logistics.hospital import LEAD, WEEK, Hospital, build
from tests.logistics.test_reduce import messages, read
from tests.web.test_login_pages import add_user, browser
from tests.web.test_middleware import logged_in_as

REDUCE, REBOOK = "/logistics/reduce", "/logistics/rebook"


@pytest.fixture
def hospital(service: FhirService) -> Hospital:
    return build(service)


def staff(service: FhirService, hospital: Hospital, *roles: str) -> tuple[TestClient, str]:
    """A browser logged in as the department's doctor, with these extra roles; and its CSRF token."""
    web = browser(service)
    user = add_user(service, practitioner=hospital.doctor, extra_roles=list(roles))
    csrf = logged_in_as(service, web, STAFF, username=user.username, fhir_user=f"Practitioner/{hospital.doctor}")
    return web, csrf


def as_json(web: TestClient, path: str, **params: str) -> dict[str, Any]:
    answer = web.get(path, params={**params, "_format": "json"})
    assert answer.status_code == 200, answer.text
    return answer.json()  # type: ignore[no-any-return]


def sent(web: TestClient, path: str, data: dict[str, Any], status: int = 303) -> Any:
    answer = web.post(path, data=data)
    assert answer.status_code == status, answer.text
    return answer


def query_of(answer: Any) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(answer.headers["location"]).query).items()}


def test_staff_without_the_role_lead_may_look_but_not_reduce(service: FhirService, hospital: Hospital) -> None:
    web, csrf = staff(service, hospital)
    with web:
        page = web.get(REDUCE)
        assert page.status_code == 200 and 'id="not-lead"' in page.text
        assert as_json(web, REDUCE)["mayLead"] is False
        form = {"csrf": csrf, "do": "propose", "org": hospital.department, "first": WEEK[0].isoformat(),
                "last": WEEK[1].isoformat()}  # fmt: skip
        refused = web.post(REDUCE, data=form)
        assert refused.status_code == 403 and "Only a lead may reduce" in refused.text
    core = service.as_user(LEAD)
    assert all(read(core, ref)["status"] == "booked" for ref in hospital.cases.values())


def test_a_bad_period_is_shown_beside_its_field(service: FhirService, hospital: Hospital) -> None:
    web, csrf = staff(service, hospital, "lead")
    with web:
        form = {"csrf": csrf, "do": "propose", "org": "", "first": WEEK[1].isoformat(), "last": WEEK[0].isoformat()}
        answer = sent(web, REDUCE, form, 400)
        assert 'id="org-error"' in answer.text and 'id="last-error"' in answer.text
        assert 'aria-invalid="true"' in answer.text
        answer = sent(web, REDUCE, {**form, "org": hospital.department, "first": "not a day"}, 400)
        assert 'id="first-error"' in answer.text and "This is not a date" in answer.text
        assert 'id="org-error"' not in answer.text


def test_the_lead_reduces_a_department_and_the_secretaries_rebook(service: FhirService, hospital: Hospital) -> None:
    core = service.as_user(LEAD)
    web, csrf = staff(service, hospital, "lead")
    with web:
        chooser = as_json(web, REDUCE)
        ours = next(h for h in chooser["organizations"] if h["ref"] == hospital.hospital)
        assert hospital.department in [d["ref"] for d in ours["departments"]]
        form = {"csrf": csrf, "do": "propose", "org": hospital.department, "first": WEEK[0].isoformat(),
                "last": WEEK[1].isoformat()}  # fmt: skip
        task = query_of(sent(web, REDUCE, form))["proposal"]
        shown = as_json(web, REDUCE, proposal=task)["proposal"]
        assert [g["count"] for g in shown["groups"]] == [1, 2, 3]
        assert shown["summary"] == {"operations": 2, "appointments": 3, "patients": 5, "kept": 1}
        page = web.get(REDUCE, params={"proposal": task}).text
        assert "2 operations and 3 appointments will be cancelled and 5 patients told." in page

        keep = hospital.cases["elective-new"]
        base = {"csrf": csrf, "proposal": task, "reason": "Strømsvigt"}
        assert (
            query_of(sent(web, REDUCE, {**base, "do": "save", "version": shown["version"], "keep": keep}))["done"]
            == "saved"
        )
        shown = as_json(web, REDUCE, proposal=task)["proposal"]
        assert shown["summary"]["appointments"] == 2 and shown["reason"] == "Strømsvigt"
        assert query_of(sent(web, REDUCE, {**base, "do": "undo", "version": shown["version"]}))["done"] == "undone"
        shown = as_json(web, REDUCE, proposal=task)["proposal"]
        assert shown["summary"]["appointments"] == 3 and shown["reason"] == ""
        # An old form (an earlier version) is refused, with nothing changed.
        stale = sent(web, REDUCE, {**base, "do": "save", "version": "1", "keep": keep}, 409)
        assert 'id="refusal"' in stale.text
        # Confirming with ticks not saved yet saves them and asks again: nothing is cancelled.
        confirm = {**base, "do": "confirm", "version": shown["version"], "keep": keep}
        assert query_of(sent(web, REDUCE, confirm))["done"] == "check"
        assert all(read(core, ref)["status"] == "booked" for ref in hospital.cases.values())
        shown = as_json(web, REDUCE, proposal=task)["proposal"]
        assert shown["summary"] == {"operations": 2, "appointments": 2, "patients": 4, "kept": 2}
        done = sent(web, REDUCE, {**confirm, "version": shown["version"]})
        assert query_of(done)["done"] == "confirmed"
        again = sent(web, REDUCE, {**confirm, "version": shown["version"]})
        assert query_of(again)["done"] == "already"
        page = web.get(REDUCE, params={"proposal": task}).text
        assert 'id="confirmed"' in page and 'id="confirm"' not in page
        for name in ("urgent-op", "urgent-clinic", "elective-old", "elective-op"):
            assert read(core, hospital.cases[name])["cancelationReason"]["text"] == "Strømsvigt"
            assert len(messages(core, hospital.cases[name])) == 1
        assert read(core, keep)["status"] == "booked"

        # Back up: the secretaries book the first offer, then all the others.
        offers = as_json(web, REBOOK, org=hospital.department)["offers"]
        assert [o["level"] for o in offers] == ["urgent", "urgent", "elective", "elective"]
        assert sent(web, REBOOK, {"csrf": csrf, "org": hospital.department}, 400)
        first = sent(web, REBOOK, {"csrf": csrf, "org": hospital.department, "book": offers[0]["book"]})
        assert query_of(first)["count"] == "1"
        rest = as_json(web, REBOOK, org=hospital.department)["offers"]
        assert [o["book"] for o in rest] == [o["book"] for o in offers[1:]]
        everyone = sent(web, REBOOK, {"csrf": csrf, "org": hospital.department, "book": [o["book"] for o in rest]})
        assert query_of(everyone)["count"] == "3"
        assert as_json(web, REBOOK, org=hospital.department)["offers"] == []
        for offer in offers:
            appointment = offer["appointment"]
            assert read(core, appointment)["status"] == "booked"
            assert [m["category"][0]["coding"][0]["code"] for m in messages(core, appointment)] == ["rebooking-offered"]
