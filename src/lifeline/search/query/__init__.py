"""The search query compiler: URL search parameters → an SQL condition over the index tables.

https://hl7.org/fhir/R4/search.html — each parameter (`name[:modifier]=value[,value]`) becomes
one clause; the comma-separated values of a clause are alternatives (OR) and the clauses are all
required (AND). Every clause is an EXISTS over its type's index table (search_string,
search_token, …), correlated to the `resource` row aliased `r`, except the one clause picked to
drive the query, written as `r.res_id IN (SELECT …)` (see lifeline.search.query.driver); the
per-type rules live in one module per type. Placeholders are `?` only: the storage layer rewrites them for PostgreSQL.
The SQL is the same on SQLite and PostgreSQL: no ILIKE, no literal `%`, LIKE only on normalized
values. Stored JSON is never scanned.

Supported: string, token, date, number, quantity, reference, uri parameters, `_id`, every
modifier listed in each type module and :missing everywhere. Chained parameters (`subject.name`),
`_has`, composite and special parameters are reported as unknown, for the caller's lenient or
strict handling.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from types import ModuleType
from typing import Any

from lifeline.clock import system_clock
from lifeline.fhir.errors import BadRequest
from lifeline.search.query import date, driver, number, quantity, reference, string, token, uri
from lifeline.search.query.values import split_unescaped, unescape
from lifeline.search.registry import SearchParameter, SearchRegistry

__all__ = ["SearchClause", "parse_query", "compile_where", "RESULT_PARAMETERS"]

_TYPES: dict[str, ModuleType] = {
    "string": string,
    "token": token,
    "date": date,
    "number": number,
    "quantity": quantity,
    "reference": reference,
    "uri": uri,
}

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
    which each type's parser resolves.
    """

    code: str
    modifier: str | None
    values: list[str]


def _missing(clause: SearchClause) -> bool:
    if len(clause.values) != 1 or clause.values[0] not in ("true", "false"):
        raise BadRequest(f"Search parameter {clause.code}:missing takes true or false")
    return clause.values[0] == "true"


def _check_modifier(param: SearchParameter, modifier: str | None, registry: SearchRegistry) -> None:
    if modifier is None or modifier == "missing":
        return
    if param.code == "_id":  # matched on the resource table: equality, :not, :missing
        if modifier != "not":
            raise BadRequest(f"Modifier :{modifier} is not supported for search parameter '_id'")
        return
    if param.type == "reference" and modifier in registry.resource_types:
        if param.targets and modifier not in param.targets:
            raise BadRequest(f"{modifier} is not a target type of search parameter {param.code!r}")
        return
    if modifier not in _TYPES[param.type].MODIFIERS:
        raise BadRequest(f"Modifier :{modifier} is not supported for search parameter {param.code!r}")


def _parse_values(param: SearchParameter, clause: SearchClause) -> list[Any]:
    if clause.modifier == "missing":
        return [_missing(clause)]
    if param.code == "_id":
        return [unescape(v) for v in clause.values]
    module = _TYPES[param.type]
    return [module.parse(v, clause.modifier, param) for v in clause.values]


def parse_query(
    resource_type: str, params: list[tuple[str, str]], registry: SearchRegistry
) -> tuple[list[SearchClause], list[str]]:
    """The clauses of a search and the names of the parameters it could not use.

    Result parameters (_count, _sort, _include, …) are ignored; unknown names, chained names,
    _has and composite/special parameters are returned as unknown. Malformed values, bad
    prefixes and unsupported modifiers raise BadRequest (https://hl7.org/fhir/R4/search.html#errors).
    """
    clauses: list[SearchClause] = []
    unknown: list[str] = []
    for name, raw in params:
        code, _, modifier = name.partition(":")
        if code in RESULT_PARAMETERS:
            continue
        param = registry.get(resource_type, code)
        if param is None or "." in name or param.type not in _TYPES:
            unknown.append(name)
            continue
        _check_modifier(param, modifier or None, registry)
        values = [v for v in split_unescaped(raw, ",") if v]
        if not values:
            continue  # an empty value is ignored, as the spec allows
        clause = SearchClause(code, modifier or None, values)
        _parse_values(param, clause)
        clauses.append(clause)
    return clauses, unknown


