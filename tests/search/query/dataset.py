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

# Chains, _has and composites: RESOURCES plus these (in a database of their own, so that the
# expectations of the table above stay as they are).
SNOMED = "http://snomed.info/sct"
BP_PANEL, SYSTOLIC, DIASTOLIC = "85354-9", "8480-6", "8462-4"


def _bp(value: float) -> dict[str, Any]:
    return {"value": value, "unit": "mmHg", "system": UCUM, "code": "mm[Hg]"}


LINKED: list[dict[str, Any]] = [
    {"resourceType": "Practitioner", "id": "gp1", "name": [{"family": "Jensen"}], "gender": "female"},
    {"resourceType": "Practitioner", "id": "gp2", "name": [{"family": "Nielsen"}], "gender": "male"},
    {"resourceType": "Organization", "id": "o1", "name": "Rigshospitalet"},
    {"resourceType": "Location", "id": "l1", "name": "Hansens Klinik"},
    {"resourceType": "Encounter", "id": "e1", "status": "finished", "subject": {"reference": "Patient/p1"}},
    {"resourceType": "Encounter", "id": "e2", "status": "finished", "subject": {"reference": "Group/g1"}},
    {
        "resourceType": "Group",
        "id": "g1",
        "type": "person",
        "actual": True,
        "characteristic": [
            {
                "code": {"text": "diet", "coding": [{"code": "diet"}]},
                "valueCodeableConcept": {"coding": [{"code": "vegan"}]},
            },
            {"code": {"coding": [{"code": "smoker"}]}, "valueBoolean": False},
        ],
    },
    # Blood pressure: the systolic code must never pair with the diastolic value.
    {
        "resourceType": "Observation",
        "id": "bp1",
        "status": "final",
        "code": {"coding": [{"system": LOINC, "code": BP_PANEL}]},
        "subject": {"reference": "Patient/p2"},
        "encounter": {"reference": "Encounter/e1"},
        "component": [
            {"code": {"coding": [{"system": LOINC, "code": SYSTOLIC}]}, "valueQuantity": _bp(120)},
            {"code": {"coding": [{"system": LOINC, "code": DIASTOLIC}]}, "valueQuantity": _bp(80)},
        ],
    },
    {
        "resourceType": "Observation",
        "id": "bp2",
        "status": "final",
        "code": {"coding": [{"system": LOINC, "code": BP_PANEL}]},
        "subject": {"reference": "Location/l1"},
        "encounter": {"reference": "Encounter/e2"},
        "component": [
            {"code": {"coding": [{"system": LOINC, "code": SYSTOLIC}]}, "valueQuantity": _bp(150)},
            {"code": {"coding": [{"system": LOINC, "code": DIASTOLIC}]}, "valueQuantity": _bp(95)},
        ],
    },
    {
        "resourceType": "Observation",
        "id": "blood-group",
        "status": "final",
        "code": {"coding": [{"system": LOINC, "code": "883-9"}]},
        "subject": {"reference": "Patient/p3"},
        "valueCodeableConcept": {"coding": [{"system": SNOMED, "code": "112144000", "display": "Blood group A"}]},
    },
    {
        "resourceType": "Observation",
        "id": "note",
        "status": "final",
        "code": {"coding": [{"system": "http://lifeline.dk/codes", "code": "X-2"}]},
        "subject": {"reference": "Patient/p4"},
        "valueString": "Positiv $ke, ikke,negativ",
    },
    {
        "resourceType": "Observation",
        "id": "onset",
        "status": "final",
        "code": {"coding": [{"system": "http://lifeline.dk/codes", "code": "X-3"}]},
        "subject": {"reference": "Patient/p4"},
        "valueDateTime": "2024-05-01T10:00:00Z",
    },
    {
        "resourceType": "Observation",
        "id": "panel",
        "status": "final",
        "code": {"text": "vitals"},
        "subject": {"reference": "Patient/p1"},
        "hasMember": [{"reference": "Observation/o1"}],
    },
    {
        "resourceType": "DocumentReference",
        "id": "d1",
        "status": "current",
        "content": [{"attachment": {"url": "http://x/1"}}],
        "relatesTo": [{"code": "replaces", "target": {"reference": "DocumentReference/d0"}}],
    },
    {
        "resourceType": "ValueSet",
        "id": "vs4",
        "status": "active",
        "url": "http://lifeline.dk/ValueSet/4",
        "useContext": [
            {"code": {"code": "focus"}, "valueCodeableConcept": {"coding": [{"system": SNOMED, "code": "1234"}]}},
            {"code": {"code": "age"}, "valueQuantity": {"value": 18, "system": UCUM, "code": "a"}},
        ],
    },
    {
        "resourceType": "MolecularSequence",
        "id": "ms1",
        "coordinateSystem": 0,
        "referenceSeq": {"chromosome": {"coding": [{"code": "1"}]}, "windowStart": 100, "windowEnd": 200},
        "variant": [{"start": 150, "end": 151}, {"start": 180, "end": 190}],
    },
]
