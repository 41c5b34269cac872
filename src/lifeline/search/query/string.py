"""String search: starts-with by default, :exact and :contains.

https://hl7.org/fhir/R4/search.html#string — the default match is case- and accent-insensitive
and matches the start of the value; :contains matches anywhere; :exact is case- and
accent-sensitive equality. Insensitive matching compares normalized values only (the same
lifeline.search.normalize on both sides), so LIKE behaves the same on SQLite (ASCII-insensitive)
and PostgreSQL (sensitive).
"""

from __future__ import annotations

from lifeline.search.normalize import normalize
from lifeline.search.query.values import LIKE_ESCAPE, like_pattern, unescape
from lifeline.search.registry import SearchParameter

TABLE = "search_string"
MODIFIERS = frozenset({"exact", "contains"})


def parse(value: str, modifier: str | None, param: SearchParameter) -> str:
    return unescape(value)


def condition(text: str, modifier: str | None, now_us: int) -> tuple[str, list[object]]:
    if modifier == "exact":
        return "s.exact = ?", [text]
    pattern = like_pattern(normalize(text), starts=modifier != "contains")
    return f"s.normalized LIKE ? {LIKE_ESCAPE}", [pattern]