def _exists(table: str, body: str) -> str:
    return f"EXISTS (SELECT 1 FROM {table} s WHERE s.res_type = r.res_type AND s.res_id = r.res_id AND {body})"


def _driving(table: str, body: str) -> str:
    # Same meaning as _exists for a resource of the searched type; see lifeline.search.query.driver.
    return f"r.res_type = ? AND r.res_id IN (SELECT s.res_id FROM {table} s WHERE s.res_type = ? AND {body})"


def _id_condition(clause: SearchClause, parsed: list[Any]) -> tuple[str, list[object]]:
    if clause.modifier == "missing":
        return ("1 = 0" if parsed[0] else "1 = 1"), []
    marks = ", ".join("?" for _ in parsed)
    operator = "NOT IN" if clause.modifier == "not" else "IN"
    return f"r.res_id {operator} ({marks})", list(parsed)


def _clause_condition(
    param: SearchParameter,
    clause: SearchClause,
    now_us: int,
    registry: SearchRegistry,
    drive_type: str | None = None,
) -> tuple[str, list[object]]:
    """The SQL of one clause: EXISTS, or an IN over the index when it drives (drive_type set)."""
    _check_modifier(param, clause.modifier, registry)
    parsed = _parse_values(param, clause)
    if param.code == "_id":
        return _id_condition(clause, parsed)
    module = _TYPES[param.type]
    table: str = module.TABLE
    if clause.modifier == "missing":
        sql = _exists(table, "s.param = ?")
        return (f"NOT {sql}" if parsed[0] else sql), [param.code]
    condition: Callable[[Any, str | None, int], tuple[str, list[object]]] = module.condition
    parts: list[str] = []
    args: list[object] = [param.code]
    for value in parsed:
        sql, value_args = condition(value, clause.modifier, now_us)
        parts.append(f"({sql})" if len(parsed) > 1 else sql)
        args.extend(value_args)
    body = "s.param = ? AND " + (f"({' OR '.join(parts)})" if len(parts) > 1 else parts[0])
    if drive_type is not None:
        return _driving(table, body), [drive_type, drive_type, *args]
    sql = _exists(table, body)
    return (f"NOT {sql}" if clause.modifier == "not" else sql), args


def _pick_driver(
    resource_type: str, clauses: list[SearchClause], params: list[SearchParameter], registry: SearchRegistry
) -> int | None:
    """The index of the clause to drive the query, None for none (system-level search)."""
    if resource_type not in registry.resource_types:
        return None
    ranked = [
        (r, i)
        for i, (clause, param) in enumerate(zip(clauses, params, strict=True))
        if (r := driver.rank(param, clause.modifier, clause.values)) is not None
    ]
    return min(ranked)[1] if ranked else None


def compile_where(
    resource_type: str,
    clauses: list[SearchClause],
    registry: SearchRegistry,
    *,
    now: datetime | None = None,
) -> tuple[str, list[object]]:
    """An SQL boolean expression over `resource r` that is true for the matching resources.

    `now` (default: the system clock) anchors the width of date `ap` searches.
    Clauses for parameters the registry does not know raise BadRequest.
    """
    moment = now or system_clock()
    now_us = int(moment.timestamp()) * 1_000_000 + moment.microsecond
    params: list[SearchParameter] = []
    for clause in clauses:
        param = registry.get(resource_type, clause.code)
        if param is None or param.type not in _TYPES:
            raise BadRequest(f"Unknown search parameter {clause.code!r} for {resource_type}")
        params.append(param)
    driver = _pick_driver(resource_type, clauses, params, registry)
    conditions: list[str] = []
    args: list[object] = []
    for i, (clause, param) in enumerate(zip(clauses, params, strict=True)):
        drive_type = resource_type if i == driver and param.code != "_id" else None
        sql, clause_args = _clause_condition(param, clause, now_us, registry, drive_type)
        conditions.append(sql)
        args.extend(clause_args)
    if not conditions:
        return "1 = 1", []
    return " AND ".join(conditions), args
