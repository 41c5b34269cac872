"""Code systems and identifier systems the generated record uses, and small builders for codings."""

from __future__ import annotations

from typing import Any

SOR = "urn:oid:1.2.208.176.1.1"  # Sundhedsvæsenets Organisationsregister
CPR = "urn:oid:1.2.208.176.1.2"
NPU = "urn:oid:1.2.208.176.2.1"  # Nordic/IUPAC laboratory terminology
USERNAME = "urn:lifeline:username"  # the login a staff member will have (identity issue)
LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
ICD10 = "http://hl7.org/fhir/sid/icd-10"
ATC = "http://www.whocc.no/atc"
UCUM = "http://unitsofmeasure.org"
DICOM = "http://dicom.nema.org/resources/ontology/DCM"
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
ROLE_CODE = "http://terminology.hl7.org/CodeSystem/v3-RoleCode"
ACT_REASON = "http://terminology.hl7.org/CodeSystem/v3-ActReason"
CONFIDENTIALITY = "http://terminology.hl7.org/CodeSystem/v3-Confidentiality"
INTERPRETATION = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
OBS_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
DIAG_SERVICE = "http://terminology.hl7.org/CodeSystem/v2-0074"
CONDITION_CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
CONDITION_VERIFICATION = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
CONDITION_CATEGORY = "http://terminology.hl7.org/CodeSystem/condition-category"
ALLERGY_CLINICAL = "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical"
ALLERGY_VERIFICATION = "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification"
LOCATION_PHYSICAL = "http://terminology.hl7.org/CodeSystem/location-physical-type"
ORG_TYPE = "http://terminology.hl7.org/CodeSystem/organization-type"
PRACTITIONER_ROLE = "http://terminology.hl7.org/CodeSystem/practitioner-role"
BED_STATUS = "http://terminology.hl7.org/CodeSystem/v2-0116"
CONSENT_SCOPE = "http://terminology.hl7.org/CodeSystem/consentscope"
APPOINTMENT_TYPE = "http://terminology.hl7.org/CodeSystem/v2-0276"
DISCHARGE = "http://terminology.hl7.org/CodeSystem/discharge-disposition"
ADMIT_SOURCE = "http://terminology.hl7.org/CodeSystem/admit-source"
PARTICIPATION = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
DIAGNOSIS_ROLE = "http://terminology.hl7.org/CodeSystem/diagnosis-role"
MEDICATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/medicationrequest-category"

# Every generated resource carries this security label: "test health data" (HL7 v3 ActReason
# HTEST), so that synthetic records can always be told apart from real ones, and found.
SYNTHETIC_META: dict[str, Any] = {"security": [{"system": ACT_REASON, "code": "HTEST", "display": "test health data"}]}


def concept(system: str, code: str, display: str, text: str | None = None) -> dict[str, Any]:
    """A CodeableConcept of one coding (and a text, e.g. the Danish name)."""
    result: dict[str, Any] = {"coding": [{"system": system, "code": code, "display": display}]}
    if text is not None:
        result["text"] = text
    return result


def quantity(value: float, unit: str, code: str | None = None) -> dict[str, Any]:
    return {"value": value, "unit": unit, "system": UCUM, "code": code or unit}


def ref(res_type: str, res_id: str, display: str | None = None) -> dict[str, Any]:
    result = {"reference": f"{res_type}/{res_id}"}
    if display is not None:
        result["display"] = display
    return result
