"""A slot booked at a cut-off site and at the centre during the same cut (issue 24): the centre
keeps its own booking, and the site's becomes a conflict on the reconciliation list, never a
second patient in the slot. While the site is connected, the same push is refused (the clinician
at the site is told to reload), as with any edit race (replication/replay.py)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from starlette.testclient import TestClient

from lifeline.fhir.service import FhirService
from lifeline.identity import sites
from tests.conftest import new_patient

START, END = "2026-11-30T09:00:00+01:00", "2026-11-30T09:20:00+01:00"


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
