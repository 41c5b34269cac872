"""The fixed resources every matching test searches: small, but with one case per rule."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

CPR = "urn:oid:1.2.208.176.1.2"
LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
PROFILE = "http://hl7.dk/fhir/core/StructureDefinition/dk-core-patient"

# The clock of date `ap` searches.
NOW = datetime(2024, 6, 1, tzinfo=UTC)

RESOURCES: list[dict[str, Any]] = [
    {
        "resourceType": "Patient",
        "id": "p1",
        "meta": {
            "lastUpdated": "2024-01-10T08:00:00Z",
            "tag": [{"system": "http://lifeline.dk/tags", "code": "vip"}],
            "profile": [PROFILE],
        },
        "identifier": [{"system": CPR, "value": "0101901234", "type": {"text": "CPR"}}],
        "active": True,
        "name": [{"family": "Müller", "given": ["Søren"]}],
        "telecom": [{"system": "phone", "value": "+4512345678"}, {"system": "email", "value": "s@x.dk"}],
        "gender": "male",
        "birthDate": "1990-01-01",
        "address": [{"line": ["Nørregade 1"], "city": "København"}],
        "generalPractitioner": [{"reference": "Practitioner/gp1"}],
        "managingOrganization": {"reference": "http://other.example/fhir/Organization/o1"},
    },
    {
        "resourceType": "Patient",
        "id": "p2",
        "meta": {"lastUpdated": "2024-02-15T12:30:00.500Z"},
        "identifier": [{"system": CPR, "value": "1506851234", "type": {"text": "CPR"}}],
        "active": False,
        "name": [{"family": "Hansen", "given": ["Åse"]}],
        "gender": "female",
        "birthDate": "1985-06",
        "deceasedDateTime": "2023-05-01T12:00:00+02:00",
        "address": [{"city": "Aarhus"}],
        "generalPractitioner": [{"reference": "Practitioner/gp2/_history/4"}],
    },
    {
        "resourceType": "Patient",
        "id": "p3",
        "meta": {"lastUpdated": "2023-12-31T23:59:59Z"},
        "identifier": [{"system": "http://other.example/ids", "value": "X1"}],
        "name": [{"family": "Mueller", "given": ["Ase"], "text": "Ase 100% Mueller_x"}],
        "gender": "other",
    },
    {
        "resourceType": "Patient",
        "id": "p4",
        "meta": {"lastUpdated": "2024-03-01T00:00:00+01:00"},
        "name": [{"family": "Ærø", "given": ["Zoë"]}],
        "gender": "unknown",
        "birthDate": "2000",
    },
    {
        "resourceType": "Observation",
        "id": "o1",
        "status": "final",
        "code": {"coding": [{"system": LOINC, "code": "8867-4", "display": "Heart rate"}]},
        "subject": {"reference": "Patient/p1"},
        "effectiveDateTime": "2024-03-05T09:30:00+01:00",
        "valueQuantity": {"value": 72, "unit": "beats/minute", "system": UCUM, "code": "/min"},
    },
    {
        "resourceType": "Observation",
        "id": "o2",
        "status": "final",
        "code": {"coding": [{"system": LOINC, "code": "29463-7", "display": "Body weight"}]},
        "subject": {"reference": "Patient/p2"},
        "effectivePeriod": {"start": "2024-01-01"},
        "valueQuantity": {"value": 80.5, "unit": "kg", "system": UCUM, "code": "kg"},
    },
    {
        "resourceType": "Observation",
        "id": "o3",
        "status": "preliminary",
        "code": {"coding": [{"system": "http://lifeline.dk/codes", "code": "X-1"}], "text": "Hæmoglobin"},
        "subject": {"reference": "Group/g1"},
        "effectivePeriod": {"end": "2023-06-30"},
        "valueQuantity": {"value": 8.1, "unit": "mmol/l"},
    },
    {
        "resourceType": "Observation",
        "id": "o4",
        "status": "amended",
        "code": {"coding": [{"system": LOINC, "code": "8867-4"}]},
        "subject": {"reference": "http://other.example/fhir/Patient/p1"},
        "effectiveDateTime": "2024-03-05",
    },
    {
        "resourceType": "RiskAssessment",
        "id": "ra1",
        "status": "final",
        "subject": {"reference": "Patient/p1"},
        "prediction": [{"probabilityDecimal": 0.25}],
    },
    {
        "resourceType": "RiskAssessment",
        "id": "ra2",
        "status": "final",
        "subject": {"reference": "Patient/p1"},
        "prediction": [{"probabilityDecimal": 0.3}],
    },
    {
        "resourceType": "RiskAssessment",
        "id": "ra3",
        "status": "final",
        "subject": {"reference": "Patient/p2"},
        "prediction": [{"probabilityRange": {"low": {"value": 0.1}, "high": {"value": 0.2}}}],
    },
    {"resourceType": "ValueSet", "id": "vs1", "status": "active", "url": "http://hl7.org/fhir/ValueSet/example"},
    {
        "resourceType": "ValueSet",
        "id": "vs2",
        "status": "active",
        "url": "http://hl7.org/fhir/ValueSet/example-extensional",
    },
    {"resourceType": "ValueSet", "id": "vs3", "status": "draft", "url": "http://acme.org/fhir/ValueSet/123"},
]
