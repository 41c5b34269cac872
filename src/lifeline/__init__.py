"""Lifeline: a regional electronic health record with an HL7 FHIR R4 API."""

__version__ = "0.1.0"
FHIR_VERSION = "4.0.1"
