"""FHIRPath invariants (ElementDefinition.constraint) evaluated with fhirpathpy.

Each expression is compiled once and cached. A native guard (lifeline.fhir.validation.guards)
answers first when it can; otherwise fhirpathpy evaluates the expression on the node, with
%resource and %rootResource set. An expression fhirpathpy cannot evaluate (a function it lacks,
an exception) is skipped, never failing the request, and counted in ``skipped``.
ele-1 and ext-1 are checked natively by the structural pass and never reach this module; dom-3,
que-2 and bdl-7 are evaluated in Python (lifeline.fhir.validation.native).
See https://hl7.org/fhir/R4/conformance-rules.html#constraints
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

import fhirpathpy
from fhirpathpy.engine.nodes import FP_Type, ResourceNode

from lifeline.definitions import fhirpath_model
from lifeline.fhir.validation.guards import FALSE, UNKNOWN, Guard, Guards
from lifeline.fhir.validation.model import Constraint, Model
from lifeline.fhir.validation.native import NATIVE
from lifeline.fhir.validation.structure import Target

Compiled = Callable[[Any, dict[str, Any]], list[Any]]


def _has_value(inputs: list[Any]) -> bool:
    """FHIRPath hasValue(), which fhirpathpy lacks: one primitive with an actual value."""
    return len(inputs) == 1 and isinstance(inputs[0], str | int | float | bool | FP_Type)


def _ignore_trace(label: Any, value: Any) -> None:
    """trace() in the official expressions must not print to stdout."""


OPTIONS = {
    "traceFn": _ignore_trace,
    "userInvocationTable": {"hasValue": {"fn": _has_value, "arity": {0: []}}},
}


class Invariants:
    """Evaluates the constraints collected by a structural pass; one instance per Validator."""

    def __init__(self, model: Model) -> None:
        self._guards = Guards(model)
        self._guard_cache: dict[str, Guard | None] = {}
        self._compiled: dict[str, Compiled | None] = {}
        self._fhir_model: dict[str, Any] | None = None
        self.skipped: Counter[str] = Counter()  # constraint key -> evaluations skipped
        self.engine_calls = 0  # evaluations that needed fhirpathpy (the guards decided the rest)
        # fhirpathpy keeps module-level state while it evaluates; the server validates in several
        # threads, so engine calls take turns (the guards answer most constraints without it).
        self._engine_lock = threading.Lock()

    def failures(self, targets: list[Target]) -> list[tuple[Constraint, Target]]:
        """The constraints that evaluate to false, with the node they were evaluated on."""
        failed = []
        for target in targets:
            for constraint in target.constraints:
                if self.holds(constraint, target) is False:
                    failed.append((constraint, target))
        return failed

    def holds(self, constraint: Constraint, target: Target) -> bool | None:
        """True or False, or None when the expression was skipped. An empty result holds."""
        native = NATIVE.get(constraint.key)
        if native is not None:
            decided = native(target)
            if decided is not None:
                return decided
        expression = constraint.expression
        if expression in self._guard_cache:
            guard = self._guard_cache[expression]
        else:
            guard = self._guard_cache[expression] = self._guards.compile(expression)
        if guard is not None:
            try:
                verdict = guard(target.node, target.value, target)
            except Exception:  # a guard bug must not fail the request: let the engine decide
                verdict = UNKNOWN
            if verdict != UNKNOWN:
                return verdict != FALSE
        with self._engine_lock:
            compiled = self._compile(constraint)
            if compiled is None:
                self.skipped[constraint.key] += 1
                return None
            self.engine_calls += 1
            env = {"resource": target.resource, "rootResource": target.root}
            try:
                result = compiled(ResourceNode.create_node(target.value, target.base), env)
            except Exception:  # an engine failure must never become a server error
                self.skipped[constraint.key] += 1
                return None
        return result != [False]

    def _compile(self, constraint: Constraint) -> Compiled | None:
        expression = constraint.expression
        if expression not in self._compiled:
            if self._fhir_model is None:
                self._fhir_model = fhirpath_model.r4()
            try:
                self._compiled[expression] = fhirpathpy.compile(expression, self._fhir_model, OPTIONS)
            except Exception:  # unparseable or unsupported: skip, do not fail
                self._compiled[expression] = None
        return self._compiled[expression]
