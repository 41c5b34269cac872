"""Which clause of a search drives the query: a join-order hint the SQLite planner cannot infer.

Written as correlated EXISTS, every clause makes SQLite walk all resources of the type and probe
each one (measured: 370 ms for `Observation?patient=p42&code=…` over 200,000 Observations);
written as `r.res_id IN (SELECT s.res_id …)`, a clause is looked up once in its index and its ids
drive the query (0.5 ms for the same search). Every IN list is materialized, though, so only the
clause most likely to be selective is written that way and the others stay EXISTS, probed per
driven row. PostgreSQL plans both forms as semi-joins and is indifferent.

The ranking is by kind, not statistics: a reference or identifier names a few resources, a coded
token or name prefix more, a date or number range often a large part of the table. Negated and
:missing clauses never drive: their matches are usually most of the table. A composite ranks like
a coded token (its first component is one). A chain or `_has` ranks as its final parameters do,
but no better than a reference: a chained identifier names a few resources, which a reference
lookup then turns into the few that point at them.
"""

from __future__ import annotations

from lifeline.search.registry import SearchParameter

NEVER = None


def rank(param: SearchParameter, modifier: str | None, values: list[str]) -> int | None:
    """Lower is more selective; None when the clause must not drive."""
    if modifier in ("missing", "not", "above"):
        return NEVER
    if param.code == "_id":
        return 0
    if param.type == "reference" or (param.type == "uri" and modifier is None) or "identifier" in param.code:
        return 1
    if param.type == "token" and modifier != "text":
        # system|code is usually a specific concept; a bare code is often a status or gender.
        return 2 if all("|" in v and not v.endswith("|") for v in values) else 4
    if param.type == "string" and modifier != "contains":
        return 3
    if param.type == "composite":
        return 2
    return 5


def rank_linked(final_ranks: list[int | None]) -> int | None:
    """The rank of a chain or _has from those of the parameters it ends in."""
    if not final_ranks or NEVER in final_ranks:
        return NEVER
    return max(1, *(r for r in final_ranks if r is not None))
