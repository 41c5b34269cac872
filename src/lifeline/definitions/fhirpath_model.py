"""The R4 model fhirpathpy evaluates with, one for the whole server.

FHIRPath resolves an unqualified type name in the model first, then in System: FHIR has no type
`Boolean`, so que-7's `answer is Boolean` names System.Boolean, the type a FHIR boolean's value
has (https://hl7.org/fhir/R4/fhirpath.html#types). fhirpathpy tests a FHIR primitive against FHIR
types only, so this model places each FHIR primitive under its System type.

fhirpathpy keeps the model of the expression being evaluated in a class-wide setting, so search
extraction and invariant checking, in different threads, must hand it the same model.
"""

from __future__ import annotations

from functools import cache
from typing import Any

SYSTEM_TYPES = {
    "boolean": "Boolean",
    "string": "String",
    "uri": "String",
    "base64Binary": "String",
    "integer": "Integer",
    "decimal": "Decimal",
    "date": "Date",
    "dateTime": "DateTime",
    "instant": "DateTime",
    "time": "Time",
}


def with_system_types(fhir_model: dict[str, Any]) -> dict[str, Any]:
    """A copy of fhirpathpy's model in which `<FHIR primitive> is <System type>` holds."""
    parents = dict(fhir_model["type2Parent"])
    for primitive, system_type in SYSTEM_TYPES.items():
        parents[system_type] = parents.get(primitive)  # System.Boolean then leads on to Element
        parents[primitive] = system_type
    return {**fhir_model, "type2Parent": parents}


@cache
def r4() -> dict[str, Any]:
    """fhirpathpy's R4 model with the System types (loaded on first use)."""
    from fhirpathpy.models import models  # loads the R4 model files

    return with_system_types(models["r4"])
