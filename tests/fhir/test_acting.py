"""The core's one audited entry (fhir/acting.py): every call as one person, on the trail before
its answer is released, and no answer when its record cannot be made durable."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from lifeline.audit.store import events_after
from lifeline.config import Settings
from lifeline.errors import NotFound, StorageUnavailable
from lifeline.fhir.acting import ANSWERS, UNRECORDED, Exchanged
from lifeline.fhir.request import FhirRequest
from lifeline.fhir.service import FhirService
from lifeline.identity.keys import new_kek
from lifeline.identity.principal import SYSTEM, Principal
from lifeline.identity.scopes import ScopeSet
from tests.conftest import own_node

READER = Principal(kind=SYSTEM, subject="ward-app", client_id="ward-app", scopes=ScopeSet.parse("system/*.cruds"))


@pytest.fixture
def service(backend: str, tmp_path: Path) -> Iterator[FhirService]:
    with own_node(backend, tmp_path, Settings(issuer="http://testserver", kek=new_kek()), ticking=False) as core:
        yield core


def _events(service: FhirService) -> list[dict[str, Any]]:
    rows = events_after(service.repo, service.settings.node_id, 0, limit=100_000)
    return [orjson.loads(row.content) for row in rows]


def _patient(service: FhirService) -> str:
    pid = f"act-{uuid.uuid4().hex[:10]}"
    body = {"resourceType": "Patient", "id": pid, "name": [{"family": "Kjærgaard"}]}
    service.as_user(READER).handle(FhirRequest("update", "Patient", pid, body=body))
    return pid


def _drained(service: FhirService) -> None:
    """The writes' records moved from the outbox into the chain (the recorder does it as it stops)."""
    service.auditor.drain_soon()
    service.auditor.close()
    del service.__dict__["auditor"]


def _refuse_records(service: FhirService) -> None:
    """The trail refuses every record from now on (its table is gone)."""
    with service.repo._schema_transaction() as conn:  # noqa: SLF001 - breaking the store on purpose
        conn.execute("DROP TABLE audit_event")


def test_a_read_is_recorded_as_the_person_with_its_patient_and_purpose(service: FhirService) -> None:
    pid = _patient(service)
    response = service.as_user(READER, "10.1.2.3", "TREAT").handle(FhirRequest("read", "Patient", pid))
    assert response.status == 200
    reads = [e for e in _events(service) if e["subtype"][0]["code"] == "read"]
    assert len(reads) == 1
    event = reads[0]
    assert event["agent"][0]["altId"] == "ward-app"
    assert event["agent"][0]["network"]["address"] == "10.1.2.3"
    assert event["purposeOfEvent"][0]["coding"][0]["code"] == "TREAT"
    assert {"reference": f"Patient/{pid}"} in [entity["what"] for entity in event["entity"]]


def test_the_principal_on_the_request_is_the_handles_whatever_the_caller_put_there(service: FhirService) -> None:
    pid = _patient(service)
    stranger = Principal(kind=SYSTEM, subject="other", client_id="other", scopes=ScopeSet.parse("system/*.cruds"))
    service.as_user(READER).handle(FhirRequest("read", "Patient", pid, principal=stranger))
    assert [e["agent"][0]["altId"] for e in _events(service) if e["subtype"][0]["code"] == "read"] == ["ward-app"]


def test_a_failure_is_recorded_then_raised(service: FhirService) -> None:
    missing = f"act-{uuid.uuid4().hex[:10]}"
    with pytest.raises(NotFound):
        service.as_user(READER).handle(FhirRequest("read", "Patient", missing))
    failed = [e for e in _events(service) if e["outcome"] == "4"]
    assert [entity["what"]["reference"] for entity in failed[0]["entity"]] == [f"Patient/{missing}"]


def test_an_answer_whose_record_cannot_be_made_durable_is_not_released(service: FhirService) -> None:
    pid = _patient(service)
    refusals = UNRECORDED._value.get()  # noqa: SLF001 - prometheus_client's own counter value
    _refuse_records(service)
    with pytest.raises(StorageUnavailable, match="audit trail"):
        service.as_user(READER).handle(FhirRequest("read", "Patient", pid))
    # The event-loop form is the API's: tests/audit/test_access.py sends it through the app.
    assert UNRECORDED._value.get() == refusals + 1  # noqa: SLF001


