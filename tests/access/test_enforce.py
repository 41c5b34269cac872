"""What the token's scopes let back out (issue 19.9), who may break the glass (19.11), and
conditional writes that match only what the writer may see (19.4)."""

from __future__ import annotations

import uuid
from typing import Any

from lifeline.fhir.service import FhirService
from tests.conftest import assert_outcome
from tests.web.test_access_policy import CPR

FHIR = {"Content-Type": "application/fhir+json"}
GLASS = {
    "resourceType": "Parameters",
    "parameter": [
        {
            "name": "reason",
            "valueCoding": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActReason", "code": "BTG"},
        },
        {"name": "text", "valueString": "Unconscious in the emergency room"},
    ],
}


def _types(bundle: dict[str, Any]) -> set[str]:
    return {e["resource"]["resourceType"] for e in bundle.get("entry", []) if e["search"]["mode"] != "outcome"}


def _token(service: FhirService, world: dict[str, Any], scopes: str, **claims: Any) -> dict[str, str]:
    practitioner = claims.pop("practitioner", "docA")
    token = service.identity.issue(
        subject=f"app-{uuid.uuid4().hex[:6]}",
        client_id="tests",
        scopes=scopes,
        fhir_user=f"Practitioner/{world[practitioner]}",
        lifetime=600,
        **claims,
    )
    return {"Authorization": f"Bearer {token}"}


def test_includes_and_everything_keep_to_the_scopes(client: Any, service: FhirService, world: dict[str, Any]) -> None:
    observations = _token(service, world, "user/Observation.rs")
    bundle = client.get(
        f"/fhir/Observation?subject=Patient/{world['enc']}&_include=Observation:subject", headers=observations
    ).json()
    assert _types(bundle) == {"Observation"}
    patients = _token(service, world, "user/Patient.r")
    everything = client.get(f"/fhir/Patient/{world['enc']}/$everything", headers=patients).json()
    assert _types(everything) == {"Patient"}
    # A backend app for Slots sees Slots only, whatever `_type` it asks.
    slots = service.identity.issue(subject="slots", client_id="tests", scopes="system/Slot.rs", lifetime=600)
    slot_h = {"Authorization": f"Bearer {slots}"}
    assert_outcome(client.get("/fhir/?_type=Patient", headers=slot_h), 403)
    assert _types(client.get("/fhir/?_type=Slot&_count=50", headers=slot_h).json()) <= {"Slot"}


def test_a_launched_app_keeps_to_its_patient(client: Any, service: FhirService, world: dict[str, Any]) -> None:
    launched = _token(service, world, "patient/*.rs", patient=world["enc"])
    assert client.get(f"/fhir/Patient/{world['enc']}", headers=launched).status_code == 200
    assert client.get(f"/fhir/Observation/obs-enc-{world['tag']}", headers=launched).status_code == 200
    # docA cares for `bed` too, but this app was opened for `enc`.
    assert client.get(f"/fhir/Patient/{world['bed']}", headers=launched).status_code == 404
    found = client.get(f"/fhir/Patient?family={world['family']}", headers=launched).json()
    assert {e["resource"]["id"] for e in found["entry"] if e["search"]["mode"] == "match"} == {world["enc"]}
    unlaunched = _token(service, world, "patient/*.rs")
    assert client.get(f"/fhir/Patient/{world['enc']}", headers=unlaunched).status_code == 404
    # It writes only to its patient's record too.
    writer = {**FHIR, **_token(service, world, "patient/*.cruds", patient=world["enc"])}
    for name, status in (("enc", 201), ("bed", 404)):
        note = {"resourceType": "Observation", "status": "final", "code": {"text": "pulse"}}
        note["subject"] = {"reference": f"Patient/{world[name]}"}
        assert client.post("/fhir/Observation", json=note, headers=writer).status_code == status, name


def test_only_a_clinician_with_a_writing_app_breaks_the_glass(
    client: Any, service: FhirService, world: dict[str, Any]
) -> None:
    url = f"/fhir/Patient/{world['old']}/$break-the-glass"
    reader = _token(service, world, "user/Patient.r")
    assert_outcome(client.post(url, json=GLASS, headers={**FHIR, **reader}), 403, text="user/Patient.u")
    assert_outcome(client.get(f"/fhir/Patient/{world['old']}", headers=reader), 403, "suppressed")
    # A Practitioner with no role in any department is no clinician.
    nobody = f"nobody-{world['tag']}"
    client.put(f"/fhir/Practitioner/{nobody}", json={"resourceType": "Practitioner", "id": nobody}, headers=FHIR)
    world[nobody] = nobody
    roleless = _token(service, world, "user/*.cruds", practitioner=nobody)
    assert_outcome(client.post(url, json=GLASS, headers={**FHIR, **roleless}), 403, text="clinical role")
    refusal = assert_outcome(client.get(f"/fhir/Patient/{world['old']}", headers=world["docB_h"]), 403, "suppressed")
    assert "ETREAT" in str(refusal) and "valueString" in str(refusal)  # says what to send


def test_conditional_writes_do_not_reveal_hidden_records(client: Any, world: dict[str, Any]) -> None:
    """A patient with patient/Patient.c learns nothing from If-None-Exist; staff learn nothing of a
    stranger's diagnosis from a conditional update with `_has`."""
    patient = world["patient_h"]("enc", "patient/Patient.c")
    body = {"resourceType": "Patient", "name": [{"family": "Probe"}]}

    def create(criteria: str) -> tuple[int, str]:
        response = client.post("/fhir/Patient", json=body, headers={**FHIR, **patient, "If-None-Exist": criteria})
        return response.status_code, response.json()["issue"][0]["diagnostics"]

    existing = create(f"identifier={CPR}|{world['parent_cpr']}")
    absent = create(f"identifier={CPR}|0101709999")
    assert existing == absent and existing[0] == 403
    code = f"{world['code']}|x"
    staff = {**FHIR, **world["docB_h"]}

    def delete(criteria: str) -> tuple[int, str]:
        response = client.delete(f"/fhir/Patient?{criteria}", headers=staff)
        return response.status_code, response.text

    hidden = delete(f"_has:Observation:subject:code={code}&_id={world['old']}")
    nothing = delete(f"_has:Observation:subject:code={code}-none&_id={world['old']}")
    assert hidden == nothing
    deleted = client.delete(f"/fhir/Observation?code={code}&subject=Patient/{world['old']}", headers=staff)
    none = client.delete(f"/fhir/Observation?code={code}-none&subject=Patient/{world['old']}", headers=staff)
    assert (deleted.status_code, deleted.text) == (none.status_code, none.text)
    assert client.get(f"/fhir/Observation/obs-old-{world['tag']}").status_code == 200  # not deleted
    assert client.get(f"/fhir/Patient/{world['old']}").status_code == 200
