"""Ordered, keyset-paged search results: the SQL of `_sort` and of next/previous page cursors.

A search page is "the first `limit` matches after (or before) position P" in one total order:
the sort keys, then type and id. A position is the list of those values taken from the last (or
first) row of the page before, so a walk over a stable set of matches neither repeats nor skips a
resource however many others are written meanwhile (an OFFSET would shift under such writes).

A sort key is any scalar SQL expression over the `resource` row `r` (search.results.order builds
them from the index tables). A resource without a value sorts last in either direction; every
key is therefore compared as the pair (value is missing, value).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class SortExpression:
    sql: str  # a scalar expression over `resource r`
    args: tuple[Any, ...] = ()
    descending: bool = False
    param: str | None = None  # the search parameter sorted by, where an index may hold its order


@dataclass
class Page:
    """Where a page starts: after a position (next pages) or before one (previous pages)."""

    after: list[Any] | None = None
    before: list[Any] | None = None
    limit: int = 20

    @property
    def backwards(self) -> bool:
        return self.before is not None


@dataclass
class OrderedQuery:
    """The SQL of one page: SELECT … ORDER BY … LIMIT, its arguments, and the number of key columns."""

    sql: str
    args: list[Any] = field(default_factory=list)
    keys: int = 0


def _later(columns: Sequence[tuple[str, bool]], values: Sequence[Any], backwards: bool) -> tuple[str, list[Any]]:
    """Rows strictly after `values` in the order of `columns` (strictly before when backwards)."""
    levels: list[str] = []
    args: list[Any] = []
    for level, (expr, descending) in enumerate(columns):
        parts = [f"{e} = ?" for e, _ in columns[:level]]
        args.extend(values[:level])
        op = "<" if descending != backwards else ">"
        parts.append(f"{expr} {op} ?")
        args.append(values[level])
        levels.append("(" + " AND ".join(parts) + ")")
    return "(" + " OR ".join(levels) + ")", args


def ordered_query(
    select: str,
    source: str,
    where_args: Sequence[Any],
    order: Sequence[SortExpression],
    page: Page,
    *,
    fixed_type: bool,
    counted: bool = False,
) -> OrderedQuery:
    """`SELECT {select} FROM {source}` (source includes its WHERE, over `resource r`) ordered and paged.

    The page is chosen on (type, id, sort keys) alone and only its rows are then joined back to
    `resource` for `select` (columns of `r`): the stored JSON of the matches that are not on the
    page is never read, converted or sorted (on PostgreSQL, turning JSONB into text for every
    match of a common name prefix cost more than the search). Each sort key adds a column
    k0, k1, … after `select`, whose values the caller keeps for the cursor. With `fixed_type`
    (a search of one type) the type is left out of the order. `counted` adds, last, the number
    of all matches (page or not) to every row: the database finds every match to order them
    anyway, and counting them in that same pass spares a second query that would find them all
    again (and, on PostgreSQL, be planned again).
    """
    position = page.before if page.backwards else page.after
    key_columns = "".join(f", ({k.sql}) AS k{i}" for i, k in enumerate(order))
    if counted:
        key_columns += ", COUNT(*) OVER () AS total"
    inner_args = [a for k in order for a in k.args] + list(where_args)
    inner = f"SELECT r.res_type AS res_type, r.res_id AS res_id{key_columns} FROM {source}"
    columns: list[tuple[str, bool]] = []
    values: list[Any] = []
    if position is not None and len(position) != len(order) + 2:
        raise ValueError("cursor position does not fit the sort")
    for i, key in enumerate(order):
        missing = f"CASE WHEN t.k{i} IS NULL THEN 1 ELSE 0 END"
        columns.append((missing, False))
        if position is not None:
            values.append(1 if position[i] is None else 0)
            if position[i] is not None:
                columns.append((f"t.k{i}", key.descending))
                values.append(position[i])
    order_by = [
        part
        for i, key in enumerate(order)
        for part in (f"CASE WHEN t.k{i} IS NULL THEN 1 ELSE 0 END", f"t.k{i}{' DESC' if key.descending else ''}")
    ]
    if not fixed_type:
        columns.append(("t.res_type", False))
        order_by.append("t.res_type")
        if position is not None:
            values.append(position[-2])
    columns.append(("t.res_id", False))
    order_by.append("t.res_id")
    if position is not None:
        values.append(position[-1])
    if page.backwards:
        order_by = [_reverse(part) for part in order_by]
    paged = f"SELECT * FROM ({inner}) t"
    args = inner_args
    if position is not None:
        condition, condition_args = _later(columns, values, page.backwards)
        paged += f" WHERE {condition}"
        args = [*args, *condition_args]
    paged += f" ORDER BY {', '.join(order_by)} LIMIT ?"
    keys = "".join(f", p.k{i}" for i in range(len(order))) + (", p.total" if counted else "")
    sql = (
        f"SELECT {select}{keys} FROM ({paged}) p"
        " JOIN resource r ON r.res_type = p.res_type AND r.res_id = p.res_id"
        f" ORDER BY {', '.join(part.replace('t.', 'p.') for part in order_by)}"
    )
    return OrderedQuery(sql, [*args, page.limit], len(order))


def _reverse(part: str) -> str:
    return part[: -len(" DESC")] if part.endswith(" DESC") else f"{part} DESC"


def newest_first_query(
    select: str, rows: str, where_args: Sequence[Any], alias: str, page: Page, *, counted: bool, none: int
) -> OrderedQuery:
    """A page of `rows` (`… WHERE …`, read from search_subject_code `alias`), by `latest`
    descending then id, as an ordered_query of one descending key would order them, but read in
    the order of the table's index and stopped at the page: the work is the page's, however many
    rows match. `latest` is never NULL: `none` (below every date) stands for a missing date,
    which the position and the key column give as None. `counted` adds the number of all matches
    to every row, counted once by a scalar subquery in the same statement (one snapshot)."""
    position = page.before if page.backwards else page.after
    if position is not None and len(position) != 3:
        raise ValueError("cursor position does not fit the sort")
    latest, res_id = f"{alias}.latest", f"{alias}.res_id"
    total = f", (SELECT COUNT(*) FROM {rows}) AS total" if counted else ""
    args: list[Any] = [*where_args, *where_args] if counted else [*where_args]  # the count's, then the page's
    condition = ""
    if position is not None:
        value = none if position[0] is None else position[0]
        if page.backwards:
            condition = f" AND {latest} >= ? AND ({latest} > ? OR {res_id} < ?)"
        else:
            condition = f" AND {latest} <= ? AND ({latest} < ? OR {res_id} > ?)"
        args += [value, value, position[2]]
    direction = ("ASC", "DESC") if page.backwards else ("DESC", "ASC")
    inner = (
        f"SELECT {alias}.res_type AS res_type, {res_id} AS res_id,"
        f" CASE WHEN {latest} = {none} THEN NULL ELSE {latest} END AS k0{total}"
        f" FROM {rows}{condition} ORDER BY {latest} {direction[0]}, {res_id} {direction[1]} LIMIT ?"
    )
    missing = (
        "CASE WHEN p.k0 IS NULL THEN 0 ELSE 1 END" if page.backwards else "CASE WHEN p.k0 IS NULL THEN 1 ELSE 0 END"
    )
    sql = (
        f"SELECT {select}, p.k0{', p.total' if counted else ''} FROM ({inner}) p"
        " JOIN resource r ON r.res_type = p.res_type AND r.res_id = p.res_id"
        f" ORDER BY {missing}, p.k0 {direction[0]}, p.res_id {direction[1]}"
    )
    return OrderedQuery(sql, [*args, page.limit], 1)
