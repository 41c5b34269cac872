"""A transaction that the database makes run again (a race with another writer) starts afresh
from the Bundle as sent: the references it writes point at the resources it finally created."""

from __future__ import annotations

import uuid

from lifeline.config import Settings
from lifeline.fhir.request import FhirRequest
from lifeline.fhir.service import FhirService
from lifeline.identity.principal import OPERATOR
from lifeline.storage.repository import RetryableConflict
from lifeline.storage.write_session import WriteSession
from tests.conftest import dispose, fresh_repository, new_patient


def test_a_retried_transaction_resolves_references_to_its_final_ids(tmp_path, monkeypatch):
    repo = fresh_repository("sqlite", tmp_path)
    service = FhirService(repo, Settings())
    real_finish = WriteSession.finish
    raised: list[bool] = []

    def lose_the_first_race(self: WriteSession):  # type: ignore[no-untyped-def]
        if not raised:
            raised.append(True)
            raise RetryableConflict("another writer took the id first")
        return real_finish(self)

    monkeypatch.setattr(WriteSession, "finish", lose_the_first_race)
    patient_url = f"urn:uuid:{uuid.uuid4()}"
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {"fullUrl": patient_url, "resource": new_patient(), "request": {"method": "POST", "url": "Patient"}},
            {
                "resource": {
                    "resourceType": "Observation",
                    "status": "final",
                    "code": {"text": "pulse"},
                    "subject": {"reference": patient_url},
                },
                "request": {"method": "POST", "url": "Observation"},
            },
        ],
    }
    try:
        response = service.handle(FhirRequest("transaction", body=bundle, principal=OPERATOR))
        assert raised == [True]
        entries = response.resource["entry"]  # type: ignore[index]
        patient_id = entries[0]["resource"]["id"]
        observation = repo.read("Observation", entries[1]["resource"]["id"])
        assert observation is not None
        assert f'"reference":"Patient/{patient_id}"' in (observation.content or "")
        assert repo.read("Patient", patient_id) is not None
        assert bundle["entry"][1]["resource"]["subject"]["reference"] == patient_url  # the input is untouched
    finally:
        dispose(repo)
