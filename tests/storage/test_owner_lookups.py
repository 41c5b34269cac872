"""Reads of the reference rows some resources hold go by those resources' own index (type and
id), whatever SQLite believes about the parameters: the patients a search page names, for its
audit record (fhir/accessed.py), a role's department, a Binary's security context.

With a region's statistics and bound parameters, SQLite chose the lookup index (parameter,
target) for `param IN (...)` (now `pid`, the parameter's number) and read every Observation's subject row to find a
page's 50: 7-15 ms a page against 0.3 ms on a 10-patient Synthea region (bench/synthea.py).
The plan is only chosen with bound parameters, so it is asked for exactly as the session asks."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from lifeline.storage import open_repository
from lifeline.storage.repository import Repository
from lifeline.storage.session import Session
from tests.conftest import database_url

# sqlite_stat1 of search_reference after ANALYZE on a 10-patient Synthea region.
REGION_STATISTICS = [
    ("search_reference", "search_reference_target", "119136 4 4"),
    ("search_reference", "search_reference_owner", "138554 201 4"),
    ("search_reference", "search_reference_lookup", "130680 81 2 2"),
]


@pytest.fixture
def analyzed(tmp_path: Path) -> Iterator[Repository]:
    """A SQLite store whose planner holds a region's statistics (read when a connection opens)."""
    url = database_url("sqlite", tmp_path)
    migrating = open_repository(url)
    migrating.migrate()
    migrating.close()
    with sqlite3.connect(url[len("sqlite:///") :]) as conn:
        conn.execute("ANALYZE")
        conn.execute("DELETE FROM sqlite_stat1 WHERE tbl = 'search_reference'")
        conn.executemany("INSERT INTO sqlite_stat1 (tbl, idx, stat) VALUES (?, ?, ?)", REGION_STATISTICS)
    repository = open_repository(url)
    yield repository
    repository.close()


def _plans(repo: Repository, ask: Callable[[Session], Any]) -> list[str]:
    """The query plan of each statement `ask` runs, planned with its parameters bound."""
    statements: list[tuple[str, Any]] = []
    with repo.reading() as session:
        run = session._all

        def record(sql: str, params: Any = ()) -> list[Any]:
            statements.append((sql, params))
            return run(sql, params)

        session._all = record  # type: ignore[method-assign]
        ask(session)
        return [" ".join(str(row[3]) for row in run(f"EXPLAIN QUERY PLAN {sql}", params)) for sql, params in statements]


PAGE = [f"r{n}" for n in range(50)]  # a page of 50: the plan is chosen by how many ids are asked


@pytest.mark.parametrize(
    "ask",
    [
        lambda s: s.patients_referenced({"Observation": (PAGE, ["subject", "performer"])}),
        lambda s: s.referenced_ids("PractitionerRole", PAGE, "organization", "Organization"),
        lambda s: s.references_by("Binary", PAGE, "security-context"),
    ],
    ids=["patients_referenced", "referenced_ids", "references_by"],
)
def test_reads_by_owner_use_the_owner_index(analyzed: Repository, ask: Callable[[Session], Any]) -> None:
    plans = _plans(analyzed, ask)
    assert plans, "the read ran no statement"
    for plan in plans:
        assert "search_reference_owner" in plan, plan
