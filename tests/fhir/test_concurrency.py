"""Writers racing each other through the core, on both backends."""

from __future__ import annotations

import threading
import uuid

import pytest

from lifeline.config import Settings
from lifeline.errors import PreconditionFailed
from lifeline.fhir.request import FhirRequest
from lifeline.fhir.service import FhirService
from lifeline.identity.principal import OPERATOR
from lifeline.storage.matching import Match
from tests.conftest import BACKENDS, dispose, fresh_repository, new_patient


@pytest.fixture(params=BACKENDS)
def service(request, tmp_path):
    repo = fresh_repository(request.param, tmp_path)
    yield FhirService(repo, Settings())
    dispose(repo)


def _race(count: int, action) -> list[object]:
    results: list[object] = []
    start = threading.Barrier(count)

    def run() -> None:
        start.wait(timeout=30)
        try:
            results.append(action())
        except Exception as error:  # noqa: BLE001 - the test inspects what each racer got
            results.append(error)

    threads = [threading.Thread(target=run) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


def test_concurrent_conditional_creates_make_one_resource(service):
    value = uuid.uuid4().hex
    criteria = f"identifier=urn:lifeline:test|{value}"

    def create():
        body = new_patient(identifier=[{"system": "urn:lifeline:test", "value": value}])
        return service.handle(
            FhirRequest("create", "Patient", body=body, if_none_exist=criteria, principal=OPERATOR)
        ).status

    statuses = _race(8, create)
    assert sorted(statuses) == [200] * 7 + [201]
    with service.repo.reading() as session:
        assert session.count("Patient", Match()) == 1


def test_concurrent_updates_with_if_match_let_exactly_one_win(service):
    created = service.handle(FhirRequest("create", "Patient", body=new_patient(), principal=OPERATOR)).resource
    assert created is not None

    def update():
        body = {**created, "gender": "other"}
        request = FhirRequest("update", "Patient", id=created["id"], body=body, if_match='W/"1"', principal=OPERATOR)
        return service.handle(request).status

    results = _race(6, update)
    assert results.count(200) == 1
    assert all(isinstance(r, PreconditionFailed) for r in results if r != 200)
    assert service.repo.read("Patient", created["id"]).version_id == 2


def test_concurrent_updates_without_if_match_keep_every_version(service):
    created = service.handle(FhirRequest("create", "Patient", body=new_patient(), principal=OPERATOR)).resource
    assert created is not None

    def update():
        request = FhirRequest(
            "update", "Patient", id=created["id"], body={**created, "gender": "male"}, principal=OPERATOR
        )
        return service.handle(request).status

    assert _race(6, update) == [200] * 6
    with service.repo.reading() as session:
        versions = session.history("Patient", created["id"], since=None, at=None, before=None, limit=20)
    assert sorted(v.version_id for v in versions) == list(range(1, 8))


def test_concurrent_update_as_create_of_one_new_id(service):
    pid = f"race-{uuid.uuid4().hex[:8]}"

    def put():
        return service.handle(
            FhirRequest("update", "Patient", id=pid, body=new_patient(id=pid), principal=OPERATOR)
        ).status

    statuses = _race(6, put)
    assert sorted(statuses) == [200] * 5 + [201]
    assert service.repo.read("Patient", pid).version_id == 6
