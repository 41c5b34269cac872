"""Quantity search: a number with prefixes plus an optional system and code or unit.

https://hl7.org/fhir/R4/search.html#quantity — `[prefix][number]|[system]|[code]` matches the
system and code; `[prefix][number]||[code]` matches the code or the unit; a bare number any
unit. The number is compared as for number parameters (lifeline.search.query.number). Units
are not converted (no UCUM canonicalization).
"""

from __future__ import annotations

from lifeline.errors import BadRequest
from lifeline.search.query import number
from lifeline.search.query.values import split_prefix, split_unescaped, unescape
from lifeline.search.registry import SearchParameter

TABLE = "search_quantity"
MODIFIERS: frozenset[str] = frozenset()

QuantityValue = tuple[number.NumberValue, str | None, str | None]  # number, system, code


def parse(value: str, modifier: str | None, param: SearchParameter) -> QuantityValue:
    parts = split_unescaped(value, "|")
    if len(parts) not in (1, 3):
        raise BadRequest(f"Invalid quantity {value!r} for search parameter {param.code!r}")
    prefix, text = split_prefix(unescape(parts[0]))
    parsed = number.parse_number(prefix, text, param.code)
    if len(parts) == 1:
        return parsed, None, None
    return parsed, unescape(parts[1]) or None, unescape(parts[2]) or None


def condition(quantity: QuantityValue, modifier: str | None, now_us: int) -> tuple[str, list[object]]:
    parsed, system, code = quantity
    sql, args = number.condition(parsed, None, now_us)
    if system is not None:
        sql += " AND s.system = ?"
        args.append(system)
        if code is not None:
            sql += " AND s.code = ?"
            args.append(code)
    elif code is not None:
        sql += " AND (s.code = ? OR s.unit = ?)"
        args += [code, code]
    return sql, args
