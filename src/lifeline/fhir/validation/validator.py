"""Validation of every write against the official FHIR R4 (4.0.1) structure definitions.

A structural pass (lifeline.fhir.validation.structure) reports every error at once as
InvalidResource; then the FHIRPath invariants are evaluated (lifeline.fhir.validation.invariants)
and reported as warnings, or, in "strict" mode, failing error-severity invariants raise
Unprocessable. See https://hl7.org/fhir/R4/validation.html
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from lifeline.errors import InvalidResource, Issue, Unprocessable
from lifeline.fhir.validation.identifiers import HOOKS
from lifeline.fhir.validation.invariants import Invariants
from lifeline.fhir.validation.model import Model
from lifeline.fhir.validation.structure import StructureCheck
from lifeline.fhir.validation.tidy import tidy

MODES = ("warn", "strict", "off")
EMPTY_ELEMENTS = ("remove", "refuse")  # what becomes of null and empty values (validation/tidy.py)


class Validator:
    """Validates FHIR R4 resources in JSON form; build once and share (definitions compile once).

    ``invariants``: "warn" reports failing invariants as warnings, "strict" raises Unprocessable
    for failing error-severity invariants, "off" skips them (structure is always checked).
    ``empty_elements``: "remove" takes null and empty values out of the resource, with a warning
    each (lifeline.fhir.validation.tidy); "refuse" refuses them like any structural error.
    """

    def __init__(self, invariants: str = "warn", empty_elements: str = "remove") -> None:
        if invariants not in MODES:
            raise ValueError(f"invariants must be one of {MODES}, not {invariants!r}")
        if empty_elements not in EMPTY_ELEMENTS:
            raise ValueError(f"empty_elements must be one of {EMPTY_ELEMENTS}, not {empty_elements!r}")
        self.invariants = invariants
        self.empty_elements = empty_elements
        self._model = Model(hooks=HOOKS)
        self._invariants = Invariants(self._model) if invariants != "off" else None
        self.resource_types: frozenset[str] = self._model.resource_types

    def is_resource_type(self, name: str) -> bool:
        """True for a concrete R4 resource type such as "Patient" (not "Resource", "DomainResource")."""
        return name in self.resource_types

    @property
    def skipped_invariants(self) -> Counter[str]:
        """Constraint keys that fhirpathpy could not evaluate, with how often each was skipped."""
        return self._invariants.skipped if self._invariants is not None else Counter()

    def validate(self, resource: Any, expected_type: str | None = None) -> list[Issue]:
        """Check a parsed JSON resource; return its warnings or raise with all its errors.

        With empty_elements "remove", the resource's null and empty values are first taken out of
        it (in place: what is stored is the tidied resource) and each is a warning.

        Raises InvalidResource (structure, types, cardinality, bindings, CPR numbers, a
        resourceType other than ``expected_type``) or, in strict mode, Unprocessable.
        """
        check = StructureCheck(self._model, collect_targets=self._invariants is not None)
        resource_type = resource.get("resourceType") if type(resource) is dict else None
        loc = resource_type if isinstance(resource_type, str) and resource_type else "Resource"
        if expected_type is not None and resource_type != expected_type:
            check.error("invalid", loc, f"Expected resourceType {expected_type!r}, got {resource_type!r}")
        tidied = tidy(resource, loc) if self.empty_elements == "remove" else []
        check.resource(resource, loc)
        if check.errors:
            raise InvalidResource(_summary(loc, check.errors), check.errors + tidied)
        if self._invariants is None or not check.targets:
            return tidied
        errors: list[Issue] = []
        warnings: list[Issue] = []
        for constraint, target in self._invariants.failures(check.targets):
            strict = constraint.severity == "error" and self.invariants == "strict"
            issue = Issue(
                "error" if strict else "warning", "invariant", f"{constraint.key}: {constraint.human}", [target.loc]
            )
            (errors if strict else warnings).append(issue)
        if errors:
            raise Unprocessable(_summary(loc, errors), errors + tidied + warnings)
        return tidied + warnings


def _summary(loc: str, issues: list[Issue]) -> str:
    first = issues[0]
    where = f" at {first.expression[0]}" if first.expression else ""
    more = f" (and {len(issues) - 1} more)" if len(issues) > 1 else ""
    return f"Invalid {loc}: {first.diagnostics}{where}{more}"