def test_a_write_carries_its_record_in_its_own_transaction(service: FhirService) -> None:
    pid = f"act-{uuid.uuid4().hex[:10]}"
    body = {"resourceType": "Patient", "id": pid}
    response = service.as_user(READER).handle(FhirRequest("update", "Patient", pid, body=body))
    assert response.recorded  # durable with the write: nothing left for the entry to wait for
    _drained(service)
    assert [e["subtype"][0]["code"] for e in _events(service)] == ["update"]


def test_an_exchange_names_what_it_sent_and_a_quiet_one_records_nothing(service: FhirService) -> None:
    acting = service.as_user(READER, None, "HOPERAT")
    sent = acting.exchange(
        "replication-feed", lambda: Exchanged(b"{}", resources=["Observation/o1/_history/2"], query="after=0&last=7")
    )
    assert sent == b"{}"
    assert acting.exchange("replication-feed", lambda: Exchanged(b"[]", quiet=True)) == b"[]"
    feeds = [e for e in _events(service) if e["subtype"][0]["code"] == "replication-feed"]
    assert len(feeds) == 1
    assert feeds[0]["entity"][0]["what"]["reference"] == "Observation/o1/_history/2"
    assert feeds[0]["purposeOfEvent"][0]["coding"][0]["code"] == "HOPERAT"


def test_an_exchange_that_fails_is_recorded_and_one_that_cannot_be_recorded_sends_nothing(
    service: FhirService,
) -> None:
    acting = service.as_user(READER)

    def fails() -> Exchanged:
        raise NotFound("no such page")

    with pytest.raises(NotFound):
        acting.exchange("replication-compartment", fails)
    assert [e["outcome"] for e in _events(service) if e["subtype"][0]["code"] == "replication-compartment"] == ["4"]
    _refuse_records(service)
    with pytest.raises(StorageUnavailable):
        acting.exchange("replication-feed", lambda: Exchanged(b"data", resources=["Patient/p1"]))


def test_bulk_writes_carry_their_records_and_write_nothing_when_they_cannot(service: FhirService) -> None:
    from lifeline.bulk.importer import import_items
    from lifeline.bulk.sources import SourceItem

    pid = f"act-{uuid.uuid4().hex[:10]}"
    items = [
        SourceItem("test", {"resourceType": "Patient", "id": pid}),
        SourceItem("test", {"resourceType": "Observation", "id": f"{pid}-o", "status": "final",
                            "code": {"text": "pulse"}, "subject": {"reference": f"Patient/{pid}"}}),
    ]  # fmt: skip
    with service.as_user(READER, None, "HOPERAT").writing("import"):
        import_items(service, iter(items))
    _drained(service)
    imports = [e for e in _events(service) if e["subtype"][0]["code"] == "import"]
    named = {entity["what"]["reference"] for e in imports for entity in e["entity"]}
    assert f"Patient/{pid}" in named and f"Observation/{pid}-o/_history/1" in named

    with service.repo._schema_transaction() as conn:  # noqa: SLF001 - the outbox refuses every record
        conn.execute("DROP TABLE audit_outbox")
    other = f"act-{uuid.uuid4().hex[:10]}"
    with pytest.raises(Exception), service.as_user(READER).writing("import"):  # noqa: B017, PT011
        import_items(service, iter([SourceItem("test", {"resourceType": "Patient", "id": other})]))
    assert service.repo.read("Patient", other) is None


def test_every_call_is_counted(service: FhirService) -> None:
    pid = _patient(service)
    before = ANSWERS.labels("read", "system", "ok")._value.get()  # noqa: SLF001
    service.as_user(READER).handle(FhirRequest("read", "Patient", pid))
    assert ANSWERS.labels("read", "system", "ok")._value.get() == before + 1  # noqa: SLF001
