"""A slot booked at a cut-off site and at the centre during the same cut (issue 24): the centre
keeps its own booking, and the site's becomes a conflict on the reconciliation list, never a
second patient in the slot. While the site is connected, the same push is refused (the clinician
at the site is told to reload), as with any edit race (replication/replay.py). First as pushes to
the centre's replication API, then end to end with a real centre and site on loopback."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from lifeline.fhir import urls
from lifeline.fhir.service import FhirService
from lifeline.identity import sites
from lifeline.identity.principal import OPERATOR
from tests.conftest import BACKENDS, new_patient
from tests.replication.nodes import CentralNode, SiteNode, wait_until
from tests.replication.test_site_cycle import _caught_up, _headers

START, END = "2026-11-30T09:00:00+01:00", "2026-11-30T09:20:00+01:00"
# The real nodes below read the wall clock: their slot lies ahead of any day these tests run on.
AHEAD, AHEAD_END = "2036-06-03T09:00:00+02:00", "2036-06-03T09:20:00+02:00"


@pytest.fixture
def site(service: FhirService) -> dict[str, str]:
    site_id = f"s{uuid.uuid4().hex[:8]}"
    credential = sites.add_site(service.repo, site_id, f"http://{site_id}.test")
    return {"authorization": f"Bearer {credential}"}


def _slot(client: TestClient) -> dict[str, Any]:
    clinic = client.post("/fhir/Location", json={"resourceType": "Location", "name": "Ambulatorium"}).json()
    schedule = client.post(
        "/fhir/Schedule",
        json={"resourceType": "Schedule", "actor": [{"reference": f"Location/{clinic['id']}"}]},
    ).json()
    slot = {
        "resourceType": "Slot",
        "schedule": {"reference": f"Schedule/{schedule['id']}"},
        "status": "free",
        "start": START,
        "end": END,
    }
    created: dict[str, Any] = client.post("/fhir/Slot", json=slot).json()
    return created


def _appointment(patient: dict[str, Any], slot: dict[str, Any], res_id: str | None = None) -> dict[str, Any]:
    appointment = {
        "resourceType": "Appointment",
        "status": "booked",
        "start": START,
        "end": END,
        "slot": [{"reference": f"Slot/{slot['id']}"}],
        "participant": [{"actor": {"reference": f"Patient/{patient['id']}"}, "status": "accepted"}],
    }
    return {**appointment, "id": res_id} if res_id else appointment


def _change(seq: int, resource: dict[str, Any], version: int, **extra: Any) -> dict[str, Any]:
    return {
        "localSeq": seq,
        "type": resource["resourceType"],
        "id": resource["id"],
        "version": version,
        "deleted": False,
        "method": "PUT",
        "lastUpdated": "2026-11-23T08:00:00.000Z",  # made at the site during the cut, before the slot's day
        "content": resource,
        **extra,
    }


def _push(client: TestClient, headers: dict[str, str], changes: list[dict[str, Any]]) -> list[str]:
    body = {"stream": uuid.uuid4().hex, "changes": changes}
    answer = client.post("/replication/outbox", json=body, headers=headers)
    assert answer.status_code == 200, answer.text
    outcomes: list[str] = answer.json()["outcomes"]
    return outcomes


def _booked_in(client: TestClient, slot: dict[str, Any]) -> list[str]:
    found = client.get("/fhir/Appointment", params={"slot": f"Slot/{slot['id']}", "status": "booked"}).json()
    return sorted(e["resource"]["participant"][0]["actor"]["reference"] for e in found.get("entry", []))


def _book_centrally(client: TestClient, patient: dict[str, Any], slot: dict[str, Any]) -> None:
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "resource": {**slot, "status": "busy"},
                "request": {"method": "PUT", "url": f"Slot/{slot['id']}", "ifMatch": 'W/"1"'},
            },
            {"resource": _appointment(patient, slot), "request": {"method": "POST", "url": "Appointment"}},
        ],
    }
    answer = client.post("/fhir", json=bundle)
    assert answer.status_code == 200, answer.text


def test_a_slot_booked_at_a_cut_off_site_and_centrally_is_a_conflict_not_two_patients(
    client: TestClient, site: dict[str, str]
) -> None:
    slot = _slot(client)
    at_centre = client.post("/fhir/Patient", json=new_patient()).json()
    at_site = client.post("/fhir/Patient", json=new_patient()).json()
    _book_centrally(client, at_centre, slot)
    # Meanwhile the cut-off site booked the same slot (its replica still had it free).
    site_booking = _appointment(at_site, slot, str(uuid.uuid4()))
    site_slot = {**slot, "status": "busy", "meta": {"versionId": "2"}}
    outcomes = _push(client, site, [_change(1, site_slot, 2), _change(2, site_booking, 1)])
    # Both sides made the slot busy: the same content, nothing to settle there. The site's
    # appointment would put a second patient in it, which the record's rules refuse.
    assert outcomes == ["same", "conflict"]
    assert _booked_in(client, slot) == [f"Patient/{at_centre['id']}"]
    assert client.get(f"/fhir/Appointment/{site_booking['id']}").status_code == 404
    waiting = client.get("/fhir/$conflicts").json()
    listed = {
        p["valueReference"]["reference"]
        for e in waiting.get("entry", [])
        for p in e["resource"]["parameter"]
        if p["name"] == "target"
    }
    assert f"Appointment/{site_booking['id']}" in listed  # kept for a person to settle, not lost


def test_the_same_booking_is_refused_while_the_site_is_connected(client: TestClient, site: dict[str, str]) -> None:
    slot = _slot(client)
    _book_centrally(client, client.post("/fhir/Patient", json=new_patient()).json(), slot)
    late = client.post("/fhir/Patient", json=new_patient()).json()
    booking = _appointment(late, slot, str(uuid.uuid4()))
    assert _push(client, site, [_change(1, booking, 1, synchronous=True)]) == ["rejected"]
    assert client.get(f"/fhir/Appointment/{booking['id']}").status_code == 404


def test_a_site_booking_of_a_slot_nobody_else_took_is_applied(client: TestClient, site: dict[str, str]) -> None:
    slot = _slot(client)
    patient = client.post("/fhir/Patient", json=new_patient()).json()
    booking = _appointment(patient, slot, str(uuid.uuid4()))
    busy = {**slot, "status": "busy"}
    # Made at the site during the cut on the 23rd for the 30th; it reaches the centre later.
    assert _push(client, site, [_change(1, busy, 2), _change(2, booking, 1)]) == ["applied", "applied"]
    assert _booked_in(client, slot) == [f"Patient/{patient['id']}"]


@pytest.fixture(params=BACKENDS)
def centre(request: pytest.FixtureRequest, tmp_path: Any) -> Any:
    node = CentralNode(str(request.param), tmp_path / "centre")
    node.start()
    yield node
    node.close()


def _book(slot: dict[str, Any], patient: str) -> dict[str, Any]:
    booking = {**_appointment({"id": patient}, slot), "start": slot["start"], "end": slot["end"]}
    return {"resourceType": "Parameters", "parameter": [{"name": "appointment-resource", "resource": booking}]}


def test_a_slot_booked_at_a_cut_off_site_and_at_the_centre_heals_into_one_booking_and_a_conflict(
    centre: CentralNode, tmp_path: Any
) -> None:
    central = centre
    site = SiteNode(central, "hvidovre", "sqlite", tmp_path / "hvidovre")
    try:
        wait_until(lambda: _caught_up(site), what="the site to connect")
        headers = _headers(site.token())

        def at_site(method: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
            answer = site.client.request(method, path, json=body, headers=headers)
            assert answer.status_code in (200, 201), answer.text
            result: dict[str, Any] = answer.json()
            return result

        clinic = at_site("POST", "/fhir/Location", {"resourceType": "Location", "name": "Ambulatorium"})
        schedule = at_site(
            "POST", "/fhir/Schedule", {"resourceType": "Schedule", "actor": [{"reference": f"Location/{clinic['id']}"}]}
        )
        slot = at_site(
            "POST",
            "/fhir/Slot",
            {"resourceType": "Slot", "schedule": {"reference": f"Schedule/{schedule['id']}"}, "status": "free",
             "start": AHEAD, "end": AHEAD_END},
        )  # fmt: skip
        local, central_patient = (at_site("POST", "/fhir/Patient", new_patient()) for _ in range(2))
        wait_until(lambda: _caught_up(site), what="the site to hold what it wrote")
        central.stop()
        # At the cut-off site: the slot is free in its replica, and the secretary books it.
        booked_here = at_site("POST", "/fhir/Appointment/$book", _book(slot, local["id"]))
        assert booked_here["entry"][0]["resource"]["status"] == "booked"
        # Meanwhile at the centre, through its core: the same slot for another patient.
        request = urls.parse("POST", "Appointment/$book", [], f"{central.url}/fhir")
        request.body, request.principal = _book(slot, central_patient["id"]), OPERATOR
        assert central.service.handle(request).status == 200
        central.start()
        wait_until(lambda: _caught_up(site) and site.node.status()["pendingLocalChanges"] == 0, what="healing")
        token = {"authorization": f"Bearer {central.token()}"}
        held = httpx.get(
            f"{central.url}/fhir/Appointment", params={"slot": f"Slot/{slot['id']}", "status": "booked"}, headers=token
        ).json()
        assert [e["resource"]["participant"][0]["actor"]["reference"] for e in held.get("entry", [])] == [
            f"Patient/{central_patient['id']}"
        ]
        listed = httpx.get(f"{central.url}/fhir/$conflicts", headers=token).json()
        targets = [
            p["valueReference"]["reference"]
            for e in listed.get("entry", [])
            for p in e["resource"]["parameter"]
            if p["name"] == "target"
        ]
        assert f"Appointment/{booked_here['entry'][0]['resource']['id']}" in targets
    finally:
        site.close()
