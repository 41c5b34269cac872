"""`_sort`: the order of search results (https://hl7.org/fhir/R4/search.html#sort).

`_sort=status,-date` sorts by each key in turn, `-` meaning descending; ties, and the order when
no `_sort` is given, fall back to type and id, which keeps paging stable. A key is any search
parameter of the type with an index table, plus `_id` and `_lastUpdated`. A resource can hold
several values for one parameter: ascending uses its smallest, descending its largest (for dates:
the earliest start, the latest end), as the spec suggests. Resources without a value come last,
and so do those that withhold the sorted element from the searcher (search/query/withheld.py).
"""

from __future__ import annotations

from lifeline.errors import BadRequest
from lifeline.search.query.clause import EVERY_TYPE, rows_of
from lifeline.search.query.withheld import Withholding
from lifeline.search.registry import SearchRegistry
from lifeline.storage.ordering import SortExpression

# Per parameter type: the index table and the value sorted by, ascending and descending.
_SORT_VALUES: dict[str, tuple[str, str, str]] = {
    "string": ("search_string", "MIN(s.normalized)", "MAX(s.normalized)"),
    "token": ("search_token", "MIN(s.code)", "MAX(s.code)"),
    "date": ("search_date", "MIN(s.low)", "MAX(s.high)"),
    "number": ("search_number", "MIN(s.value)", "MAX(s.value)"),
    "quantity": ("search_quantity", "MIN(s.value)", "MAX(s.value)"),
    "reference": (
        "search_reference",
        "MIN(COALESCE(s.target_type || '/' || s.target_id, s.url))",
        "MAX(COALESCE(s.target_type || '/' || s.target_id, s.url))",
    ),
    "uri": ("search_uri", "MIN(s.value)", "MAX(s.value)"),
}


def parse_sort(
    resource_type: str | None, values: list[str], registry: SearchRegistry, withholding: Withholding | None = None
) -> list[SortExpression]:
    """The sort keys of `_sort` (which may be repeated); an unknown or unsortable key is a 400:
    silently ignoring it would return a page in an order the client did not ask for."""
    keys: list[SortExpression] = []
    for value in values:
        for item in value.split(","):
            name = item.strip()
            if not name:
                continue
            descending = name.startswith("-")
            keys.append(_key(resource_type, name.lstrip("-"), descending, registry, withholding))
    return keys


def _key(
    resource_type: str | None, code: str, descending: bool, registry: SearchRegistry, withholding: Withholding | None
) -> SortExpression:
    if code == "_id":
        return SortExpression("r.res_id", (), descending)
    if code == "_lastUpdated":
        return SortExpression("r.last_updated", (), descending)
    param = registry.get(resource_type or "Resource", code)
    if param is None:
        raise BadRequest(f"Cannot sort by {code!r}: it is not a search parameter of {resource_type or 'every type'}")
    if param.type not in _SORT_VALUES:
        raise BadRequest(f"Cannot sort by {code!r}: {param.type} parameters have no order")
    table, ascending_value, descending_value = _SORT_VALUES[param.type]
    value = descending_value if descending else ascending_value
    which, which_args = rows_of(resource_type or EVERY_TYPE, param)
    sql = f"SELECT {value} FROM {table} s WHERE s.res_type = r.res_type AND s.res_id = r.res_id AND {which}"
    if withholding is not None and withholding.covers(param):
        shown, shown_args = withholding.shown("s")
        return SortExpression(f"{sql} AND {shown}", (*which_args, *shown_args), descending)
    return SortExpression(sql, tuple(which_args), descending, param=code)
