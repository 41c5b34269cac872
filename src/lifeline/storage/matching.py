"""What a search matches, as the storage layer reads it, and the rows a search reads it from.

A `Match` is an SQL condition over the current row `resource r` and, when one clause drives the
search (lifeline.search.query.driver), that clause apart: a SELECT of the ids of the resources of
the searched type it matches, taken from the owners of its index rows. A search for one subject's
resources of one coded concept is driven by search_subject_code (`SubjectCode`), whose index also
gives them newest first.

The index tables hold rows for current, non-deleted resources only: every write replaces its
resource's rows in the write's transaction, and a delete removes them. The owners of a clause's
index rows are therefore exactly the resources it matches, and a driven search can choose, order
and count its matches on the index tables alone; `resource` is read only for the page it returns.
On PostgreSQL with 1 million resources that took a name-prefix page with its total from 5.5 to
2.4 ms (p50), and a patient's Observations of one code from 9.3 to 5.2 ms: the primary-key probe
of `resource` for every match was most of the work.

That holds while nothing else reads a column of `r` other than its type and id: a sort on
`_lastUpdated` (`r.last_updated`), a condition on a version, an access rule reading the row. Then
the clause goes back into the condition as `r.res_type = ? AND r.res_id IN (…)` and the rows come
from `resource`, as before. So do ids that are not index-row owners (a `_has` selects the targets
of references, some of them deleted or never stored).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

# A column of the current row other than its key; a word boundary keeps `s.res_id` and `sr.x` out.
_ROW_COLUMN = re.compile(r"(?<![\w.])r\.(?!res_type\b|res_id\b)\w")


@dataclass(frozen=True)
class SubjectCode:
    """One typed subject's current resources of `res_type` with one coding (system and code):
    the rows of search_subject_code under one key of its index, which holds them in date order,
    newest first (search/extract/subject_code.py)."""

    res_type: str
    subject_type: str
    subject_id: str
    system: str
    code: str

    def filter(self, alias: str) -> tuple[str, list[Any]]:
        """The condition on search_subject_code `alias` (one range of its index)."""
        sql = (
            f"{alias}.res_type = ? AND {alias}.subject_id = ? AND {alias}.code = ? AND {alias}.system = ?"
            f" AND {alias}.subject_type = ?"
        )
        return sql, [self.res_type, self.subject_id, self.code, self.system, self.subject_type]

    def ids(self) -> tuple[str, list[Any]]:
        """The ids it matches, for Match.ids (each once: the key is the whole of a row but its date)."""
        sql, args = self.filter("c")
        return f"SELECT c.res_id FROM search_subject_code c WHERE {sql}", args


@dataclass(frozen=True)
class Match:
    """A search's condition over `resource r` (empty: every resource) with its arguments, and
    the driving clause apart (`ids`: a SELECT of the ids it matches), or None; `owners` says
    whether those ids are index-row owners (current, non-deleted resources of the type). `dated`:
    the driving clause is one subject's resources of one coding (its `ids` are SubjectCode.ids).
    """

    where: str = ""
    args: tuple[Any, ...] = ()
    ids: str | None = None
    ids_args: tuple[Any, ...] = ()
    owners: bool = True
    dated: SubjectCode | None = None

    def and_(self, sql: str, args: Sequence[Any]) -> Match:
        """The same match, also requiring `sql` (over `resource r`)."""
        where = f"({self.where}) AND {sql}" if self.where else sql
        return replace(self, where=where, args=(*self.args, *args))

    def condition(self, res_type: str | None) -> tuple[str, list[Any]]:
        """The whole match as one condition over `resource r`, the driving clause included."""
        if self.ids is None or res_type is None:
            return self.where, list(self.args)
        driving = f"r.res_type = ? AND r.res_id IN ({self.ids})"
        if not self.where:
            return driving, [res_type, *self.ids_args]
        return f"{driving} AND ({self.where})", [res_type, *self.ids_args, *self.args]


def source(res_type: str | None, match: Match, sort_sql: Sequence[str] = ()) -> tuple[str, list[Any]]:
    """`rows r WHERE …` for `SELECT … FROM`: the current, non-deleted resources of `res_type` (None:
    every FHIR type) that `match` matches, read from the driving clause's index rows where it can
    be, else from `resource`. `sort_sql` are the sort keys' expressions, which may read `r` too."""
    if match.dated is not None and match.dated.res_type == res_type and not _reads_row(match.where, *sort_sql):
        rows, rows_args, _ = dated_source(match)
        return rows, rows_args
    if match.ids is not None and match.owners and res_type is not None and not _reads_row(match.where, *sort_sql):
        rows = f"(SELECT DISTINCT CAST(? AS TEXT) AS res_type, i.res_id AS res_id FROM ({match.ids}) i) r"
        return f"{rows} WHERE {match.where or '1 = 1'}", [res_type, *match.ids_args, *match.args]
    conditions = ["NOT r.deleted"]
    args: list[Any] = []
    if res_type is not None:
        conditions.append("r.res_type = ?")
        args.append(res_type)
    else:
        conditions.append(fhir_types_only("r"))
    where, where_args = match.condition(res_type)
    if where:
        conditions.append(f"({where})")
        args.extend(where_args)
    return f"resource r WHERE {' AND '.join(conditions)}", args


def dated_source(match: Match) -> tuple[str, list[Any], str]:
    """`rows WHERE …` of a dated match (Match.dated) read from search_subject_code, and that
    table's alias: `r`, as the resource would be (the conditions read its key, one row a match),
    or `c` joined to `resource r` where a condition reads more of the row than its key."""
    assert match.dated is not None
    alias = "c" if _reads_row(match.where) else "r"
    dated, args = match.dated.filter(alias)
    rows = "search_subject_code r"
    if alias == "c":
        rows = "search_subject_code c JOIN resource r ON r.res_type = c.res_type AND r.res_id = c.res_id"
    return f"{rows} WHERE {dated} AND ({match.where or '1 = 1'})", [*args, *match.args], alias


def fhir_types_only(alias: str) -> str:
    """Leave out the identity records (types beginning with `_`, identity/records.py) wherever a
    query spans every type: they are stored beside resources but are not FHIR."""
    return f"substr({alias}.res_type, 1, 1) <> '_'"


def _reads_row(*sql: str) -> bool:
    return any(_ROW_COLUMN.search(text) for text in sql)
