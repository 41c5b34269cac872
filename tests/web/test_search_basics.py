"""The search the core needs now (issue 3 builds the rest): matching, paging, unknown parameters."""

from __future__ import annotations

import uuid

from tests.conftest import assert_outcome, new_patient

FHIR = {"Content-Type": "application/fhir+json"}


def _family(client, count: int) -> str:
    family = f"Søgaard{uuid.uuid4().hex[:8]}"
    for _ in range(count):
        client.post("/fhir/Patient", json=new_patient(name=[{"family": family}]), headers=FHIR)
    return family


def test_paging_walks_every_match_once(client):
    family = _family(client, 5)
    page = client.get("/fhir/Patient", params={"family": family, "_count": "2"}).json()
    assert page["total"] == 5
    ids = [e["resource"]["id"] for e in page["entry"]]
    while nxt := next((lnk["url"] for lnk in page["link"] if lnk["relation"] == "next"), None):
        client.post("/fhir/Patient", json=new_patient(name=[{"family": f"Other{uuid.uuid4().hex}"}]), headers=FHIR)
        page = client.get(nxt.replace("http://testserver", "")).json()
        ids += [e["resource"]["id"] for e in page["entry"] if e["search"]["mode"] == "match"]
    assert len(ids) == len(set(ids)) == 5


def test_post_search_with_a_form_body(client):
    family = _family(client, 1)
    response = client.post(
        "/fhir/Patient/_search",
        content=f"family={family}".encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 200
    assert response.json()["total"] == 1


def test_unknown_and_unsupported_parameters_lenient_and_strict(client):
    family = _family(client, 1)
    lenient = client.get("/fhir/Patient", params={"family": family, "shoe-size": "42", "_contained": "true"}).json()
    assert lenient["total"] == 1
    outcome = [e for e in lenient["entry"] if e["search"]["mode"] == "outcome"][0]["resource"]
    text = " ".join(i["diagnostics"] for i in outcome["issue"])
    assert "shoe-size" in text and "_contained" in text
    strict = client.get(
        "/fhir/Patient", params={"family": family, "shoe-size": "42"}, headers={"Prefer": "handling=strict"}
    )
    assert_outcome(strict, 400, text="shoe-size")


def test_malformed_search_values_are_400(client):
    assert_outcome(client.get("/fhir/Patient", params={"birthdate": "yesterday"}), 400)
    assert_outcome(client.get("/fhir/Patient", params={"_count": "-1"}), 400)
    assert_outcome(client.get("/fhir/Patient", params={"_total": "sometimes"}), 400)
