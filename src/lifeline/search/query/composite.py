r"""Composite search: `$`-joined component values, matched within one element.

https://hl7.org/fhir/R4/search.html#composite — `code-value-quantity=http://loinc.org|8480-6$lt130`
is the token `http://loinc.org|8480-6` and the quantity `lt130`, both true of the same element,
that is of the same search_composite row: each component has columns of its own there (c1_…,
c2_…, c3_…; lifeline.storage.index_rows.COMPOSITE_LAYOUT). Each part is parsed and matched by the
module of its component's type, with that type's syntax and prefixes; `\$` is a dollar inside a
part. The spec defines no modifiers for composites (:missing is handled by the caller).
"""

from __future__ import annotations

import re
from types import ModuleType
from typing import Any

from lifeline.errors import BadRequest
from lifeline.search.query import date, number, quantity, reference, string, token, uri
from lifeline.search.query.values import split_unescaped
from lifeline.search.registry import SearchParameter
from lifeline.storage.index_rows import COMPOSITE_LAYOUT, composite_fits

TABLE = "search_composite"
MODIFIERS: frozenset[str] = frozenset()

# The parameter types a component can have: every type but composite. lifeline.search.query.clause
# adds composite to this map for whole parameters.
SIMPLE_TYPES: dict[str, ModuleType] = {
    "string": string,
    "token": token,
    "date": date,
    "number": number,
    "quantity": quantity,
    "reference": reference,
    "uri": uri,
}
_COLUMN = re.compile(r"\bs\.([a-z_]+)")

CompositeValue = tuple[tuple[int, str, Any], ...]  # (position from 1, component type, parsed part)


def supported(param: SearchParameter) -> bool:
    """Whether the composite's components have columns in search_composite (all of R4's do)."""
    return composite_fits(tuple(c.type for c in param.components))


def parse(value: str, modifier: str | None, param: SearchParameter) -> CompositeValue:
    parts = split_unescaped(value, "$")
    if len(parts) != len(param.components):
        raise BadRequest(
            f"Search parameter {param.code!r} takes {len(param.components)} values joined by '$', not {value!r}"
        )
    parsed: list[tuple[int, str, Any]] = []
    for position, (part, component) in enumerate(zip(parts, param.components, strict=True), start=1):
        if not part:
            raise BadRequest(f"Empty component {component.code!r} in {value!r} for search parameter {param.code!r}")
        kind = component.type or ""
        own = SearchParameter(component.code or param.code, kind, param.base, component.expression)
        parsed.append((position, kind, SIMPLE_TYPES[kind].parse(part, None, own)))
    return tuple(parsed)


def condition(value: CompositeValue, modifier: str | None, now_us: int) -> tuple[str, list[object]]:
    """Each part's condition from its type module, its columns renamed to the component's."""
    parts: list[str] = []
    args: list[object] = []
    for position, kind, parsed in value:
        sql, part_args = SIMPLE_TYPES[kind].condition(parsed, None, now_us)
        parts.append(_own_columns(sql, position, dict(COMPOSITE_LAYOUT[position - 1][kind])))
        args.extend(part_args)
    return " AND ".join(parts), args


def _own_columns(sql: str, position: int, columns: dict[str, str]) -> str:
    # `s.code` of a token condition is `s.c1_code` for the first component, `s.c2_code` for the second.
    return _COLUMN.sub(lambda m: f"s.c{position}_{columns[m.group(1)]}", sql)
