"""A small hand-made demo region, until the population generator (issue 4) replaces it.

Fixed ids, so that loading it twice writes nothing new."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

SOR = "urn:oid:1.2.208.176.1.1"
CPR = "urn:oid:1.2.208.176.1.2"
NPU = "urn:oid:1.2.208.176.2.1"


def _patient(pid: str, cpr: str, family: str, given: str, gender: str, birth: str, city: str) -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "id": pid,
        "identifier": [{"use": "official", "system": CPR, "value": cpr}],
        "name": [{"use": "official", "family": family, "given": [given]}],
        "gender": gender,
        "birthDate": birth,
        "address": [{"city": city, "country": "DK"}],
        "managingOrganization": {"reference": "Organization/rigshospitalet"},
    }


def demo_resources() -> Iterator[dict[str, Any]]:
    yield {
        "resourceType": "Organization",
        "id": "rigshospitalet",
        "active": True,
        "name": "Rigshospitalet",
        "identifier": [{"system": SOR, "value": "265161000016000"}],
    }
    yield {
        "resourceType": "Organization",
        "id": "herlev-gentofte",
        "active": True,
        "name": "Herlev og Gentofte Hospital",
        "identifier": [{"system": SOR, "value": "157881000016005"}],
    }
    patients = [
        _patient("demo-soeren", "0703584127", "Sørensen", "Søren", "male", "1958-03-07", "København Ø"),
        _patient("demo-aase", "1212451118", "Ærø", "Åse", "female", "1945-12-12", "Hillerød"),
        _patient("demo-mueller", "2902044235", "Müller", "Jens", "male", "2004-02-29", "Roskilde"),
    ]
    yield from patients
    for patient in patients:
        pid = patient["id"]
        yield {
            "resourceType": "Encounter",
            "id": f"{pid}-enc",
            "status": "finished",
            "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
            "subject": {"reference": f"Patient/{pid}"},
            "serviceProvider": {"reference": "Organization/rigshospitalet"},
            "period": {"start": "2026-11-20T09:00:00+01:00", "end": "2026-11-20T09:30:00+01:00"},
        }
        yield {
            "resourceType": "Observation",
            "id": f"{pid}-hba1c",
            "status": "final",
            "category": [
                {
                    "coding": [
                        {"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "laboratory"}
                    ]
                }
            ],
            "code": {
                "coding": [
                    {"system": NPU, "code": "NPU27300", "display": "HbA1c"},
                    {"system": "http://loinc.org", "code": "4548-4"},
                ],
                "text": "HbA1c",
            },
            "subject": {"reference": f"Patient/{pid}"},
            "encounter": {"reference": f"Encounter/{pid}-enc"},
            "effectiveDateTime": "2026-11-20T09:10:00+01:00",
            "valueQuantity": {
                "value": 53,
                "unit": "mmol/mol",
                "system": "http://unitsofmeasure.org",
                "code": "mmol/mol",
            },
            "referenceRange": [{"low": {"value": 31, "unit": "mmol/mol"}, "high": {"value": 44, "unit": "mmol/mol"}}],
        }
        yield {
            "resourceType": "Condition",
            "id": f"{pid}-diabetes",
            "clinicalStatus": {
                "coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}]
            },
            "code": {
                "coding": [
                    {"system": "http://hl7.org/fhir/sid/icd-10", "code": "E11", "display": "Type 2 diabetes mellitus"}
                ]
            },
            "subject": {"reference": f"Patient/{pid}"},
        }
