"""Index extraction at write time: a resource → the IndexEntries of all its search parameters.

https://hl7.org/fhir/R4/search.html — each parameter's FHIRPath expression selects values, and
the module of the parameter's type (string, token, date, number, quantity, reference, uri) turns
them into typed entries. Expressions are compiled once per resource type into Python path walkers
(lifeline.search.extract.paths); only shapes outside that subset go through fhirpathpy.

Composite parameters are extracted per element by lifeline.search.extract.composite into
search_composite, and a resource's subjects, codes and latest date together into
search_subject_code by lifeline.search.extract.subject_code. Not indexed: special parameters,
`_id` and `_lastUpdated` (the search layer matches them on the resource table's own res_id and
last_updated), and a parameter answered from other parameters' rows (`combo-code`:
SearchParameter.stored). Odd data never makes extraction raise: a value that cannot be indexed
is skipped.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from fhirpathpy import compile as fhirpath_compile

from lifeline.definitions import fhirpath_model
from lifeline.search.extract import composite, date, number, quantity, reference, string, subject_code, token, uri
from lifeline.search.extract.paths import Unsupported, Walker, compile_path, root_keys
from lifeline.search.registry import ON_THE_ROW, SearchRegistry, default_registry
from lifeline.storage.index_rows import IndexEntries

__all__ = ["extract_index", "ExtractionPlan", "plan_for"]

# Search type → (module adding entries, position of the IndexEntries list receiving them).
_BY_TYPE: dict[str, tuple[Callable[[str, list[Any], list[Any]], None], int]] = {
    "string": (string.add, 0),
    "token": (token.add, 1),
    "date": (date.add, 2),
    "number": (number.add, 3),
    "quantity": (quantity.add, 4),
    "reference": (reference.add, 5),
    "uri": (uri.add, 6),
}


@cache
def _fhirpath(expression: str) -> Callable[..., list[Any]]:
    return fhirpath_compile(expression, fhirpath_model.r4())


def _fallback(expression: str) -> Walker:
    def walk(resource: dict[str, Any]) -> list[Any]:
        return list(_fhirpath(expression)(resource))

    return walk


@dataclass(frozen=True, slots=True)
class _Target:
    code: str
    add: Callable[[str, list[Any], list[Any]], None]
    slot: int


@dataclass(frozen=True, slots=True)
class _Step:
    """One compiled expression and the parameters indexing its values (name and phonetic share)."""

    expression: str
    walk: Walker
    fast: bool
    targets: tuple[_Target, ...]
    keys: frozenset[str] | None = None  # paths.root_keys: the step gives nothing without one of them


# Distinct key sets remembered per resource type; data from one source has a handful of shapes.
_SHAPES = 512


@dataclass(frozen=True, slots=True)
class ExtractionPlan:
    """The compiled extraction of one resource type: one step per distinct expression."""

    resource_type: str
    steps: tuple[_Step, ...]
    composites: tuple[composite.CompositeStep, ...] = ()
    subject_codes: bool = False  # search_subject_code rows (extract/subject_code.py)
    _by_shape: dict[tuple[str, ...], tuple[_Step, ...]] = field(default_factory=dict, compare=False, repr=False)

    def steps_for(self, resource: dict[str, Any]) -> tuple[_Step, ...]:
        """The steps that can find something in `resource`, in plan order: an Observation holds
        about eight of the thirty-five elements its type's parameters read, and walking the
        others found nothing. Remembered by the resource's keys (its shape)."""
        shape = tuple(resource)
        steps = self._by_shape.get(shape)
        if steps is None:
            steps = tuple(s for s in self.steps if s.keys is None or not s.keys.isdisjoint(shape))
            if len(self._by_shape) < _SHAPES:
                self._by_shape[shape] = steps
        return steps

    @property
    def codes(self) -> list[str]:
        return sorted(
            [t.code for s in self.steps for t in s.targets] + [t.code for c in self.composites for t in c.targets]
        )

    @property
    def fallback_codes(self) -> list[str]:
        """Codes of the parameters evaluated by fhirpathpy rather than a compiled walker."""
        return sorted(
            [t.code for s in self.steps if not s.fast for t in s.targets]
            + [t.code for c in self.composites if not c.fast for t in c.targets]
        )


