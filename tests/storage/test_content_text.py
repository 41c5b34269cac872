"""Each resource's JSON kept as its text on PostgreSQL too (migration 20, issue 27).

As JSONB, PostgreSQL wrote numbers out as `numeric` (`1e2` came back as 100, `-0.0` as 0.0),
reordered keys, and took CPU to parse each resource in and render it out. A database in use is
converted in place (its JSONB read back as text), and the partial index that counts the open
conflicts for /status.json is rebuilt to read the status through a cast.
"""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from lifeline.search.extract import extract_index
from lifeline.storage import open_repository
from lifeline.storage.records import PendingVersion
from lifeline.storage.repository import Repository
from tests.conftest import database_url, dispose
from tests.storage.writes import INSTANT, as_of_migration, put

EXACT = (
    '{"resourceType":"Basic","id":"b1","code":{"text":"x"},'
    '"extension":[{"url":"urn:x","valueDecimal":1e2},{"url":"urn:y","valueDecimal":-0.0}]}'
)


def _conflict(res_id: str, status: str) -> dict[str, object]:
    return {"resourceType": "_Conflict", "id": res_id, "status": status}


def _column_types(repo: Repository) -> set[str]:
    with repo.reading() as session:
        rows = session.conn.execute(
            "SELECT data_type FROM information_schema.columns WHERE table_schema = current_schema()"
            " AND column_name = 'content' AND table_name IN ('resource', 'resource_version')"
        ).fetchall()
    return {row[0] for row in rows}


def _count_plan(repo: Repository) -> str:
    with repo.reading() as session:
        session.conn.execute("SET enable_seqscan = off")
        rows = session.conn.execute(
            "EXPLAIN SELECT COUNT(*) FROM resource WHERE res_type = '_Conflict' AND content::jsonb->>'status' = 'open'"
        ).fetchall()
    return "\n".join(row[0] for row in rows)


def test_a_database_in_use_keeps_its_resources_and_counts_its_conflicts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = open_repository(database_url("postgresql", tmp_path))
    try:
        with as_of_migration(monkeypatch, repo, 19):
            repo.write(lambda session: put(session, orjson.loads(EXACT)))
            for n, status in enumerate(("open", "open", "resolved")):
                repo.write(lambda session, n=n, status=status: put(session, _conflict(f"c{n}", status)))
            assert _column_types(repo) == {"jsonb"}
        assert repo.migrate() == [20, 21, 22]  # 21 leaves packing off: the database holds resources
        assert _column_types(repo) == {"text"}
        stored = repo.read("Basic", "b1")
        assert stored is not None and orjson.loads(stored.content) == orjson.loads(EXACT)
        with repo.reading() as session:
            assert session.open_conflict_count() == 2
        assert "resource_open_conflict" in _count_plan(repo)
    finally:
        dispose(repo)


def test_the_text_written_is_the_text_read(tmp_path: Path) -> None:
    repo = open_repository(database_url("postgresql", tmp_path))
    try:
        repo.migrate()
        version = PendingVersion("Basic", "b1", 1, INSTANT, False, EXACT, "PUT")
        repo.write(lambda session: session.put(version, extract_index(orjson.loads(EXACT)), replaces=False))
        stored = repo.read("Basic", "b1")
        assert stored is not None and stored.content == EXACT  # 1e2 and -0.0 as written, keys in order
        repo.write(lambda session: put(session, _conflict("c1", "open")))
        with repo.reading() as session:
            assert session.open_conflict_count() == 1
    finally:
        dispose(repo)
