"""A first load drops the secondary indexes and builds the same ones again, even after a crash."""

from __future__ import annotations

import orjson
import pytest

from lifeline.bulk.importer import first_load, import_items
from lifeline.bulk.sources import SourceItem
from lifeline.fhir.request import FhirRequest
from lifeline.fhir.service import FhirService
from lifeline.identity.principal import OPERATOR
from lifeline.storage import deferred_indexes
from tests.conftest import BACKENDS, dispose, fresh_repository


def _indexes(repo):
    with repo._schema_transaction() as conn:
        return deferred_indexes.secondary_indexes(conn, repo.dialect)


def _pending(repo):
    with repo._schema_transaction() as conn:
        return deferred_indexes.pending(conn, repo.dialect)


def _patients(n: int) -> list[SourceItem]:
    return [
        SourceItem(
            f"line {i}",
            {"resourceType": "Patient", "id": f"p{i}", "name": [{"family": "Sørensen" if i % 2 else "Hansen"}]},
        )
        for i in range(n)
    ]


def _ids(service: FhirService, family: str) -> list[str]:
    response = service.handle(FhirRequest("search", "Patient", params=[("family", family)], principal=OPERATOR))
    bundle = orjson.loads(orjson.dumps(response.resource))  # entries hold the stored JSON as it is
    return sorted(entry["resource"]["id"] for entry in bundle.get("entry", []))


@pytest.fixture(params=BACKENDS)
def repo(request, tmp_path):
    repo = fresh_repository(request.param, tmp_path)
    yield repo
    dispose(repo)


def test_secondary_indexes_are_the_lookup_owner_and_history_indexes_never_a_constraint(repo):
    names = {name for name, _ in _indexes(repo)}
    assert {"search_token_lookup", "search_token_owner", "resource_version_type_updated"} <= names
    assert not any(name.endswith("_pkey") or name.startswith("sqlite_autoindex") for name in names)


def test_a_first_load_builds_the_same_indexes_again_and_finds_what_it_loaded(repo):
    before = _indexes(repo)
    service = FhirService(repo)
    seen: list[str] = []
    with first_load(repo, repo.first_load_bytes, seen.append) as dropped:
        assert dropped == len(before)
        assert _indexes(repo) == []
        assert [name for name, _ in _pending(repo)] == [name for name, _ in before]
        import_items(service, _patients(40), workers=1)
    assert _indexes(repo) == before
    assert _pending(repo) == []
    assert seen == [name for name, _ in before]
    assert len(_ids(service, "Sørensen")) == 20


def test_a_load_that_fails_half_way_keeps_its_rows_and_gets_its_indexes_back(repo):
    before = _indexes(repo)
    service = FhirService(repo)
    broken = [*_patients(10), SourceItem("line 10", {"resourceType": "Patient", "gender": "neither"})]
    with pytest.raises(Exception, match="line 10"), first_load(repo, repo.first_load_bytes):
        import_items(service, broken, batch_size=5, workers=1)
    assert _indexes(repo) == before
    assert _ids(service, "hansen") == ["p0", "p2", "p4", "p6", "p8"]


def test_a_load_killed_half_way_leaves_a_note_that_the_next_upgrade_acts_on(repo):
    before = _indexes(repo)
    with repo._schema_transaction() as conn:  # what indexes_deferred does before the load
        deferred_indexes.defer(conn, repo.dialect)
    assert _indexes(repo) == []
    assert repo.migrate() == []
    assert _indexes(repo) == before
    assert _pending(repo) == []


def test_small_imports_and_imports_into_a_populated_store_keep_their_indexes(repo):
    before = _indexes(repo)
    with first_load(repo, repo.first_load_bytes - 1) as dropped:
        assert dropped == 0
        assert _indexes(repo) == before
    import_items(FhirService(repo), _patients(1), workers=1)
    with first_load(repo, repo.first_load_bytes * 10) as dropped:
        assert dropped == 0
        assert _indexes(repo) == before
