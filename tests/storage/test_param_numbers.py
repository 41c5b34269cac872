"""Index rows name their parameter by number (storage/param_numbers.py, migration 22, issue 27).

Every parameter of the registry has a number that never changes, a database in use is given
its rows' numbers by migration 22 and answers every search as before, and a serving process's
start leaves that migration to `lifeline db upgrade`, which the operator runs with the
processes stopped."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from lifeline.cli.main import app
from lifeline.config import SettingError
from lifeline.search.extract import extract_index
from lifeline.search.query import compile_match, parse_query
from lifeline.search.registry import default_registry
from lifeline.storage import open_repository, param_numbers
from lifeline.storage.migrations import INDEX_TABLES, MIGRATIONS
from lifeline.storage.ordering import Page
from lifeline.storage.repository import Repository
from lifeline.storage.write_session import index_rows
from tests.conftest import database_url, dispose
from tests.storage.writes import NUMBERED, as_of_migration, put

REGISTRY = default_registry()
LOINC = "http://loinc.org"
# The numbers given by the first release that had them, which stored rows hold for good:
# tools/number_search_parameters.py may only add after them.
FIRST_RELEASE = 2583
FIRST_RELEASE_SHA256 = "813027a6da73cdfeab5456b15a8fcabaf2a50889367ef5a793a73c64525d8b19"


def test_every_parameter_of_the_registry_has_a_number_that_fits_a_smallint() -> None:
    numbered = param_numbers.numbered()
    assert len(set(numbered)) == len(numbered)
    assert len(numbered) < 2**15
    for resource_type in REGISTRY.resource_types:
        for code in REGISTRY.params_for(resource_type):
            assert param_numbers.parameter(param_numbers.number(resource_type, code)) == (resource_type, code)


def test_the_numbers_given_are_never_changed() -> None:
    given = json.dumps(param_numbers.numbered()[:FIRST_RELEASE]).encode()
    assert hashlib.sha256(given).hexdigest() == FIRST_RELEASE_SHA256


def test_a_parameter_the_release_does_not_know_has_no_number() -> None:
    with pytest.raises(KeyError):
        param_numbers.number("Observation", "no-such-parameter")
    assert param_numbers.numbers_of_code("no-such-parameter") == ()
    assert len(param_numbers.numbers_of_code("_tag")) == len(REGISTRY.resource_types)


def _resources() -> list[dict[str, Any]]:
    observation = {
        "resourceType": "Observation",
        "id": "o1",
        "status": "final",
        "code": {"coding": [{"system": LOINC, "code": "2345-7"}], "text": "Glukose"},
        "subject": {"reference": "Patient/p1"},
        "effectiveDateTime": "2026-11-20T08:00:00Z",
        "valueQuantity": {"value": 5.40, "unit": "mmol/L", "system": "http://unitsofmeasure.org", "code": "mmol/L"},
        "component": [{"code": {"coding": [{"system": LOINC, "code": "8480-6"}]}, "valueQuantity": {"value": 120}}],
    }
    patient = {
        "resourceType": "Patient",
        "id": "p1",
        "identifier": [{"system": "urn:oid:1.2.208.176.1.2", "value": "0101701234"}],
        "name": [{"family": "Jørgensen", "given": ["Åse"]}],
        "birthDate": "1970-01-01",
        "meta": {"tag": [{"system": "http://example.org/tags", "code": "demo"}]},
    }
    return [observation, patient]


def _rows(repo: Repository) -> dict[str, set[tuple[Any, ...]]]:
    with repo.reading() as session:
        return {table: {tuple(r) for r in session._all(f"SELECT * FROM {table}", ())} for table in INDEX_TABLES}


def _found(repo: Repository, resource_type: str, *params: tuple[str, str]) -> tuple[list[str], int | None]:
    clauses, unknown = parse_query(resource_type, list(params), REGISTRY)
    assert not unknown
    match = compile_match(resource_type, clauses, REGISTRY)
    with repo.reading() as session:
        rows, total = session.search_page(resource_type, match, [], Page(limit=10), with_total=True)
    return [stored.res_id for stored, _ in rows], total


SEARCHES = [
    ("Observation", ("code", f"{LOINC}|2345-7")),
    ("Observation", ("combo-code", "8480-6")),  # answered from `code` and `component-code` rows
    ("Observation", ("value-quantity", "ge5.4")),
    ("Observation", ("code-value-quantity", "2345-7$5.4")),
    ("Observation", ("date", "2026-11-20")),
    ("Observation", ("subject.name", "jørg")),
    ("Observation", ("subject:Patient.identifier", "0101701234")),
    ("Patient", ("_has:Observation:subject:code", "2345-7")),
    ("Patient", ("name", "åse")),
    ("Patient", ("_tag", "demo")),
]


def test_a_database_in_use_gets_its_rows_numbered_and_answers_as_before(
    backend: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = open_repository(database_url(backend, tmp_path))
    try:
        with as_of_migration(monkeypatch, repo, NUMBERED - 1):
            for resource in _resources():
                repo.write(lambda session, resource=resource: put(session, resource))
            with repo.reading() as session:
                assert session._all("SELECT COUNT(*) FROM search_token WHERE param = 'code'", ())[0][0] > 0
            # A first load cut off half-way left an index to build again, defined on the old columns.
            with repo._schema_transaction() as conn:
                conn.execute("DROP INDEX search_token_lookup")
                conn.execute(
                    "INSERT INTO deferred_index (name, definition) VALUES ('search_token_lookup',"
                    " 'CREATE INDEX search_token_lookup ON search_token (res_type, param, code, system)')"
                )
        assert repo.migrate() == [NUMBERED]
        # Every row is what this code writes for the same resources, and nothing is left to build.
        expected: dict[str, set[tuple[Any, ...]]] = {table: set() for table in INDEX_TABLES}
        for resource in _resources():
            for table, rows in index_rows((resource["resourceType"], resource["id"]), extract_index(resource)):
                expected[table].update(rows)
        assert _rows(repo) == expected
        assert repo.restore_indexes() == 0
        for resource_type, param in SEARCHES:
            ids, total = _found(repo, resource_type, param)
            assert (ids, total) == (["o1" if resource_type == "Observation" else "p1"], 1), param
        with repo.reading() as session:
            listed = session._all(
                "SELECT res_type, code FROM search_param WHERE pid = ?", (param_numbers.number("Observation", "code"),)
            )
        assert [tuple(r) for r in listed] == [("Observation", "code")]
    finally:
        dispose(repo)


def test_a_serving_process_leaves_the_rebuild_to_the_operator(
    backend: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = database_url(backend, tmp_path)
    repo = open_repository(url)
    try:
        with as_of_migration(monkeypatch, repo, NUMBERED - 1):
            repo.write(lambda session: put(session, _resources()[1]))
        with pytest.raises(SettingError, match="stop every process of this database, then run `lifeline db upgrade`"):
            repo.migrate(rewrites=False)
        assert repo.pending_migrations() == [NUMBERED]  # nothing applied, nothing half-done
        # A command that serves or loads says so in one line, and changes nothing.
        result = CliRunner().invoke(app, ["demo-data", "--db", url])
        assert result.exit_code == 1
        assert result.stderr.strip().splitlines() == [
            f"lifeline: error: migration {NUMBERED} (index rows keyed by parameter number) builds the record tables"
            " again in a shape older versions cannot write: stop every process of this database, then run"
            " `lifeline db upgrade`"
        ]
        assert repo.pending_migrations() == [NUMBERED]
        result = CliRunner().invoke(app, ["db", "upgrade", "--db", url])
        assert result.exit_code == 0, result.output
        assert repo.pending_migrations() == []
        assert _found(repo, "Patient", ("name", "åse")) == (["p1"], 1)
    finally:
        dispose(repo)


def test_an_empty_database_takes_the_rebuild_at_a_process_start(
    backend: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = open_repository(database_url(backend, tmp_path))
    try:
        with as_of_migration(monkeypatch, repo, NUMBERED - 1):
            pass
        assert repo.migrate(rewrites=False) == [m.version for m in MIGRATIONS[NUMBERED - 1 :]]
    finally:
        dispose(repo)
