"""The search-parameter registry: which parameters each resource type has, from the R4 definitions.

Built from the official SearchParameter bundle (all 1,378 R4 definitions, compacted into
lifeline/definitions/search-parameters.json.gz by tools/build_search_definitions.py) and the
Patient CompartmentDefinition. See https://hl7.org/fhir/R4/searchparameter-registry.html and
https://hl7.org/fhir/R4/search.html#standard.

A definition may serve several base types with one union expression
(`AllergyIntolerance.patient | CarePlan.subject.where(resolve() is Patient) | …`); the registry
splits it so every resource type sees only its own terms. Parameters of Resource/DomainResource
(_id, _lastUpdated, _tag, _profile, _security, _source) are given to every type they apply to,
and are also the parameters of the pseudo-type "Resource" used by system-level search.
Definitions without an expression (_text, _content, _query) are left out: they are not index
lookups and the search layer does not offer them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

from lifeline.definitions import load

# Types that are Resource but not DomainResource: they get Resource-level parameters only.
_NOT_DOMAIN_RESOURCES = frozenset({"Binary", "Bundle", "Parameters"})
_ABSTRACT_BASES = ("Resource", "DomainResource")


@dataclass(frozen=True, slots=True)
class SearchComponent:
    """One part of a composite parameter, its definition resolved to the component's code."""

    definition: str
    code: str | None
    type: str | None
    expression: str


@dataclass(frozen=True, slots=True)
class SearchParameter:
    """A search parameter as seen by one resource type: `expression` holds only that type's terms.

    `type` is one of string, token, date, reference, quantity, number, uri, composite, special;
    `modifiers` are those the definition lists (none in R4 core: the supported modifiers are the
    query compiler's, per type).
    """

    code: str
    type: str
    base: tuple[str, ...]
    expression: str | None
    targets: tuple[str, ...] = ()
    modifiers: tuple[str, ...] = ()
    components: tuple[SearchComponent, ...] = ()
    url: str = ""
    comparators: tuple[str, ...] = ()
    multiple_or: bool | None = None
    multiple_and: bool | None = None


def split_union(expression: str) -> list[str]:
    """Split a FHIRPath expression on its top-level `|` (not inside parentheses or quotes)."""
    terms: list[str] = []
    depth = 0
    quoted = False
    start = 0
    for i, ch in enumerate(expression):
        if ch == "'" and (i == 0 or expression[i - 1] != "\\"):
            quoted = not quoted
        elif quoted:
            continue
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "|" and depth == 0:
            terms.append(expression[start:i].strip())
            start = i + 1
    terms.append(expression[start:].strip())
    return [t for t in terms if t]


def _head(term: str) -> str:
    """The leading identifier of a term: `(Observation.value.ofType(Quantity))` → Observation."""
    stripped = term.lstrip("( ")
    end = 0
    while end < len(stripped) and (stripped[end].isalnum() or stripped[end] == "_"):
        end += 1
    return stripped[:end]


def expression_for(expression: str, base: str, bases: Iterable[str]) -> str | None:
    """The part of a (possibly multi-base) expression that applies to `base`.

    Terms headed by `base`, by Resource/DomainResource, or by a field name (a relative path such
    as InsurancePlan's `name | alias`) apply; terms headed by another base type do not.
    """
    bases = tuple(bases)
    if len(bases) == 1:
        return expression
    mine = []
    for term in split_union(expression):
        head = _head(term)
        if head == base or head in _ABSTRACT_BASES or not head[:1].isupper():
            mine.append(term)
    return " | ".join(mine) if mine else None


def _parameter(raw: Mapping[str, Any], expression: str | None) -> SearchParameter:
    return SearchParameter(
        code=raw["code"],
        type=raw["type"],
        base=tuple(raw.get("base", ())),
        expression=expression,
        targets=tuple(raw.get("target", ())),
        modifiers=tuple(raw.get("modifier", ())),
        components=tuple(
            SearchComponent(c["definition"], c.get("code"), c.get("type"), c["expression"])
            for c in raw.get("component", ())
        ),
        url=raw.get("url", ""),
        comparators=tuple(raw.get("comparator", ())),
        multiple_or=raw.get("multipleOr"),
        multiple_and=raw.get("multipleAnd"),
    )


class SearchRegistry:
    """Search parameters per resource type, plus the Patient compartment membership."""

    def __init__(
        self,
        parameters: Iterable[Mapping[str, Any]],
        resource_types: Iterable[str],
        choice_elements: Mapping[str, Iterable[str]] | None = None,
        patient_compartment: Mapping[str, Iterable[str]] | None = None,
    ) -> None:
        self.resource_types: frozenset[str] = frozenset(resource_types)
        # name → JSON keys of a choice element: value → {valueQuantity, valueString, …}
        self.choice_elements: dict[str, frozenset[str]] = {
            name: frozenset(name + suffix for suffix in suffixes) for name, suffixes in (choice_elements or {}).items()
        }
        self._compartment = {t: list(p) for t, p in (patient_compartment or {}).items()}
        common: dict[str, dict[str, SearchParameter]] = {b: {} for b in _ABSTRACT_BASES}
        specific: dict[str, dict[str, SearchParameter]] = {}
        for raw in parameters:
            if not raw.get("expression"):
                continue
            bases = raw.get("base", ())
            for base in bases:
                expression = expression_for(raw["expression"], base, bases)
                if expression is None:
                    continue
                target = common[base] if base in common else specific.setdefault(base, {})
                target[raw["code"]] = _parameter(raw, expression)
        self._by_type: dict[str, dict[str, SearchParameter]] = {}
        for resource_type in self.resource_types | specific.keys():
            params = dict(common["Resource"])
            if resource_type not in _NOT_DOMAIN_RESOURCES:
                params.update(common["DomainResource"])
            params.update(specific.get(resource_type, {}))
            self._by_type[resource_type] = params
        # System-level search (GET [base]?_lastUpdated=…) sees the parameters of every resource.
        self._by_type["Resource"] = dict(common["Resource"])

    def params_for(self, resource_type: str) -> dict[str, SearchParameter]:
        """Every search parameter of the type by code, the common Resource ones included."""
        return self._by_type.get(resource_type, {})

    def get(self, resource_type: str, code: str) -> SearchParameter | None:
        return self._by_type.get(resource_type, {}).get(code)

    def compartment_params(self, resource_type: str) -> list[str]:
        """Params that put a resource of this type in a Patient's compartment (empty: never)."""
        return list(self._compartment.get(resource_type, ()))


# Binary.securityContext, which R4 gives no search parameter: indexed so that the access rule can
# judge a Binary as the resource it names (https://hl7.org/fhir/R4/binary.html#security,
# access/ties.py), and so that a client can find a document's Binary.
SECURITY_CONTEXT: dict[str, Any] = {
    "code": "security-context",
    "type": "reference",
    "base": ["Binary"],
    "expression": "Binary.securityContext",
    "url": "https://lifeline.example/fhir/SearchParameter/Binary-security-context",
}


@cache
def default_registry() -> SearchRegistry:
    """The registry of all R4 search parameters (and Lifeline's own few), loaded once per process."""
    data = load("search-parameters")
    compartment = load("compartment-patient")
    parameters = [*data["parameters"], SECURITY_CONTEXT]
    return SearchRegistry(parameters, data["resourceTypes"], data["choiceElements"], compartment["resource"])
