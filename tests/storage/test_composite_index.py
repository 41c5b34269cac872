"""search_composite (migration 2): added to a database in use, and written like every index table.

The rows of a resource follow its current version (replaced on update, removed on delete), in
the write's transaction, by multi-row INSERT or, for big batches on PostgreSQL, by COPY.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from lifeline.search.query import compile_match, parse_query
from lifeline.search.registry import default_registry
from lifeline.storage import open_repository
from lifeline.storage.index_rows import COMPOSITE_COLUMNS
from lifeline.storage.migrations import MIGRATIONS
from lifeline.storage.repository import Repository
from lifeline.storage.write_session import WriteSession
from tests.conftest import BACKENDS, database_url, dispose
from tests.storage.writes import as_of_migration, put

LOINC = "http://loinc.org"
SYSTOLIC, DIASTOLIC = "8480-6", "8462-4"


def blood_pressure(res_id: str, systolic: float, diastolic: float | None = None) -> dict[str, Any]:
    components = [(SYSTOLIC, systolic)] + ([(DIASTOLIC, diastolic)] if diastolic is not None else [])
    return {
        "resourceType": "Observation",
        "id": res_id,
        "status": "final",
        "code": {"coding": [{"system": LOINC, "code": "85354-9"}]},
        "component": [
            {"code": {"coding": [{"system": LOINC, "code": code}]}, "valueQuantity": {"value": value}}
            for code, value in components
        ],
    }


def composite_rows(repo: Repository, res_id: str) -> int:
    with repo.reading() as session:
        row = session._one("SELECT COUNT(*) FROM search_composite WHERE res_id = ?", (res_id,))
    return int(row[0])


def search(repo: Repository, resource_type: str, *params: tuple[str, str]) -> set[str]:
    registry = default_registry()
    clauses, _ = parse_query(resource_type, list(params), registry)
    match = compile_match(resource_type, clauses, registry)
    with repo.reading() as session:
        return {v.res_id for v in session.search(resource_type, match, after_key=None, limit=1000)}


@pytest.mark.parametrize("backend", BACKENDS)
def test_later_migrations_apply_to_a_version_1_database_and_keep_its_data(
    backend: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = open_repository(database_url(backend, tmp_path))
    try:
        with as_of_migration(monkeypatch, repo, 1):
            patient = {"resourceType": "Patient", "id": "kept", "name": [{"family": "Bjørn"}]}
            repo.write(lambda session: put(session, patient))
        later = [m.version for m in MIGRATIONS[1:]]
        assert repo.pending_migrations() == later
        assert repo.migrate() == later
        assert repo.pending_migrations() == []
        assert repo.read("Patient", "kept") is not None
        assert search(repo, "Patient", ("family", "bjørn")) == {"kept"}
        repo.write(lambda session: put(session, blood_pressure("bp", 120, 80)))
        assert search(repo, "Observation", ("component-code-value-quantity", f"{SYSTOLIC}$120")) == {"bp"}
    finally:
        dispose(repo)


def test_the_table_has_the_columns_of_the_row_builder(repo: Repository) -> None:
    with repo.reading() as session:
        cursor = session.conn.execute("SELECT * FROM search_composite WHERE 1 = 0")
        names = tuple(d[0] for d in cursor.description)
    assert names == ("res_type", "res_id", "pid", *COMPOSITE_COLUMNS)


def test_rows_follow_the_current_version(repo: Repository) -> None:
    repo.write(lambda session: put(session, blood_pressure("bp", 120, 80)))
    assert composite_rows(repo, "bp") == 2  # component-code-value-quantity, twice (combo- reads them)
    repo.write(lambda session: put(session, blood_pressure("bp", 130), version=2))
    assert composite_rows(repo, "bp") == 1
    assert search(repo, "Observation", ("component-code-value-quantity", f"{SYSTOLIC}$120")) == set()
    assert search(repo, "Observation", ("component-code-value-quantity", f"{SYSTOLIC}$130")) == {"bp"}
    repo.write(lambda session: put(session, blood_pressure("bp", 130), version=3, deleted=True))
    assert composite_rows(repo, "bp") == 0


def test_a_big_batch_is_written_whole(repo: Repository) -> None:
    # 300 rows in one transaction: PostgreSQL sends them by COPY, which relies on the column order.
    def work(session: WriteSession) -> None:
        for i in range(75):
            put(session, blood_pressure(f"bp{i}", 100 + i, 60 + i))

    repo.write(work)
    assert search(repo, "Observation", ("component-code-value-quantity", f"{SYSTOLIC}$gt172")) == {"bp73", "bp74"}
    assert search(repo, "Observation", ("combo-code-value-quantity", f"{DIASTOLIC}$60")) == {"bp0"}
