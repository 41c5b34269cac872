"""Valid R4 resources for the validation tests; each call returns a fresh copy to mutate."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

CPR = "urn:oid:1.2.208.176.1.2"
UCUM = "http://unitsofmeasure.org"
# 1 January 1900, born after 2007's relaxation: fails modulus-11 yet is a valid CPR number.
CPR_WITHOUT_MOD11 = "0101001238"


def patient() -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "id": "p-1",
        "meta": {"versionId": "1", "lastUpdated": "2024-03-01T10:00:00.000+01:00"},
        "text": {"status": "generated", "div": '<div xmlns="http://www.w3.org/1999/xhtml">Jens Hansen</div>'},
        "identifier": [{"use": "official", "system": CPR, "value": "1505723457"}],
        "active": True,
        "name": [{"use": "official", "family": "Hansen", "given": ["Jens", "Peter"]}],
        "telecom": [
            {"system": "phone", "value": "+4512345678", "use": "home"},
            {"system": "email", "value": "jens@example.dk"},
        ],
        "gender": "male",
        "birthDate": "1972-05-15",
        "address": [
            {"use": "home", "line": ["Nørregade 1"], "city": "København", "postalCode": "1165", "country": "DK"}
        ],
        "managingOrganization": {"reference": "Organization/rh"},
    }


def observation() -> dict[str, Any]:
    mmol = {"unit": "mmol/L", "system": UCUM, "code": "mmol/L"}
    return {
        "resourceType": "Observation",
        "id": "glucose",
        "status": "final",
        "category": [
            {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "laboratory"}]}
        ],
        "code": {"coding": [{"system": "http://loinc.org", "code": "15074-8", "display": "Glucose"}]},
        "subject": {"reference": "Patient/p-1"},
        "effectiveDateTime": "2024-03-01T08:30:00+01:00",
        "issued": "2024-03-01T09:00:00.000+01:00",
        "valueQuantity": {"value": 5.4, **mmol},
        "referenceRange": [{"low": {"value": 4.0, **mmol}, "high": {"value": 6.0, **mmol}}],
    }


def blood_pressure() -> dict[str, Any]:
    """Observation with components (https://hl7.org/fhir/R4/observation-example-bloodpressure.html)."""

    def component(code: str, value: int) -> dict[str, Any]:
        return {
            "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
            "valueQuantity": {"value": value, "unit": "mmHg", "system": UCUM, "code": "mm[Hg]"},
        }

    return {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "85354-9"}]},
        "subject": {"reference": "Patient/p-1"},
        "effectivePeriod": {"start": "2024-03-01T08:00:00Z", "end": "2024-03-01T08:05:00Z"},
        "component": [component("8480-6", 120), component("8462-4", 80)],
    }


def transaction() -> dict[str, Any]:
    new_patient = "urn:uuid:61ebe359-bfdc-4613-8bf2-c5e300945f0a"
    return {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "fullUrl": new_patient,
                "resource": {"resourceType": "Patient", "name": [{"family": "Jensen"}]},
                "request": {"method": "POST", "url": "Patient"},
            },
            {
                "fullUrl": "urn:uuid:88f151c0-a954-468a-88bd-5ae15c08e059",
                "resource": {**observation(), "subject": {"reference": new_patient}},
                "request": {"method": "POST", "url": "Observation"},
            },
            {"request": {"method": "DELETE", "url": "Patient/old"}},
        ],
    }


def with_contained() -> dict[str, Any]:
    return {
        "resourceType": "MedicationRequest",
        "status": "active",
        "intent": "order",
        "contained": [{"resourceType": "Medication", "id": "med", "code": {"text": "Paracetamol 500 mg"}}],
        "medicationReference": {"reference": "#med"},
        "subject": {"reference": "Patient/p-1"},
    }


def questionnaire() -> dict[str, Any]:
    return {
        "resourceType": "Questionnaire",
        "status": "active",
        "item": [
            {
                "linkId": "1",
                "type": "group",
                "text": "Smoking",
                "item": [
                    {"linkId": "1.1", "type": "boolean", "text": "Do you smoke?"},
                    {
                        "linkId": "1.2",
                        "type": "group",
                        "enableWhen": [{"question": "1.1", "operator": "=", "answerBoolean": True}],
                        "item": [{"linkId": "1.2.1", "type": "integer", "text": "Cigarettes a day"}],
                    },
                ],
            }
        ],
    }


def primitive_extensions() -> dict[str, Any]:
    """A birth date with an extension, and a given name that has only an extension."""
    return {
        "resourceType": "Patient",
        "birthDate": "1970-01-01",
        "_birthDate": {
            "extension": [
                {
                    "url": "http://hl7.org/fhir/StructureDefinition/patient-birthTime",
                    "valueDateTime": "1970-01-01T10:30:00+01:00",
                }
            ]
        },
        "name": [
            {
                "given": ["Anna", None],
                "_given": [None, {"extension": [{"url": "http://example.org/unknown", "valueCode": "masked"}]}],
            }
        ],
    }


VALID = {
    "Patient": patient,
    "Observation": observation,
    "Observation with components": blood_pressure,
    "Bundle transaction": transaction,
    "contained": with_contained,
    "Questionnaire with nested items": questionnaire,
    "primitive extensions": primitive_extensions,
}


DROP = object()  # a patch value that removes the element


def patched(make: Callable[[], dict[str, Any]], changes: dict[str, Any]) -> dict[str, Any]:
    """A fresh sample with changes at dotted paths ("name.0.given"): a value, DROP, or a function
    of the old value; an index one past the end of a list appends."""
    resource = make()
    for path, value in changes.items():
        *parents, last = [int(p) if p.isdigit() else p for p in path.split(".")]
        target: Any = resource
        for key in parents:
            target = target[key]
        if value is DROP:
            del target[last]
        elif callable(value):
            target[last] = value(target[last])
        elif isinstance(target, list) and last == len(target):
            target.append(value)
        else:
            target[last] = value
    return resource
