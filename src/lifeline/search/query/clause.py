"""One search parameter on one resource type: its modifier and values checked, its SQL.

https://hl7.org/fhir/R4/search.html — the comma-separated values of a parameter are
alternatives (OR). Three SQL forms of the same match, all over the typed index tables:

  condition(…)                 EXISTS (SELECT 1 FROM search_x s WHERE s.res_type = r.res_type
                                 AND s.res_id = r.res_id AND s.pid = ? AND …), a boolean over `resource r`;
  matching_ids(…)              SELECT s.res_id FROM search_x s WHERE s.pid = ? AND …, the ids
                                 of the matching resources of a type, which chains nest and by
                                 which a clause drives the query (lifeline.search.query.driver).

Negated and :missing=true matches, `_id` and `_lastUpdated` are not index lookups: matching_ids
selects them from the resource table (`SELECT r.res_id FROM resource r WHERE … NOT EXISTS …`,
`… AND r.last_updated >= ?`; search/query/date.py `instant_condition`).

With a `Withholding` (withheld.py), a parameter over a withheld element sees no index rows of a
resource that withholds it: its index rows are read only where the resource shows the element.
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import Any

from lifeline.errors import BadRequest
from lifeline.search.query import composite, date
from lifeline.search.query.values import unescape
from lifeline.search.query.withheld import Withholding
from lifeline.search.registry import ON_THE_ROW, SearchParameter, SearchRegistry
from lifeline.storage import param_numbers

EVERY_TYPE = "Resource"  # the pseudo-type of a search of every type (search/registry.py)

TYPES: dict[str, ModuleType] = {**composite.SIMPLE_TYPES, "composite": composite}


def searchable(param: SearchParameter | None) -> bool:
    """Whether the parameter can be searched here (special parameters and odd composites cannot)."""
    if param is None or param.type not in TYPES:
        return False
    return param.type != "composite" or composite.supported(param)


def _missing(code: str, values: list[str]) -> bool:
    if len(values) != 1 or values[0] not in ("true", "false"):
        raise BadRequest(f"Search parameter {code}:missing takes true or false")
    return values[0] == "true"


def check_modifier(param: SearchParameter, modifier: str | None, registry: SearchRegistry) -> None:
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
    if modifier not in TYPES[param.type].MODIFIERS:
        raise BadRequest(f"Modifier :{modifier} is not supported for search parameter {param.code!r}")


def parse_values(param: SearchParameter, modifier: str | None, values: list[str]) -> list[Any]:
    """The parsed values (BadRequest when malformed); [True/False] for :missing."""
    if modifier == "missing":
        return [_missing(param.code, values)]
    if param.code == "_id":
        return [unescape(v) for v in values]
    module = TYPES[param.type]
    return [module.parse(v, modifier, param) for v in values]


def _exists(table: str, body: str) -> str:
    return f"EXISTS (SELECT 1 FROM {table} s WHERE s.res_type = r.res_type AND s.res_id = r.res_id AND {body})"


def _id_condition(modifier: str | None, parsed: list[Any]) -> tuple[str, list[object]]:
    if modifier == "missing":
        return ("1 = 0" if parsed[0] else "1 = 1"), []
    marks = ", ".join("?" for _ in parsed)
    operator = "NOT IN" if modifier == "not" else "IN"
    return f"r.res_id {operator} ({marks})", list(parsed)


def _last_updated_condition(modifier: str | None, parsed: list[Any], now_us: int) -> tuple[str, list[object]]:
    if modifier == "missing":
        return ("1 = 0" if parsed[0] else "1 = 1"), []  # every resource has one
    parts = [date.instant_condition(value, now_us) for value in parsed]
    if len(parts) == 1:
        return parts[0]
    return "(" + " OR ".join(sql for sql, _ in parts) + ")", [a for _, args in parts for a in args]


def _index_body(
    resource_type: str, param: SearchParameter, modifier: str | None, parsed: list[Any], now_us: int
) -> tuple[str, list[object]]:
    """`s.pid = ? AND (value OR value …)` over the parameter's index table, :not left to the caller."""
    module = TYPES[param.type]
    condition: Callable[[Any, str | None, int], tuple[str, list[object]]] = module.condition
    parts: list[str] = []
    which, args = rows_of(resource_type, param)
    for value in parsed:
        sql, value_args = condition(value, modifier, now_us)
        parts.append(f"({sql})" if len(parsed) > 1 else sql)
        args.extend(value_args)
    return f"{which} AND " + (f"({' OR '.join(parts)})" if len(parts) > 1 else parts[0]), args


