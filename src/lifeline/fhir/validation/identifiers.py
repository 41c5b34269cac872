"""Checks of identifier values for the identifier systems Lifeline knows (Danish CPR).

Run on every Identifier anywhere in a resource, including contained and Bundle entries.
See https://hl7.dk/fhir/core/ (DK Core: CPR identifier system urn:oid:1.2.208.176.1.2)
"""

from __future__ import annotations

from typing import Any

from lifeline.cpr import CPR_SYSTEM, birth_date
from lifeline.errors import Issue
from lifeline.fhir.validation.model import Hook


def check_identifier(identifier: dict[str, Any], loc: str, errors: list[Issue]) -> None:
    """Report a CPR identifier whose value is not 10 digits starting with a real birth date."""
    if identifier.get("system") != CPR_SYSTEM:
        return
    value = identifier.get("value")
    if value is None:
        return
    try:
        birth_date(value)
    except ValueError as reason:
        errors.append(Issue("error", "value", f"Invalid CPR number: {reason}", [f"{loc}.value"]))


HOOKS: dict[str, Hook] = {"Identifier": check_identifier}
