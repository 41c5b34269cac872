"""--today pins the clock: a ward, a clinic and a theatre have a full day today."""

from __future__ import annotations

from collections import Counter

from tests.generate.conftest import TODAY


def test_todays_appointments_operations_and_inpatients(resources):
    today = TODAY.isoformat()
    booked_today = [
        a
        for a in resources
        if a["resourceType"] == "Appointment" and a["status"] == "booked" and a["start"].startswith(today)
    ]
    operations = [a for a in booked_today if "basedOn" in a]
    clinic_times = [a for a in booked_today if "basedOn" not in a]
    assert len(clinic_times) >= 10
    assert len(operations) >= 5
    # The first operation of the day in the first theatre is acute; every one has a ServiceRequest.
    assert {a["priority"] for a in operations} >= {1, 5}
    requests = {r["id"]: r for r in resources if r["resourceType"] == "ServiceRequest"}
    assert all(requests[a["basedOn"][0]["reference"].split("/")[1]]["priority"] for a in operations)
    # Booked slots are busy, and no slot is booked twice.
    slots = {s["id"]: s for s in resources if s["resourceType"] == "Slot"}
    booked = [a["slot"][0]["reference"].split("/")[1] for a in booked_today]
    assert len(booked) == len(set(booked)) and all(slots[s]["status"] == "busy" for s in booked)
    assert any(s["status"] == "free" and s["start"].startswith(today) for s in slots.values())
    # Current inpatients lie in a bed of a ward, one patient per bed; the bed says it is occupied.
    in_bed = [
        e
        for e in resources
        if e["resourceType"] == "Encounter" and e["status"] == "in-progress" and e["class"]["code"] == "IMP"
    ]
    assert len(in_bed) >= 10
    beds = [e["location"][1]["location"]["reference"] for e in in_bed]
    assert len(beds) == len(set(beds))
    locations = {f"Location/{r['id']}": r for r in resources if r["resourceType"] == "Location"}
    assert all(locations[b]["physicalType"]["coding"][0]["code"] == "bd" for b in beds)
    assert all(locations[b]["operationalStatus"]["code"] == "O" for b in beds)
    wards = Counter(e["location"][0]["location"]["reference"] for e in in_bed)
    assert wards.most_common(1)[0][1] >= 8  # one ward is (nearly) full


def test_some_appointments_were_cancelled_in_a_downtime(resources):
    cancelled = [a for a in resources if a["resourceType"] == "Appointment" and a["status"] == "cancelled"]
    assert cancelled and all("IT-nedbrud" in a["cancelationReason"]["text"] for a in cancelled)
