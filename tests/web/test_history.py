"""history at instance, type and system level, with _since, _at, _count and paging."""

from __future__ import annotations

import uuid

from tests.conftest import assert_outcome, new_patient

FHIR = {"Content-Type": "application/fhir+json"}


def _versions(client, count: int) -> tuple[str, list[dict]]:
    created = client.post("/fhir/Patient", json=new_patient(), headers=FHIR).json()
    versions = [created]
    for i in range(count - 1):
        body = {**created, "birthDate": f"1980-05-{10 + i:02d}"}
        versions.append(client.put(f"/fhir/Patient/{created['id']}", json=body, headers=FHIR).json())
    return created["id"], versions


def test_instance_history_newest_first_with_paging(client):
    pid, versions = _versions(client, 5)
    first = client.get(f"/fhir/Patient/{pid}/_history?_count=2").json()
    assert first["type"] == "history"
    assert first["total"] == 5
    seen = [e["resource"]["meta"]["versionId"] for e in first["entry"]]
    page = first
    while next_link := next((lnk["url"] for lnk in page["link"] if lnk["relation"] == "next"), None):
        # Writes during the walk do not disturb it.
        client.put(f"/fhir/Patient/{pid}", json={**versions[0], "gender": "other"}, headers=FHIR)
        page = client.get(next_link.replace("http://testserver", "")).json()
        seen += [e["resource"]["meta"]["versionId"] for e in page["entry"]]
    assert seen == ["5", "4", "3", "2", "1"]


def test_history_since_and_at(client):
    pid, versions = _versions(client, 3)
    second = versions[1]["meta"]["lastUpdated"]
    since = client.get(f"/fhir/Patient/{pid}/_history", params={"_since": second}).json()
    assert [e["resource"]["meta"]["versionId"] for e in since["entry"]] == ["3", "2"]
    at = client.get(f"/fhir/Patient/{pid}/_history", params={"_at": second}).json()
    assert [e["resource"]["meta"]["versionId"] for e in at["entry"]] == ["2"]


def test_type_and_system_history(client):
    pid, _ = _versions(client, 2)
    marker = client.get(f"/fhir/Patient/{pid}").json()["meta"]["lastUpdated"]
    organization = client.post(
        "/fhir/Organization", json={"resourceType": "Organization", "name": "Herlev"}, headers=FHIR
    ).json()
    typed = client.get("/fhir/Patient/_history", params={"_since": marker}).json()
    assert {e["resource"]["resourceType"] for e in typed["entry"]} == {"Patient"}
    system = client.get("/fhir/_history", params={"_since": marker}).json()
    ids = {e["resource"]["id"] for e in system["entry"]}
    assert {pid, organization["id"]} <= ids


def test_history_bad_parameters(client):
    pid, _ = _versions(client, 1)
    assert_outcome(client.get(f"/fhir/Patient/{pid}/_history?_since=yesterday"), 400, text="_since")
    assert_outcome(client.get(f"/fhir/Patient/{pid}/_history?_count=-1"), 400, text="_count")
    assert_outcome(client.get(f"/fhir/Patient/{pid}/_history?_page=garbage!"), 400)
    assert_outcome(client.get(f"/fhir/Patient/{uuid.uuid4()}/_history"), 404)
