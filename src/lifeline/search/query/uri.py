"""URI search: exact match, :below (the value starts with the given URI) and :above.

https://hl7.org/fhir/R4/search.html#uri — matching is case-sensitive, so prefixes are compared
with substr() rather than LIKE, which SQLite would make ASCII case-insensitive.
"""

from __future__ import annotations

from lifeline.search.query.values import unescape
from lifeline.search.registry import SearchParameter

TABLE = "search_uri"
MODIFIERS = frozenset({"below", "above"})


def parse(value: str, modifier: str | None, param: SearchParameter) -> str:
    return unescape(value)


def condition(uri: str, modifier: str | None, now_us: int) -> tuple[str, list[object]]:
    if modifier == "below":
        return "substr(s.value, 1, CAST(? AS INTEGER)) = ?", [len(uri), uri]
    if modifier == "above":
        return "substr(CAST(? AS TEXT), 1, length(s.value)) = s.value", [uri]
    return "s.value = ?", [uri]
