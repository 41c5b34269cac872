"""Composite search values: the components of one element, extracted together.

https://hl7.org/fhir/R4/search.html#composite — a composite parameter's expression selects
elements (the Observation itself, each Observation.component, each useContext); every component
expression is evaluated relative to that element, and the element gives one entry per
combination of its components' values. Pairing within the element is the point: a blood
pressure's systolic code is indexed with the systolic value, never with the diastolic one.

Component expressions go through the same compiled path walkers as other parameters;
`%resource.x` (MolecularSequence) is read from the resource root. Two R4 definitions are
corrected (see _ERRATA): DocumentReference-relationship ships with its component expressions
swapped, and Group-characteristic-value's bare `value` would read Quantity, Range and
Reference values as tokens, which its own `value` parameter does not.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from lifeline.search.extract.paths import Unsupported, Walker, compile_path
from lifeline.search.registry import SearchParameter
from lifeline.storage.index_rows import CompositeEntry, composite_fits

Adder = Callable[[str, list[Any], list[Any]], None]

_RELATIONSHIP = "http://hl7.org/fhir/SearchParameter/DocumentReference-relationship"
_CHARACTERISTIC_VALUE = "http://hl7.org/fhir/SearchParameter/Group-characteristic-value"
# (composite url, component code) → the component expression R4 meant.
_ERRATA = {
    (_RELATIONSHIP, "relatesto"): "target",
    (_RELATIONSHIP, "relation"): "code",
    (_CHARACTERISTIC_VALUE, "value"): "value.ofType(CodeableConcept) | value.ofType(boolean)",
}
_RESOURCE = "%resource."


@dataclass(frozen=True, slots=True)
class Component:
    """One component; equal components of a step's composites are evaluated once per element."""

    code: str
    type: str
    expression: str
    walk: Walker = field(compare=False)
    from_root: bool = field(compare=False)  # a `%resource.` expression: walked from the resource
    add: Adder = field(compare=False)
    fast: bool = field(compare=False)

    def entries(self, resource: dict[str, Any], element: Any) -> list[Any]:
        node = resource if self.from_root else element
        if type(node) is not dict:
            return []
        values = self.walk(node)
        if not values:
            return []
        out: list[Any] = []
        self.add(self.code, values, out)
        if self.type == "token":
            # A CodeableConcept's text is its own token entry: a composite cannot search it (no :text).
            return [e for e in out if e.system is not None or e.code is not None]
        return out


@dataclass(frozen=True, slots=True)
class CompositeTarget:
    code: str
    components: tuple[Component, ...]


@dataclass(frozen=True, slots=True)
class CompositeStep:
    """The composites sharing one element expression (Observation's code-value-* all select
    the Observation itself): the elements are walked once for all of them, and each distinct
    component once per element. `slots[i]` are the indices in `components` of the components
    of `targets[i]`, last first."""

    expression: str
    walk: Walker
    fast: bool
    targets: tuple[CompositeTarget, ...]
    components: tuple[Component, ...]
    slots: tuple[tuple[int, ...], ...]


def _component_expression(param: SearchParameter, code: str | None, expression: str) -> str:
    return _ERRATA.get((param.url, code or ""), expression)


def _compile(
    expression: str, resource_type: str, choices: Mapping[str, frozenset[str]], fallback: Callable[[str], Walker]
) -> tuple[Walker, bool]:
    try:
        return compile_path(expression, resource_type, choices), True
    except Unsupported:
        return fallback(expression), False


def compile_composite(
    param: SearchParameter,
    resource_type: str,
    choices: Mapping[str, frozenset[str]],
    adders: Mapping[str, Adder],
    fallback: Callable[[str], Walker],
) -> CompositeTarget | None:
    """The extraction of one composite parameter; None when its components have no columns."""
    types = tuple(c.type for c in param.components)
    if not composite_fits(types):
        return None
    components = []
    for c in param.components:
        expression = _component_expression(param, c.code, c.expression)
        from_root = expression.startswith(_RESOURCE)
        if from_root:
            expression = resource_type + "." + expression[len(_RESOURCE) :]
        walk, fast = _compile(expression, resource_type, choices, fallback)
        kind = c.type or ""
        components.append(Component(c.code or param.code, kind, expression, walk, from_root, adders[kind], fast))
    return CompositeTarget(param.code, tuple(components))


def compile_step(
    expression: str,
    targets: list[CompositeTarget],
    resource_type: str,
    choices: Mapping[str, frozenset[str]],
    fallback: Callable[[str], Walker],
) -> CompositeStep:
    walk, fast = _compile(expression, resource_type, choices, fallback)
    distinct: dict[Component, int] = {}
    for target in targets:
        for component in target.components:
            distinct.setdefault(component, len(distinct))
    slots = tuple(tuple(distinct[c] for c in reversed(t.components)) for t in targets)
    fast = fast and all(c.fast for c in distinct)
    return CompositeStep(expression, walk, fast, tuple(targets), tuple(distinct), slots)


def add(step: CompositeStep, resource: dict[str, Any], out: list[CompositeEntry]) -> None:
    """Append the entries of every composite of the step, one per combination within an element.

    The entries of each composite are appended together and without duplicates; odd data that
    makes a composite raise drops that composite's entries only."""
    elements = step.walk(resource)
    if not elements:
        return
    found: list[list[CompositeEntry] | None] = [[] for _ in step.targets]
    for element in elements:
        values: list[list[Any] | None] = [None] * len(step.components)
        for i, slots in enumerate(step.slots):
            entries = found[i]
            if entries is None:
                continue
            try:
                _add_element(step, step.targets[i].code, slots, resource, element, values, entries)
            except Exception:  # noqa: BLE001 - odd data skips the parameter, never the write
                found[i] = None
    for entries in found:
        if entries:
            out.extend(dict.fromkeys(entries) if len(entries) > 1 else entries)


def _add_element(
    step: CompositeStep,
    code: str,
    slots: tuple[int, ...],
    resource: dict[str, Any],
    element: Any,
    values: list[list[Any] | None],
    out: list[CompositeEntry],
) -> None:
    found: list[list[Any]] = []
    # The value (last) is the component most often absent: when it is, the code is never read.
    for slot in slots:
        entries = values[slot]
        if entries is None:
            entries = values[slot] = step.components[slot].entries(resource, element)
        if not entries:
            return  # an element without one of the components gives no entry
        found.append(entries)
    found.reverse()
    out.extend(CompositeEntry(code, combination) for combination in itertools.product(*found))
