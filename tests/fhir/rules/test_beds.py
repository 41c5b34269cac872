"""The bed rules (fhir/rules/beds.py) on both backends: an admission or transfer into an occupied,
closed or uncleaned bed is refused in the core and through a plain FHIR PUT (an OperationOutcome,
nothing stored), and the refusal names the bed, never the patient in it; a bed with a patient in
it cannot be closed; two transfers racing into one free bed give exactly one winner."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from starlette.testclient import TestClient

from lifeline.errors import FhirError, Unprocessable
from lifeline.fhir.request import FhirRequest
from lifeline.fhir.service import FhirService
from lifeline.identity.principal import OPERATOR
from tests.conftest import assert_outcome
from tests.logistics.test_beds import Hospital, hospital, put, read, ref

IMP = {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "IMP"}


def stay(
    place: Hospital, name: str, patient: str, bed: str, status: str = "in-progress", **extra: Any
) -> dict[str, Any]:
    i = place.id
    where = [
        {"location": ref(f"Location/{i(bed[:-1].replace('bed', 'ward'))}"), "status": "active"},
        {"location": ref(f"Location/{i(bed)}"), "status": "active", "period": {"start": "2026-12-01T08:00:00+01:00"}},
    ]
    return {
        "resourceType": "Encounter",
        "id": i(name),
        "status": status,
        "class": IMP,
        "subject": ref(f"Patient/{i(patient)}"),
        "location": where,
        **extra,
    }


def update(service: FhirService, resource: dict[str, Any]) -> None:
    service.handle(FhirRequest("update", resource["resourceType"], resource["id"], body=resource, principal=OPERATOR))


@pytest.fixture
def place(service: FhirService) -> Hospital:
    return hospital(service)


def test_a_second_patient_in_an_occupied_bed_is_refused_naming_the_bed_only(
    service: FhirService, place: Hospital
) -> None:
    put(service, stay(place, "one", "pat1", "bedA1"))
    with pytest.raises(Unprocessable) as refused:
        update(service, stay(place, "two", "pat2", "bedA1"))
    assert str(refused.value) == f"Seng 1 on Sengeafsnit A{place.tag} is occupied: choose a free bed"
    assert "Patient1" not in str(refused.value)
    with pytest.raises(FhirError):
        service.handle(FhirRequest("read", "Encounter", place.id("two"), principal=OPERATOR))
    # A finished stay, a bed left (its entry completed) or a planned stay holds no bed.
    put(service, stay(place, "two", "pat2", "bedA1", status="planned"))
    done = stay(place, "one", "pat1", "bedA1", status="finished")
    put(service, done)
    put(service, stay(place, "two", "pat2", "bedA1"))
    left = stay(place, "two", "pat2", "bedA1")
    left["location"][1] = {
        **left["location"][1],
        "status": "completed",
        "period": {"start": "2026-12-01T08:00:00+01:00", "end": "2026-12-02T08:00:00+01:00"},
    }
    put(service, left)
    put(service, stay(place, "three", "pat3", "bedA1"))


def test_an_unchanged_stay_is_not_checked_again(service: FhirService, place: Hospital) -> None:
    """A stay already in its bed may be updated (a diagnosis added) without the bed counting as taken by itself."""
    put(service, stay(place, "one", "pat1", "bedA1"))
    put(service, stay(place, "one", "pat1", "bedA1", reasonCode=[{"text": "Pneumoni"}]))
    assert read(service, "Encounter", place.id("one"))["reasonCode"][0]["text"] == "Pneumoni"


def test_a_closed_or_uncleaned_bed_takes_nobody(service: FhirService, place: Hospital) -> None:
    with pytest.raises(Unprocessable, match=f"^Seng 3 on Sengeafsnit A{place.tag} is closed"):
        update(service, stay(place, "one", "pat1", "bedA3"))
    bed = read(service, "Location", place.id("bedA4"))
    put(service, {**bed, "operationalStatus": {**bed["operationalStatus"], "code": "H"}})
    with pytest.raises(Unprocessable, match="is being cleaned"):
        update(service, stay(place, "one", "pat1", "bedA4"))


def test_a_bed_with_a_patient_in_it_cannot_be_closed_or_marked_free(service: FhirService, place: Hospital) -> None:
    put(service, stay(place, "one", "pat1", "bedA1"))
    bed = read(service, "Location", place.id("bedA1"))
    with pytest.raises(Unprocessable, match="has a patient in it, so it cannot be marked closed"):
        update(service, {**bed, "operationalStatus": {**bed["operationalStatus"], "code": "C"}})
    assert read(service, "Location", place.id("bedA1"))["operationalStatus"]["code"] == "U"
    put(service, {**bed, "name": "Seng 1 (vindue)"})  # anything else of the bed may change


def test_a_plain_fhir_put_into_an_occupied_bed_gets_an_operation_outcome(
    client: TestClient, service: FhirService, place: Hospital
) -> None:
    put(service, stay(place, "one", "pat1", "bedA1"))
    headers = {"Content-Type": "application/fhir+json"}
    answer = client.put(f"/fhir/Encounter/{place.id('two')}", json=stay(place, "two", "pat2", "bedA1"), headers=headers)
    assert_outcome(answer, 422, "business-rule", "is occupied")
    assert "Patient1" not in answer.text and place.id("pat1") not in answer.text
    assert client.get(f"/fhir/Encounter/{place.id('two')}").status_code == 404
    # In a transaction: nothing of the bundle is written.
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "resource": stay(place, "three", "pat3", "bedB1"),
                "request": {"method": "PUT", "url": f"Encounter/{place.id('three')}"},
            },
            {
                "resource": stay(place, "four", "pat4", "bedB1"),
                "request": {"method": "PUT", "url": f"Encounter/{place.id('four')}"},
            },
        ],
    }
    assert_outcome(client.post("/fhir", json=bundle, headers=headers), 422, "business-rule", "is occupied")
    assert client.get(f"/fhir/Encounter/{place.id('three')}").status_code == 404


def test_two_transfers_racing_into_one_free_bed_give_one_winner(service: FhirService, place: Hospital) -> None:
    put(service, stay(place, "one", "pat1", "bedA1"))
    put(service, stay(place, "two", "pat2", "bedA2"))
    start = threading.Barrier(2)

    def move(name: str) -> str:
        moved = read(service, "Encounter", place.id(name))
        moved["location"][1] = {
            **moved["location"][1],
            "status": "completed",
            "period": {"start": "2026-12-01T08:00:00+01:00", "end": "2026-12-03T08:00:00+01:00"},
        }
        moved["location"].append({"location": ref(f"Location/{place.id('bedA4')}"), "status": "active"})
        start.wait()
        try:
            update(service, moved)
        except Unprocessable as refused:
            return str(refused)
        return "moved"

    with ThreadPoolExecutor(2) as pool:
        answers = sorted(pool.map(move, ("one", "two")))
    assert sorted(answers, key=len) == ["moved", f"Seng 4 on Sengeafsnit A{place.tag} is occupied: choose a free bed"]
    in_bed = [
        n
        for n in ("one", "two")
        if read(service, "Encounter", place.id(n))["location"][-1]["location"]["reference"].endswith(
            "bedA4-" + place.tag
        )
    ]
    assert len(in_bed) == 1
