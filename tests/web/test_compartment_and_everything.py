"""Compartment search (Patient/{id}/Observation) and Patient/{id}/$everything on both backends."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.conftest import assert_outcome, bundle_link, put_resource


def entries_of(bundle: dict[str, Any], mode: str = "match") -> list[str]:
    return [
        f"{e['resource']['resourceType']}/{e['resource']['id']}"
        for e in bundle.get("entry", [])
        if e["search"]["mode"] == mode
    ]


@pytest.fixture(scope="module")
def chart(client: Any) -> dict[str, Any]:
    """Two patients; the first with observations (one performed by a practitioner), a condition,
    an encounter, and a RelatedPerson; the second with one observation."""
    tag = uuid.uuid4().hex[:8]
    pat, other, doc = f"pat-{tag}", f"other-{tag}", f"doc-{tag}"
    put_resource(client, {"resourceType": "Patient", "id": pat, "name": [{"family": "Jørgensen"}]})
    put_resource(client, {"resourceType": "Patient", "id": other, "name": [{"family": "Møller"}]})
    put_resource(client, {"resourceType": "Practitioner", "id": doc, "name": [{"family": "Læge"}]})
    code = {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]}
    for n, (subject, performer) in enumerate([(pat, doc), (pat, None), (other, None)]):
        obs: dict[str, Any] = {
            "resourceType": "Observation",
            "id": f"obs{n}-{tag}",
            "status": "final",
            "code": code,
            "subject": {"reference": f"Patient/{subject}"},
        }
        if performer:
            obs["performer"] = [{"reference": f"Practitioner/{performer}"}]
        put_resource(client, obs)
    put_resource(
        client,
        {
            "resourceType": "Condition",
            "id": f"cond-{tag}",
            "subject": {"reference": f"Patient/{pat}"},
            "code": {"text": "Astma"},
        },
    )
    put_resource(
        client,
        {
            "resourceType": "Encounter",
            "id": f"enc-{tag}",
            "status": "finished",
            "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
            "subject": {"reference": f"Patient/{pat}"},
        },
    )
    put_resource(
        client, {"resourceType": "RelatedPerson", "id": f"mor-{tag}", "patient": {"reference": f"Patient/{pat}"}}
    )
    return {"tag": tag, "pat": pat, "other": other, "doc": doc}


def test_compartment_search_returns_only_that_patients_resources(client: Any, chart: dict[str, Any]) -> None:
    tag = chart["tag"]
    bundle = client.get(f"/fhir/Patient/{chart['pat']}/Observation").json()
    assert sorted(entries_of(bundle)) == [f"Observation/obs0-{tag}", f"Observation/obs1-{tag}"]
    assert bundle["total"] == 2
    assert bundle_link(bundle, "self").startswith(f"/fhir/Patient/{chart['pat']}/Observation")  # type: ignore[union-attr]
    filtered = client.get(
        f"/fhir/Patient/{chart['pat']}/Observation", params={"performer": f"Practitioner/{chart['doc']}"}
    )
    assert entries_of(filtered.json()) == [f"Observation/obs0-{tag}"]
    own = client.get(f"/fhir/Patient/{chart['pat']}/Patient").json()
    assert entries_of(own) == [f"Patient/{chart['pat']}"]
    posted = client.post(
        f"/fhir/Patient/{chart['other']}/Observation/_search",
        content=b"code=8867-4",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert entries_of(posted.json()) == [f"Observation/obs2-{tag}"]


def test_compartment_search_errors(client: Any, chart: dict[str, Any]) -> None:
    assert_outcome(client.get(f"/fhir/Patient/{chart['pat']}/Practitioner"), 400, text="compartment")
    assert_outcome(client.get(f"/fhir/Encounter/enc-{chart['tag']}/Observation"), 400, text="Patient compartment")
    assert_outcome(client.get(f"/fhir/Patient/{chart['pat']}/Nonsense"), 404)


def test_everything_returns_the_compartment_and_what_it_references(client: Any, chart: dict[str, Any]) -> None:
    tag = chart["tag"]
    bundle = client.get(f"/fhir/Patient/{chart['pat']}/$everything").json()
    assert sorted(entries_of(bundle)) == sorted(
        [
            f"Patient/{chart['pat']}",
            f"Observation/obs0-{tag}",
            f"Observation/obs1-{tag}",
            f"Condition/cond-{tag}",
            f"Encounter/enc-{tag}",
            f"RelatedPerson/mor-{tag}",
        ]
    )
    assert entries_of(bundle, "include") == [f"Practitioner/{chart['doc']}"]
    assert bundle["total"] == 6


def test_everything_pages_and_filters(client: Any, chart: dict[str, Any]) -> None:
    page = client.get(f"/fhir/Patient/{chart['pat']}/$everything", params={"_count": "2"}).json()
    walked = entries_of(page)
    while nxt := bundle_link(page, "next"):
        page = client.get(nxt).json()
        walked += entries_of(page)
    assert len(walked) == len(set(walked)) == 6
    typed = client.get(f"/fhir/Patient/{chart['pat']}/$everything", params={"_type": "Observation,Condition"}).json()
    assert sorted(t.split("/")[0] for t in entries_of(typed)) == ["Condition", "Observation", "Observation"]
    later = client.get(f"/fhir/Patient/{chart['pat']}/$everything", params={"_since": "2999-01-01T00:00:00Z"})
    assert entries_of(later.json()) == []


def test_everything_errors(client: Any, chart: dict[str, Any]) -> None:
    assert_outcome(client.get("/fhir/Patient/no-such-patient/$everything"), 404)
    assert_outcome(client.get(f"/fhir/Patient/{chart['pat']}/$everything", params={"_type": "Nonsense"}), 400)
    assert_outcome(client.get(f"/fhir/Patient/{chart['pat']}/$everything", params={"_since": "yesterday"}), 400)
    assert_outcome(client.get(f"/fhir/Observation/obs0-{chart['tag']}/$everything"), 405)
    strict = client.get(
        f"/fhir/Patient/{chart['pat']}/$everything", params={"start": "2020"}, headers={"Prefer": "handling=strict"}
    )
    assert_outcome(strict, 400, text="start")
