"""Validation of FHIR R4 resources against the official structure definitions.

``Validator().validate(resource, expected_type)`` returns warnings or raises
lifeline.errors.InvalidResource / Unprocessable. See validator.py.
"""

from lifeline.errors import Issue
from lifeline.fhir.validation.validator import Validator

__all__ = ["Issue", "Validator"]