def _compile(registry: SearchRegistry, resource_type: str) -> ExtractionPlan:
    by_expression: dict[str, list[_Target]] = {}
    composites: dict[str, list[composite.CompositeTarget]] = {}
    adders = {name: add for name, (add, _) in _BY_TYPE.items()}
    for code, param in sorted(registry.params_for(resource_type).items()):
        if param.stored:  # answered from the rows of the parameters it is made of
            continue
        if param.type == "composite" and param.expression:
            target = composite.compile_composite(param, resource_type, registry.choice_elements, adders, _fallback)
            if target is not None:
                composites.setdefault(param.expression, []).append(target)
            continue
        if param.type not in _BY_TYPE or code in ON_THE_ROW or not param.expression:
            continue
        add, slot = _BY_TYPE[param.type]
        by_expression.setdefault(param.expression, []).append(_Target(code, add, slot))
    steps = []
    for expression, targets in by_expression.items():
        try:
            walk, fast = compile_path(expression, resource_type, registry.choice_elements), True
        except Unsupported:
            walk, fast = _fallback(expression), False
        steps.append(_Step(expression, walk, fast, tuple(targets), root_keys(walk)))
    composite_steps = tuple(
        composite.compile_step(expression, targets, resource_type, registry.choice_elements, _fallback)
        for expression, targets in composites.items()
    )
    return ExtractionPlan(resource_type, tuple(steps), composite_steps, subject_code.applies(registry, resource_type))


_plans: weakref.WeakKeyDictionary[SearchRegistry, dict[str, ExtractionPlan]] = weakref.WeakKeyDictionary()


def plan_for(registry: SearchRegistry, resource_type: str) -> ExtractionPlan:
    """The cached extraction plan of a resource type, compiled on first use."""
    per_type = _plans.get(registry)
    if per_type is None:
        per_type = _plans[registry] = {}
    plan = per_type.get(resource_type)
    if plan is None:
        plan = per_type[resource_type] = _compile(registry, resource_type)
    return plan


def extract_index(resource: dict[str, Any], registry: SearchRegistry | None = None) -> IndexEntries:
    """The search-index entries of a resource for every parameter of its type.

    This is the one extraction entry point: the write path, the importer's workers and a reindex
    all call it, and it gives the composite entries (IndexEntries.composites) with the rest.
    Duplicates within a parameter (one value reached by two terms of a union, a repeated coding)
    are removed; the order is stable.
    """
    resource_type = resource.get("resourceType")
    if type(resource_type) is not str:
        return IndexEntries()
    plan = plan_for(registry or default_registry(), resource_type)
    lists: tuple[list[Any], ...] = ([], [], [], [], [], [], [], [])
    for step in plan.steps_for(resource):
        try:
            values = step.walk(resource)
        except Exception:  # noqa: BLE001 - a fhirpathpy error on odd data skips the parameter
            continue
        if not values:
            continue
        for target in step.targets:
            out = lists[target.slot]
            before = len(out)
            try:
                target.add(target.code, values, out)
            except Exception:  # noqa: BLE001 - odd data skips the value, never the write
                del out[before:]
                continue
            if len(out) - before > 1:
                out[before:] = dict.fromkeys(out[before:])
    for composites in plan.composites:
        try:
            composite.add(composites, resource, lists[7])
        except Exception:  # noqa: BLE001 - a fhirpathpy error on odd data skips the parameters
            continue
    entries = IndexEntries(*lists)
    if plan.subject_codes:
        entries.subject_codes = subject_code.entries(entries.tokens, entries.dates, entries.references)
    return entries
