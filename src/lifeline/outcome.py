"""OperationOutcome resources (https://hl7.org/fhir/R4/operationoutcome.html)."""

from __future__ import annotations

from typing import Any

from lifeline.errors import Issue


def operation_outcome(issues: list[Issue]) -> dict[str, Any]:
    if not issues:
        issues = [Issue("information", "informational", "All OK")]
    return {"resourceType": "OperationOutcome", "issue": [i.to_fhir() for i in issues]}
