"""Ordering a test or a study (web/pages/chart/orders.py) on both backends: the open and recent
orders through the JSON form, newest first; an order written as a ServiceRequest and shown after
the redirect, once however often the form is sent; bad input refused beside the field with nothing
written; a patient outside care refused; the write on the trail; markup shown as text; the list of
orders coded as the generator codes results and studies."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import orjson
import pytest
from starlette.testclient import TestClient

from lifeline.fhir.request import FhirRequest
from lifeline.fhir.service import FhirService
from lifeline.generate.imaging import STUDIES
from lifeline.generate.labs import ANALYTES
from lifeline.identity.principal import OPERATOR
from lifeline.web.pages.chart import form_key, orders
from tests.web.pages.test_chart import Ward, admitted_patient, put, ref
from tests.web.pages.test_chart_notes import doctor
from tests.web.pages.test_chart_results import _about, _position

SNOMED = "http://snomed.info/sct"


@pytest.fixture
def ward(service: FhirService) -> Ward:
    """The chart's ward (with its ordered operation) and a done and a cancelled blood test."""
    ward = admitted_patient(service)
    subject = ref(f"Patient/{ward.mine}")
    for id_, status, authored in (
        ("done", "completed", "2026-11-01T10:00:00Z"),
        ("off", "revoked", "2026-11-10T10:00:00Z"),
    ):
        request = {"resourceType": "ServiceRequest", "id": f"{id_}-{ward.tag}", "status": status, "intent": "order"}
        put(service, {**request, "subject": subject, "code": {"text": "Kalium"}, "authoredOn": authored})
    return ward


def orders_json(web: TestClient, patient: str, **params: str) -> dict[str, Any]:
    answer = web.get(f"/patients/{patient}/orders", params={**params, "_format": "json"})
    assert answer.status_code == 200, answer.text
    assert answer.headers["cache-control"] == "no-store"
    return answer.json()  # type: ignore[no-any-return]


def stored(service: FhirService, patient: str) -> list[dict[str, Any]]:
    """The patient's orders written by a form (with a form key)."""
    asking = FhirRequest("search", "ServiceRequest", params=[("patient", patient)], principal=OPERATOR)
    bundle = orjson.loads(orjson.dumps(service.handle(asking).resource))
    found = [e["resource"] for e in bundle.get("entry", []) if e["search"]["mode"] == "match"]
    return [o for o in found if any(i.get("system") == form_key.KEY_SYSTEM for i in o.get("identifier", []))]


def order(web: TestClient, patient: str, csrf: str, **fields: str) -> Any:
    form = {"csrf": csrf, "key": form_key.new_key(), "code": "58410-2", "priority": "routine",
            "occurrence": "2026-11-23", "reason": "", **fields}  # fmt: skip
    return web.post(f"/patients/{patient}/orders", data=form)


def test_the_orders_open_and_recent_newest_first(service: FhirService, ward: Ward) -> None:
    web, _, _ = doctor(service, ward)
    shown = orders_json(web, ward.mine)
    assert shown["showing"] == "orders" and shown["patient"]["name"] == "Karen Sørensen"
    assert [o["id"] for o in shown["open"]] == [f"op-{ward.tag}"]
    assert shown["open"][0]["what"] == "Ablation" and shown["open"][0]["status"] == "active"
    assert [(o["id"], o["status"]) for o in shown["recent"]] == [(f"off-{ward.tag}", "revoked"),
                                                                 (f"done-{ward.tag}", "completed")]  # fmt: skip
    form = shown["form"]
    assert form["occurrence"] == shown["today"] == "2026-11-22" and form["priority"] == "routine"
    assert {c["category"] for c in form["choices"]} == {"laboratory", "imaging"}
    page = web.get(f"/patients/{ward.mine}/orders").text
    assert '<optgroup label="Imaging">' in page and "Røntgen af thorax" in page and "cancelled" in page


def test_an_order_is_a_service_request_shown_after_the_redirect(service: FhirService, ward: Ward) -> None:
    web, _, csrf = doctor(service, ward)
    key = orders_json(web, ward.mine)["form"]["key"]
    fields = {
        "code": "36643-5",
        "priority": "urgent",
        "occurrence": "2026-11-24",
        "reason": "Feber og hoste.\r\nPneumoni?",
    }
    answer = web.post(f"/patients/{ward.mine}/orders", data={"csrf": csrf, "key": key, **fields})
    assert answer.status_code == 303, answer.text
    [written] = stored(service, ward.mine)
    location = answer.headers["location"]
    assert urlsplit(location).path == f"/patients/{ward.mine}/orders" and location.endswith(f"#order-{written['id']}")
    assert (written["status"], written["intent"], written["priority"]) == ("active", "order", "urgent")
    assert written["category"] == [{"coding": [{"system": SNOMED, "code": "363679005", "display": "Imaging"}]}]
    chest = {"system": "http://loinc.org", "code": "36643-5", "display": "XR Chest 2 Views"}
    assert written["code"] == {"coding": [chest], "text": "Røntgen af thorax"}
    assert written["subject"] == {"reference": f"Patient/{ward.mine}"}
    assert written["encounter"] == {"reference": f"Encounter/enc-{ward.tag}"}
    assert written["requester"] == {"reference": f"Practitioner/{ward.doctor}"}
    assert written["occurrenceDateTime"] == "2026-11-24" and written["authoredOn"].startswith("2026-11-22T")
    assert written["reasonCode"] == [{"text": "Feber og hoste.\nPneumoni?"}]
    assert written["identifier"] == [{"system": form_key.KEY_SYSTEM, "value": key}]
    shown = orders_json(web, ward.mine, written=written["id"])
    assert shown["written"] == written["id"] and shown["open"][0]["id"] == written["id"]  # newest first
    first = shown["open"][0]
    assert (first["what"], first["category"], first["priority"], first["requester"]) == (
        "Røntgen af thorax", "imaging", "urgent", "Læge")  # fmt: skip
    assert first["wanted"] == {"at": "2026-11-24", "text": "24 Nov 2026"}
    page = web.get(location).text
    assert 'id="written"' in page and f'<tr id="order-{written["id"]}" class="order-new">' in page