def rows_of(resource_type: str, param: SearchParameter, alias: str = "s") -> tuple[str, list[object]]:
    """`s.pid = ?` (the parameter's number, storage/param_numbers.py), or `s.pid IN (?, ?)` for a
    parameter answered from others' rows (SearchParameter.stored: `combo-code` from those of
    `code` and `component-code`) and for a search of every type (`Resource`, whose parameters
    each type has under its own number)."""
    return param_numbers.condition(alias, [n for code in param.rows for n in _numbers(resource_type, code)])


def _numbers(resource_type: str, code: str) -> tuple[int, ...]:
    if resource_type == EVERY_TYPE:
        return param_numbers.numbers_of_code(code)
    return (param_numbers.number(resource_type, code),)


def _shown(param: SearchParameter, withholding: Withholding | None) -> tuple[str, list[object]]:
    """` AND …` keeping the index rows of resources that show what the parameter reads."""
    if withholding is None or not withholding.covers(param):
        return "", []
    sql, args = withholding.shown("s")
    return f" AND {sql}", args


def condition(
    resource_type: str,
    param: SearchParameter,
    modifier: str | None,
    values: list[str],
    now_us: int,
    registry: SearchRegistry,
    withholding: Withholding | None = None,
) -> tuple[str, list[object]]:
    """The SQL of one clause over `resource r` of `resource_type`: an EXISTS over its index table."""
    check_modifier(param, modifier, registry)
    parsed = parse_values(param, modifier, values)
    if param.code == "_id":
        return _id_condition(modifier, parsed)
    if param.code == "_lastUpdated":
        return _last_updated_condition(modifier, parsed, now_us)
    table: str = TYPES[param.type].TABLE
    shown, shown_args = _shown(param, withholding)
    if modifier == "missing":
        which, which_args = rows_of(resource_type, param)
        sql = _exists(table, which + shown)
        return (f"NOT {sql}" if parsed[0] else sql), [*which_args, *shown_args]
    body, args = _index_body(resource_type, param, modifier, parsed, now_us)
    sql = _exists(table, body + shown)
    return (f"NOT {sql}" if modifier == "not" else sql), [*args, *shown_args]


def matching_ids(
    param: SearchParameter,
    modifier: str | None,
    values: list[str],
    resource_type: str,
    now_us: int,
    registry: SearchRegistry,
    withholding: Withholding | None = None,
) -> tuple[str, list[object]]:
    """A SELECT of the ids of the current resources of `resource_type` the clause matches."""
    check_modifier(param, modifier, registry)
    parsed = parse_values(param, modifier, values)
    if param.code not in ON_THE_ROW and modifier not in ("not", "missing"):
        body, args = _index_body(resource_type, param, modifier, parsed, now_us)
        shown, shown_args = _shown(param, withholding)
        # The parameter's number names the type too: no `s.res_type = ?` (the lookup index has none).
        return f"SELECT s.res_id FROM {TYPES[param.type].TABLE} s WHERE {body}{shown}", [*args, *shown_args]
    # Index rows exist for current resources only; a negation must list the resources themselves,
    # and `_id` and `_lastUpdated` are matched on the resource's own row.
    sql, args = condition(resource_type, param, modifier, values, now_us, registry, withholding)
    return f"SELECT r.res_id FROM resource r WHERE r.res_type = ? AND NOT r.deleted AND {sql}", [resource_type, *args]
