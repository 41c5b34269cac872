"""search_subject_code (migration 18, issue 27): one subject's resources of one coding, newest first.

Its rows follow the current version like every index table's, a database in use gets them from
the rows it already holds, and a page newest first is read from its index in order, stopped at
the page, whatever else the search requires of the row.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from lifeline.search.extract import extract_index
from lifeline.search.query import compile_match, parse_query
from lifeline.search.registry import default_registry
from lifeline.search.results.order import parse_sort
from lifeline.storage import open_repository, write_session
from lifeline.storage.index_rows import NO_DATE, IndexEntries
from lifeline.storage.matching import Match, dated_source
from lifeline.storage.migrations import INDEX_TABLES, MIGRATIONS
from lifeline.storage.ordering import Page, newest_first_query
from lifeline.storage.repository import Repository
from lifeline.storage.write_session import WriteSession, index_rows
from tests.conftest import BACKENDS, database_url, dispose
from tests.storage.writes import as_of_migration, put

LOINC = "http://loinc.org"
REGISTRY = default_registry()


def glucose(res_id: str, patient: str, when: str | None, code: str = "2345-7") -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "Observation",
        "id": res_id,
        "status": "final",
        "code": {"coding": [{"system": LOINC, "code": code}, {"system": LOINC, "code": code}]},  # repeated
        "subject": {"reference": f"Patient/{patient}"},
    }
    if when is not None:
        resource["effectiveDateTime"] = when
    return resource


def before_migration_18(resource: dict[str, Any]) -> IndexEntries:
    """The index entries the code before search_subject_code wrote."""
    entries = extract_index(resource)
    entries.subject_codes = []
    return entries


def table(repo: Repository) -> set[tuple[Any, ...]]:
    with repo.reading() as session:
        return {tuple(r) for r in session._all("SELECT * FROM search_subject_code", ())}


def expected_rows(*resources: dict[str, Any]) -> set[tuple[Any, ...]]:
    rows: set[tuple[Any, ...]] = set()
    for resource in resources:
        for name, table_rows in index_rows((resource["resourceType"], resource["id"]), extract_index(resource)):
            if name == "search_subject_code":
                rows.update(table_rows)
    return rows


def match_of(*params: tuple[str, str]) -> Match:
    clauses, _ = parse_query("Observation", list(params), REGISTRY)
    return compile_match("Observation", clauses, REGISTRY)


def newest_first(repo: Repository, match: Match, limit: int = 50, **page: Any) -> tuple[list[str], int | None]:
    with repo.reading() as session:
        rows, total = session.search_page(
            "Observation",
            match,
            parse_sort("Observation", ["-date"], REGISTRY),
            Page(limit=limit, **page),
            with_total=True,
        )
    return [v.res_id for v, _ in rows], total


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_database_in_use_gets_the_rows_of_what_it_holds(
    backend: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = open_repository(database_url(backend, tmp_path))
    kept = [glucose("a", "p1", "2026-01-02"), glucose("b", "p1", None), glucose("c", "p2", "2025-05-05T10:00:00Z")]
    report = {
        "resourceType": "DiagnosticReport",
        "id": "r",
        "status": "final",
        "code": {"coding": [{"system": LOINC, "code": "24323-8"}, {"code": "no-system"}]},
        "subject": {"reference": "Patient/p1"},
        "effectivePeriod": {"start": "2026-01-01", "end": "2026-01-03"},
    }
    other = {
        "resourceType": "Condition",
        "id": "x",
        "code": {"coding": [{"system": LOINC, "code": "1"}]},
        "subject": {"reference": "Patient/p1"},
    }
    try:
        with as_of_migration(monkeypatch, repo, 17) as before:
            before.setattr(write_session, "INDEX_TABLES", INDEX_TABLES[:-1])

            def work(session: WriteSession) -> None:
                for resource in (*kept, report, other, glucose("gone", "p1", "2026-02-02")):
                    put(session, resource, entries=before_migration_18)
                put(session, glucose("gone", "p1", "2026-02-02"), 2, deleted=True)

            repo.write(work)
        assert repo.migrate() == [m.version for m in MIGRATIONS[17:]]
        rows = table(repo)
        assert rows == expected_rows(*kept, report)  # no Condition (no `date`), nothing deleted
        assert ("Observation", "b", "Patient", "p1", LOINC, "2345-7", NO_DATE) in rows
        assert len([r for r in rows if r[1] == "r"]) == 1  # the coding without a system has no row
    finally:
        dispose(repo)


def test_rows_follow_the_current_version(repo: Repository) -> None:
    repo.write(lambda session: put(session, glucose("o", "p1", "2026-01-01")))
    assert table(repo) == expected_rows(glucose("o", "p1", "2026-01-01"))
    moved = glucose("o", "p2", "2026-01-05", code="718-7")
    repo.write(lambda session: put(session, moved, 2))
    assert table(repo) == expected_rows(moved)
    assert newest_first(repo, match_of(("patient", "p1"), ("code", f"{LOINC}|2345-7"))) == ([], 0)
    assert newest_first(repo, match_of(("patient", "p2"), ("code", f"{LOINC}|718-7"))) == (["o"], 1)
    repo.write(lambda session: put(session, moved, 3, deleted=True))
    assert table(repo) == set()


def test_pages_newest_first_whatever_else_the_search_reads(repo: Repository) -> None:
    def work(session: WriteSession) -> None:
        for n in range(12):
            put(session, glucose(f"o{n:02}", "p1", None if n % 5 == 0 else f"2026-01-{1 + n % 4:02}"))
        put(session, glucose("elsewhere", "p2", "2026-01-09"))

    repo.write(work)
    match = match_of(("subject", "Patient/p1"), ("code", f"{LOINC}|2345-7"))
    assert match.dated is not None
    everything, total = newest_first(repo, match)
    dated = sorted((n for n in range(12) if n % 5), key=lambda n: (-(n % 4), n))
    assert everything == [f"o{n:02}" for n in dated] + ["o00", "o05", "o10"] and total == 12
    # Forward and back by position: the same order, a page at a time.
    with repo.reading() as session:
        first, _ = session.search_page(
            "Observation", match, parse_sort("Observation", ["-date"], REGISTRY), Page(limit=5)
        )
    position = first[-1][1]
    assert newest_first(repo, match, after=position)[0] == everything[5:]
    assert newest_first(repo, match, limit=2, before=position)[0] == everything[2:4]
    last_dated = [None, "Observation", "o05"]
    assert newest_first(repo, match, after=last_dated)[0] == ["o10"]
    # A condition on the key alone reads the index's rows; one on the row joins `resource`.
    without = match.and_("r.res_id <> ?", ["o03"])
    assert dated_source(without)[2] == "r"
    assert newest_first(repo, without) == ([i for i in everything if i != "o03"], 11)
    versioned = match.and_("r.version_id = ? AND r.res_id <> ?", [1, "o04"])
    assert dated_source(versioned)[2] == "c"
    assert newest_first(repo, versioned) == ([i for i in everything if i != "o04"], 11)


def test_the_page_is_read_in_the_index_order_not_sorted(repo: Repository) -> None:
    repo.write(lambda session: [put(session, glucose(f"o{n}", "p1", f"2026-01-{1 + n:02}")) for n in range(20)])
    repo.analyze()
    match = match_of(("patient", "p1"), ("code", f"{LOINC}|2345-7"))
    rows, args, alias = dated_source(match)
    query = newest_first_query("r.res_id", rows, args, alias, Page(limit=5), counted=False, none=NO_DATE)
    inner = query.sql[query.sql.index("FROM (") + 6 : query.sql.index(") p JOIN")]
    with repo.reading(snapshot=True) as session:  # a transaction: the SET LOCAL ends with it
        if repo.dialect.name == "sqlite":
            plan = " ".join(str(r[3]) for r in session._all(f"EXPLAIN QUERY PLAN {inner}", query.args))
            assert "search_subject_code_latest" in plan and "TEMP B-TREE" not in plan, plan
        else:
            session.conn.execute("SET LOCAL enable_seqscan = off")  # 20 rows: a scan would do
            plan = " ".join(str(r[0]) for r in session._all(f"EXPLAIN {session.dialect.sql(inner)}", query.args))
            assert "search_subject_code_latest" in plan and "Sort" not in plan, plan
