"""The IHE ITI Scheduling flow against the real server process, driven by the public fhirpy
client: $find a free time, $book it, find the patient's appointments [ITI-118], $book it again
for another patient and be refused with an OperationOutcome."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fhirpy import SyncFHIRClient
from fhirpy.base.exceptions import OperationOutcome

from lifeline.clock import today
from tests.web.test_real_server import Server, server  # noqa: F401 - the fixture


def test_find_book_and_a_double_booking_refused(server: Server) -> None:  # noqa: F811
    client = SyncFHIRClient(server.base, authorization=f"Bearer {server.token('system/*.cruds')}")
    clinic = client.resource("Location", name="Ambulatorium, Kardiologi")
    clinic.save()
    schedule = client.resource("Schedule", active=True, actor=[{"reference": f"Location/{clinic.id}"}])
    schedule.save()
    day = (today() + timedelta(days=3)).isoformat()
    slot = client.resource("Slot", schedule={"reference": f"Schedule/{schedule.id}"}, status="free",
                           start=f"{day}T09:00:00+01:00", end=f"{day}T09:30:00+01:00")  # fmt: skip
    slot.save()
    first, second = (client.resource("Patient", name=[{"family": family}]) for family in ("Holm", "Berg"))
    first.save()
    second.save()

    found = client.execute("Appointment/$find", method="get", params={"location": f"Location/{clinic.id}",
                                                                      "start": day, "end": day})  # fmt: skip
    assert found["resourceType"] == "Bundle" and len(found["entry"]) == 1
    proposed = found["entry"][0]["resource"]
    assert proposed["status"] == "proposed" and proposed["slot"] == [{"reference": f"Slot/{slot.id}"}]

    def booking(patient_id: str) -> dict[str, object]:
        participant = [
            *proposed["participant"],
            {"actor": {"reference": f"Patient/{patient_id}"}, "status": "accepted"},
        ]
        appointment = {**proposed, "participant": participant}
        return {"resourceType": "Parameters", "parameter": [{"name": "appointment-resource", "resource": appointment}]}

    booked = client.execute("Appointment/$book", data=booking(first.id))["entry"][0]["resource"]
    assert booked["status"] == "booked" and booked["start"] == f"{day}T09:00:00+01:00"
    assert client.reference("Slot", slot.id).to_resource()["status"] == "busy"
    theirs = client.resources("Appointment").search(patient=f"Patient/{first.id}").fetch()
    assert [a.id for a in theirs] == [booked["id"]]
    with pytest.raises(OperationOutcome) as refused:
        client.execute("Appointment/$book", data=booking(second.id))
    assert "already booked" in str(refused.value)
    assert client.resources("Appointment").search(patient=f"Patient/{second.id}").fetch() == []
