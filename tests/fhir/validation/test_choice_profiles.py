"""A choice element typed by a profile (Dosage.dose[x] as SimpleQuantity) keeps the base type's
JSON name, doseQuantity (https://hl7.org/fhir/R4/formats.html#choice), and the profile's rules."""

from __future__ import annotations

from typing import Any

import pytest

from lifeline.errors import InvalidResource
from lifeline.fhir.validation import Validator


def _request(dose: dict[str, Any]) -> dict[str, Any]:
    return {
        "resourceType": "MedicationRequest",
        "status": "active",
        "intent": "order",
        "subject": {"reference": "Patient/1"},
        "medicationCodeableConcept": {"text": "Paracetamol"},
        "dosageInstruction": [{"text": "1 g x 4", "doseAndRate": [dose]}],
    }


def test_dose_quantity_is_the_json_name_and_simple_quantity_the_rules() -> None:
    validator = Validator()
    validator.validate(_request({"doseQuantity": {"value": 1, "unit": "g"}}))
    with pytest.raises(InvalidResource, match="doseSimpleQuantity"):
        validator.validate(_request({"doseSimpleQuantity": {"value": 1, "unit": "g"}}))
    with pytest.raises(InvalidResource, match="comparator"):  # SimpleQuantity has no comparator
        validator.validate(_request({"doseQuantity": {"value": 1, "comparator": "<"}}))