def test_the_same_form_sent_twice_writes_one_order(service: FhirService, ward: Ward) -> None:
    web, _, csrf = doctor(service, ward)
    form = {"csrf": csrf, "key": form_key.new_key(), "code": "1988-5", "priority": "stat", "occurrence": "2026-11-22"}
    first = web.post(f"/patients/{ward.mine}/orders", data=form)
    again = web.post(f"/patients/{ward.mine}/orders", data=form)
    assert first.status_code == again.status_code == 303
    assert first.headers["location"] == again.headers["location"]
    assert len(stored(service, ward.mine)) == 1
    assert order(web, ward.mine, csrf).status_code == 303 and len(stored(service, ward.mine)) == 2


@pytest.mark.parametrize(
    ("fields", "field", "said"),
    [
        ({"code": ""}, "code", "Choose a test or a study from the list."),
        ({"code": "99999-9"}, "code", "Choose a test or a study from the list."),
        ({"priority": "whenever"}, "priority", "Choose a priority."),
        ({"occurrence": ""}, "occurrence", "Write the day the order is wanted."),
        ({"occurrence": "next week"}, "occurrence", "Write the day, such as"),
        ({"occurrence": "2026-11-21"}, "occurrence", "The day has passed."),
        ({"occurrence": "2028-01-01"}, "occurrence", "More than a year ahead."),
        ({"code": "24725-4"}, "reason", "An imaging study needs a reason"),
        ({"reason": "x" * 1001}, "reason", "At most 1000 characters."),
        ({"key": ""}, "key", "The form was not complete."),
    ],
    ids=["no-code", "unknown-code", "priority", "no-day", "bad-day", "past", "far", "no-reason", "long", "no-key"],
)
def test_bad_input_is_refused_beside_the_field(
    service: FhirService, ward: Ward, fields: dict[str, str], field: str, said: str
) -> None:
    web, _, csrf = doctor(service, ward)
    answer = order(web, ward.mine, csrf, **fields)
    assert answer.status_code == 400 and said in answer.text, answer.text[-3000:]
    assert f'id="order-{field}-error"' in answer.text
    if field in ("code", "occurrence", "reason"):
        assert f'aria-invalid="true" aria-describedby="order-{field}-error' in answer.text
    assert stored(service, ward.mine) == []


def test_a_patient_outside_care_is_refused(service: FhirService, ward: Ward) -> None:
    web, _, csrf = doctor(service, ward)
    page = web.get(f"/patients/{ward.theirs}/orders")
    assert page.status_code == 403 and ward.theirs_name not in page.text
    assert web.get(f"/patients/{ward.theirs}/orders", params={"_format": "json"}).status_code == 403
    for fields in ({}, {"code": ""}):
        refused = order(web, ward.theirs, csrf, **fields)
        assert refused.status_code == 403 and ward.theirs_name not in refused.text
    assert stored(service, ward.theirs) == []
    assert order(web, "no-such-patient", csrf).status_code == 404
    assert order(web, ward.mine, "wrong").status_code == 403 and stored(service, ward.mine) == []


def test_the_order_is_on_the_trail_as_the_staff_members(service: FhirService, ward: Ward) -> None:
    web, username, csrf = doctor(service, ward)
    position = _position(service)
    assert order(web, ward.mine, csrf).status_code == 303
    [written] = stored(service, ward.mine)
    events = _about(service, username, ward.mine, position)
    assert any(
        any(s["code"] == "create" for s in e["subtype"])
        and any(
            x.get("what", {}).get("reference", "").startswith(f"ServiceRequest/{written['id']}/") for x in e["entity"]
        )
        for e in events
    )
    assert any(any(s["code"] == "search-type" for s in e["subtype"]) for e in _about(service, username, ward.mine, 0))


def test_markup_is_shown_as_text(service: FhirService, ward: Ward) -> None:
    web, _, csrf = doctor(service, ward)
    assert order(web, ward.mine, csrf, reason="<script>alert(1)</script>").status_code == 303
    page = web.get(f"/patients/{ward.mine}/orders").text
    assert "<script>alert(1)" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_the_orders_in_danish(service: FhirService, ward: Ward) -> None:
    web, _, csrf = doctor(service, ward, "da")
    page = web.get(f"/patients/{ward.mine}/orders").text
    for said in ("Bestil en undersøgelse", "Åbne bestillinger", "Gem bestillingen", "Haster"):
        assert said in page, said
    assert "Dagen er gået." in order(web, ward.mine, csrf, occurrence="2026-01-01").text


def test_the_orders_are_coded_as_the_generator_codes_them() -> None:
    analytes = {a.loinc for a in ANALYTES.values()}
    studies = {s.loinc[0]: s.danish for s in STUDIES.values() if s.loinc}
    for code, orderable in orders.ORDERABLE.items():
        if orderable.category == "imaging":
            assert studies[code] == orderable.danish
        elif code not in {"58410-2", "24326-1", "24362-6", "24325-3", "24331-1"}:  # the panels
            assert code in analytes
