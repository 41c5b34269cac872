"""The search query compiler: URL search parameters → an SQL condition over the index tables.

https://hl7.org/fhir/R4/search.html — each parameter (`name[:modifier]=value[,value]`) becomes
one clause; the comma-separated values of a clause are alternatives (OR) and the clauses are all
required (AND). Every clause is an EXISTS over its type's index table (search_string,
search_token, …, search_composite), correlated to the `resource` row aliased `r`, except the one
clause picked to drive the query, written as `r.res_id IN (SELECT …)` (see
lifeline.search.query.driver), or a subject and a coding together read from search_subject_code
(lifeline.search.query.subject_code). One parameter on one type is compiled by
lifeline.search.query.clause, with the rules of each type in a module of its own; chained
parameters (`subject.name`, `subject:Patient.name`) and reverse chaining (`_has:…`) by
lifeline.search.query.chain, as nested IN subqueries over search_reference. Placeholders are `?`
only: the storage layer rewrites them for PostgreSQL. The SQL is the same on SQLite and
PostgreSQL: no ILIKE, no literal `%`, LIKE only on normalized values. Stored JSON is never scanned.

Supported: string, token, date, number, quantity, reference, uri and composite parameters, `_id`,
every modifier listed in each type module and :missing everywhere, chains and `_has` ending in
any of these. Special parameters (`near`, …) are reported as unknown, for the caller's lenient
or strict handling, and so are unknown names (also in `_has`, or at the head of a chain).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from lifeline.clock import system_clock
from lifeline.errors import BadRequest
from lifeline.search.query import chain, clause, driver, subject_code
from lifeline.search.query.values import split_unescaped
from lifeline.search.query.withheld import Withholding
from lifeline.search.registry import SearchRegistry
from lifeline.storage.matching import Match

__all__ = ["SearchClause", "parse_query", "compile_match", "compile_where", "RESULT_PARAMETERS", "Withholding"]

# https://hl7.org/fhir/R4/search.html#return and http.html#parameters: not filters, ignored here.
RESULT_PARAMETERS = frozenset(
    {
        "_count",
        "_sort",
        "_include",
        "_revinclude",
        "_summary",
        "_elements",
        "_total",
        "_contained",
        "_containedType",
        "_format",
        "_pretty",
        "_offset",
        "_page",
    }
)


@dataclass
class SearchClause:
    """One search parameter of a query: its values are alternatives (OR).

    `values` are split at unescaped commas but keep their other escapes (`\\|`, `\\$`, `\\\\`),
    which each type's parser resolves. A chained or `_has` parameter has its parsed name in `link`;
    its `code` is then the whole name as given (`subject:Patient.name:exact`) and `modifier` None.
    """

    code: str
    modifier: str | None
    values: list[str]
    link: chain.Chain | chain.Has | None = None


def _is_linked(name: str) -> bool:
    return "." in name or name.partition(":")[0] == "_has"


def parse_query(
    resource_type: str, params: list[tuple[str, str]], registry: SearchRegistry
) -> tuple[list[SearchClause], list[str]]:
    """The clauses of a search and the names of the parameters it could not use.

    Result parameters (_count, _sort, _include, …) are ignored; unknown names (at the head of a
    chain, or anywhere in a _has) and special parameters are returned as unknown. Malformed values,
    bad prefixes, unsupported modifiers, a chain through a parameter that is not a reference or to
    a parameter no target type has, and a _has through a reference that cannot point at the
    searched type raise BadRequest (https://hl7.org/fhir/R4/search.html#errors).
    """
    clauses: list[SearchClause] = []
    unknown: list[str] = []
    for name, raw in params:
        code, _, modifier = name.partition(":")
        if code in RESULT_PARAMETERS:
            continue
        if _is_linked(name):
            try:
                link = chain.parse_name(resource_type, name, registry)
            except chain.UnknownParameter:
                unknown.append(name)
                continue
            values = [v for v in split_unescaped(raw, ",") if v]
            if values:
                assert not isinstance(link, chain.Final)  # a name with a '.' or _has is linked
                chain.check_values(resource_type, link, values, registry)
                clauses.append(SearchClause(name, None, values, link))
            continue
        param = registry.get(resource_type, code)
        if param is None or not clause.searchable(param):
            unknown.append(name)
            continue
        clause.check_modifier(param, modifier or None, registry)
        values = [v for v in split_unescaped(raw, ",") if v]
        if not values:
            continue  # an empty value is ignored, as the spec allows
        clause.parse_values(param, modifier or None, values)
        clauses.append(SearchClause(code, modifier or None, values))
    return clauses, unknown


def _rank(resource_type: str, item: SearchClause, registry: SearchRegistry) -> int | None:
    if item.link is not None:
        return chain.rank(resource_type, item.link, item.values, registry)
    param = registry.get(resource_type, item.code)
    assert param is not None  # compile_where checked
    return driver.rank(param, item.modifier, item.values)


def _pick_driver(resource_type: str, clauses: list[SearchClause], registry: SearchRegistry) -> int | None:
    """The index of the clause to drive the query, None for none (system-level search)."""
    if resource_type not in registry.resource_types:
        return None
    ranked = [(r, i) for i, item in enumerate(clauses) if (r := _rank(resource_type, item, registry)) is not None]
    return min(ranked)[1] if ranked else None


def compile_match(
    resource_type: str,
    clauses: list[SearchClause],
    registry: SearchRegistry,
    *,
    now: datetime | None = None,
    withholding: Withholding | None = None,
) -> Match:
    """What the clauses match: an SQL condition over `resource r`, with the clause that drives
    the query (lifeline.search.query.driver) apart as a SELECT of ids, marked as the owners of
    index rows or not (lifeline.storage.matching).

    `now` (default: the system clock) anchors the width of date `ap` searches. `withholding`
    (withheld.py) keeps parameters over elements the searcher may not see from matching
    resources that withhold them, however the parameter is reached (directly, chained, `_has`).
    Clauses for parameters the registry does not know raise BadRequest.
    """
    moment = now or system_clock()
    now_us = int(moment.timestamp()) * 1_000_000 + moment.microsecond
    for item in clauses:
        if item.link is None and not clause.searchable(registry.get(resource_type, item.code)):
            raise BadRequest(f"Unknown search parameter {item.code!r} for {resource_type}")
    dated = subject_code.find(resource_type, clauses, registry, withholding)
    driving = _pick_driver(resource_type, clauses, registry) if dated is None else None
    conditions: list[str] = []
    args: list[object] = []
    ids: tuple[str, list[object]] | None = None if dated is None else dated[0].ids()
    owners = True
    for i, item in enumerate(clauses):
        if dated is not None and i in dated[1]:
            continue  # both clauses are the driving key of search_subject_code
        if i == driving and item.code != "_id":
            ids = _ids(resource_type, item, now_us, registry, withholding)
            # A _has selects reference targets, deleted and never stored ones among them.
            owners = not isinstance(item.link, chain.Has)
            continue
        if item.link is not None:
            sql, clause_args = chain.condition(resource_type, item.link, item.values, now_us, registry, withholding)
        else:
            param = registry.get(resource_type, item.code)
            assert param is not None
            sql, clause_args = clause.condition(
                resource_type, param, item.modifier, item.values, now_us, registry, withholding
            )
        conditions.append(sql)
        args.extend(clause_args)
    where = " AND ".join(conditions) if conditions else ("" if ids is not None else "1 = 1")
    if ids is None:
        return Match(where, tuple(args))
    return Match(where, tuple(args), ids[0], tuple(ids[1]), owners, None if dated is None else dated[0])


def _ids(
    resource_type: str, item: SearchClause, now_us: int, registry: SearchRegistry, withholding: Withholding | None
) -> tuple[str, list[object]]:
    """The driving clause as a SELECT of the ids of the resources of `resource_type` it matches."""
    if item.link is not None:
        return chain.ids(resource_type, item.link, item.values, now_us, registry, withholding)
    param = registry.get(resource_type, item.code)
    assert param is not None
    return clause.matching_ids(param, item.modifier, item.values, resource_type, now_us, registry, withholding)


def compile_where(
    resource_type: str,
    clauses: list[SearchClause],
    registry: SearchRegistry,
    *,
    now: datetime | None = None,
) -> tuple[str, list[object]]:
    """What the clauses match as one SQL boolean over `resource r` (see compile_match)."""
    return compile_match(resource_type, clauses, registry, now=now).condition(resource_type)
