"""Issue 19, finding 6: a deleted record stays as closed as it was, on both backends.

A delete removes a resource's index rows, which the access rule reads, so the rule's condition
passed every deleted resource: type and system history showed any patient's deleted records to
any clinician. Now staff and patients see no deleted resource in type or system history (nor in
its total), instance history judges it by its last version, and a read of a deleted resource
says 404, not 410, to whoever could not have seen it."""

from __future__ import annotations

from typing import Any

import pytest

from lifeline.fhir.service import FhirService
from tests.conftest import assert_outcome, put_resource
from tests.web import hidden_world


@pytest.fixture(scope="module")
def world(client: Any, service: FhirService) -> dict[str, Any]:
    w = hidden_world.build(client, service)
    for name in ("stranger", "mine"):
        key = f"gone-{w[name]}"
        put_resource(client, hidden_world.observation(w, key, name, "gone"))
        put_resource(client, {**hidden_world.observation(w, key, name, "gone"), "status": "amended"})
        assert client.delete(f"/fhir/Observation/{key}").status_code in (200, 204)
    return w


def _history(client: Any, url: str, headers: dict[str, str]) -> tuple[list[str], int]:
    bundle = client.get(url, headers=headers).json()
    assert "next" not in {lnk["relation"] for lnk in bundle["link"]}, "the test expects one page"
    return [e["fullUrl"].split("/fhir/", 1)[1] for e in bundle["entry"]], bundle["total"]


@pytest.mark.parametrize("level", ["Observation/_history", "_history"])
def test_type_and_system_history_leave_deleted_records_out(client: Any, world: dict[str, Any], level: str) -> None:
    url = f"/fhir/{level}?_since={world['since']}&_count=1000"
    doc = world["staff"]("docA")
    seen, total = _history(client, url, doc)
    assert f"Observation/obs-{world['mine']}" in seen  # the history is there
    assert not any("gone-" in entry for entry in seen), seen
    assert total == len(seen)
    for name in ("stranger", "mine"):
        mine, mine_total = _history(client, url, world["patient"](name))
        assert not any("gone-" in entry for entry in mine) and mine_total == len(mine)
    everything, _ = _history(client, url, {})  # the system principal sees every version
    assert everything.count(f"Observation/gone-{world['stranger']}") == 3


def test_instance_history_judges_a_deleted_record_by_its_last_version(client: Any, world: dict[str, Any]) -> None:
    doc = world["staff"]("docA")
    seen = client.get(f"/fhir/Observation/gone-{world['mine']}/_history", headers=doc).json()
    assert seen["total"] == 3 and len(seen["entry"]) == 3
    hidden = client.get(f"/fhir/Observation/gone-{world['stranger']}/_history", headers=doc)
    assert_outcome(hidden, 403, "suppressed")  # data exists: staff may break the glass
    assert_outcome(client.get(f"/fhir/Observation/gone-{world['stranger']}/_history/1", headers=doc), 403)
    patient = world["patient"]("mine")
    assert_outcome(client.get(f"/fhir/Observation/gone-{world['stranger']}/_history", headers=patient), 404)


def test_a_deletion_is_news_only_to_who_could_have_seen_it(client: Any, world: dict[str, Any]) -> None:
    doc, stranger, mine = world["staff"]("docA"), world["stranger"], world["mine"]
    for headers in (doc, world["patient"]("mine")):
        assert_outcome(client.get(f"/fhir/Observation/gone-{stranger}", headers=headers), 404, "not-found")
        assert_outcome(client.get(f"/fhir/Observation/gone-{stranger}/_history/3", headers=headers), 404)
        absent = client.get(f"/fhir/Observation/never-{stranger}", headers=headers)
        assert absent.status_code == 404
    # Those who could have seen it are told it is gone.
    assert_outcome(client.get(f"/fhir/Observation/gone-{mine}", headers=doc), 410)
    assert_outcome(client.get(f"/fhir/Observation/gone-{mine}/_history/3", headers=doc), 410)
    assert_outcome(client.get(f"/fhir/Observation/gone-{stranger}", headers=world["staff"]("docB")), 410)
    assert_outcome(client.get(f"/fhir/Observation/gone-{stranger}", headers=world["patient"]("stranger")), 410)
    assert_outcome(client.get(f"/fhir/Observation/gone-{stranger}"), 410)


def test_a_deleted_patient_is_news_only_to_who_could_have_seen_it(client: Any, world: dict[str, Any]) -> None:
    """A deleted Patient is judged by its own id (its links are no reason to see it)."""
    gone = f"gone-patient-{world['stranger']}"
    put_resource(client, {"resourceType": "Patient", "id": gone, "name": [{"family": "Gone"}]})
    assert client.delete(f"/fhir/Patient/{gone}").status_code in (200, 204)
    doc = world["staff"]("docA")
    for url in (f"/fhir/Patient/{gone}", f"/fhir/Patient/{gone}/_history/2", f"/fhir/Patient/{gone}/$everything"):
        assert_outcome(client.get(url, headers=doc), 404)
        assert_outcome(client.get(url, headers=world["patient"]("mine")), 404)
    assert_outcome(client.get(f"/fhir/Patient/{gone}"), 410)
