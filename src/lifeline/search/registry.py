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
from dataclasses import dataclass, replace
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
    # The parameters of the same type whose index rows are this one's, where its expression is
    # theirs together (`combo-code` is `code | component-code`) or one of theirs again (`phonetic`
    # is `name`): it has no rows of its own (see `derive`). Empty: its rows are its own.
    stored: tuple[str, ...] = ()

    @property
    def rows(self) -> tuple[str, ...]:
        """The parameter codes whose index rows answer this parameter."""
        return self.stored or (self.code,)


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


def _bare(term: str) -> str:
    """A union term without the parentheses around all of it: `(Observation.value.ofType(Quantity))`."""
    term = term.strip()
    while term.startswith("(") and term.endswith(")"):
        depth = 0
        for i, ch in enumerate(term):
            depth += ch == "("
            depth -= ch == ")"
            if depth == 0 and i < len(term) - 1:
                return term  # `(a) | (b)`-like: the first parenthesis closes before the end
        term = term[1:-1].strip()
    return term


# Parameters with no index rows at all: matched on the resource's own row (`res_id`,
# `last_updated`) by the search layer, and so never extracted.
ON_THE_ROW = frozenset({"_id", "_lastUpdated"})

# Parameters whose rows stay their own whatever their expression: references (chains, includes,
# compartments and the access rule read them by name) and what is no index lookup.
_OWN_ROWS = frozenset({"reference", "special"})


def _shape(param: SearchParameter) -> tuple[object, ...]:
    """What besides the expression makes two parameters' rows the same: the type, and for a
    composite its components' types and expressions."""
    return (param.type, tuple((c.type, _bare(c.expression)) for c in param.components))


def derive(params: Mapping[str, SearchParameter]) -> dict[str, SearchParameter]:
    """One resource type's parameters, each whose index rows would repeat other parameters' rows
    given `stored` (issue 27: narrow index storage).

    R4 defines parameters that are others together: Observation's `combo-code` is
    `Observation.code | Observation.component.code`, the union of `code` and `component-code`,
    and `combo-code-value-quantity` that of `code-value-quantity` and
    `component-code-value-quantity`; Patient's `phonetic` has the expression of `name`. Each
    extracted its own copy of the same rows: a fifth of an Observation's index rows. A parameter
    whose expression's terms are exactly the terms of other parameters of the same shape (or
    those of one of them with an earlier code, for equal expressions) is answered from their
    rows instead and extracts none.
    """
    terms = {
        code: frozenset(_bare(t) for t in split_union(p.expression))
        for code, p in params.items()
        if p.expression and p.type not in _OWN_ROWS and not code.startswith("_")
    }
    out = dict(params)
    # Smaller unions first, so that a union of unions is stored as the parameters beneath them.
    for code in sorted(terms, key=lambda c: (len(terms[c]), c)):
        mine, shape = terms[code], _shape(params[code])
        same = [c for c in terms if c < code and terms[c] == mine and _shape(params[c]) == shape]
        parts = [c for c in terms if terms[c] < mine and _shape(params[c]) == shape]
        if same:
            chosen = [same[0]]
        else:
            parts = [c for c in parts if not any(terms[c] < terms[o] for o in parts)]
            if not parts or frozenset().union(*(terms[c] for c in parts)) != mine:
                continue
            chosen = parts
        stored = tuple(sorted({row for c in chosen for row in out[c].rows}))
        out[code] = replace(params[code], stored=stored)
    return out


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
            self._by_type[resource_type] = derive(params)
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
