"""Issue 19: what a search lets slip past the scopes and the access rule, on both backends.

- `_type` keeps a system-level search and history to the types named (finding 1);
- the `suppressed` note is for staff searching Patients by the Patient's own parameters, and no
  answer (total, note, cursor) differs by a record the searcher may not see (finding 5);
- cursors are sealed and bound to their search and person; a protected patient's address and
  telecom neither match nor sort for those it is withheld from (finding 8).
"""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

from lifeline.errors import BadRequest
from lifeline.fhir import paging
from lifeline.fhir.service import FhirService
from tests.conftest import assert_outcome, put_resource
from tests.web import hidden_world
from tests.web.hidden_world import ids, link, notes


@pytest.fixture(scope="module")
def world(client: Any, service: FhirService) -> dict[str, Any]:
    return hidden_world.build(client, service)


def _walk(client: Any, url: str, headers: dict[str, str]) -> list[dict[str, Any]]:
    pages = [client.get(url, headers=headers).json()]
    while (nxt := link(pages[-1], "next")) is not None:
        response = client.get(nxt, headers=headers)
        assert response.status_code == 200, response.text
        pages.append(response.json())
    return pages


def _without_self(bundle: dict[str, Any]) -> dict[str, Any]:
    return {**bundle, "link": [lnk for lnk in bundle["link"] if lnk["relation"] != "self"]}


# Finding 1: `_type`


def test_a_system_search_keeps_to_the_types_named(client: Any, world: dict[str, Any]) -> None:
    app = world["app"]("system/Slot.rs")
    pages = _walk(client, "/fhir/?_type=Slot&_count=2", app)
    found = [i for page in pages for i in ids(page)]
    assert found and {i.split("/")[0] for i in found} == {"Slot"}
    assert f"Slot/slot-{world['tag']}" in found
    assert pages[0]["total"] == len(found)
    assert not notes(pages[0])  # `_type` is understood, not ignored with a warning
    staff_app = world["staff"]("docA", "user/Observation.rs")
    observations = _walk(client, f"/fhir/?_type=Observation&_count=1&_lastUpdated=ge{world['since']}", staff_app)
    assert {i.split("/")[0] for page in observations for i in ids(page)} == {"Observation"}
    assert_outcome(client.get("/fhir/?_type=Condition", headers=staff_app), 403)


def test_a_system_history_keeps_to_the_types_named(client: Any, service: FhirService, world: dict[str, Any]) -> None:
    app = world["app"]("system/Slot.rs")
    pages = _walk(client, "/fhir/_history?_type=Slot&_count=1", app)
    urls = [e["fullUrl"] for page in pages for e in page["entry"]]
    assert urls and all("/Slot/" in url for url in urls)
    assert pages[0]["total"] == len(urls)
    # A crafted cursor can neither widen the walk nor break the server (`bigint < boolean` was a 500).
    for forged in ({"before": 10**12}, {"before": True}, {"before": "9"}):
        page = ("_page", paging.encode_cursor(forged))
        for url, params, headers in (
            ("/fhir/_history", [("_type", "Slot"), page], app),
            ("/fhir/_history", [page], {}),
            ("/fhir/Slot/_history", [page], {}),
        ):
            assert_outcome(client.get(url, params=params, headers=headers), 400, text="cursor")
    # Even sealed with the node's own key, a position of the wrong type is refused.
    seal = paging.CursorSeal(service.identity.kek, f"system:app-{world['tag']}")
    for position in (True, "9", 1.5, None):
        token = seal.seal("_history", [("_type", "Slot")], {"before": position})
        response = client.get("/fhir/_history", params={"_type": "Slot", "_page": token}, headers=app)
        assert_outcome(response, 400, text="cursor")
    token = seal.seal("_history", [("_type", "Slot")], {"before": 10**12})
    assert client.get("/fhir/_history", params={"_type": "Slot", "_page": token}, headers=app).status_code == 200


def test_a_cursor_cannot_widen_the_types(client: Any, world: dict[str, Any]) -> None:
    slot = client.get(f"/fhir/Slot/slot-{world['tag']}").json()
    put_resource(client, {**slot, "id": f"slot2-{world['tag']}"})
    nxt = link(client.get("/fhir/?_type=Slot&_count=1").json(), "next")
    assert nxt is not None
    assert_outcome(client.get(nxt.replace("_type=Slot", "_type=Slot%2CPatient")), 400, text="cursor")
    assert_outcome(client.get(nxt.replace("_type=Slot&", "")), 400, text="cursor")


def test_type_must_be_known_and_is_for_system_level_only(client: Any) -> None:
    for url in ("/fhir/?_type=Nonsense", "/fhir/?_type=Slot,_User", "/fhir/_history?_type=Nonsense"):
        assert_outcome(client.get(url), 400, text="_type")
    for url in ("/fhir/Observation?_type=Patient", "/fhir/Observation/_history?_type=Patient"):
        assert_outcome(client.get(url), 400, text="system-level")


# Finding 5: the note and everything else says nothing of what the rule withholds


def test_a_diagnosis_search_says_nothing_of_a_hidden_patient(client: Any, world: dict[str, Any]) -> None:
    doc = world["staff"]("docA")
    system = f"{world['code']}:icd10"
    answers = []
    for code in ("I48.9", "I10", "Z99"):  # the stranger has I48.9; nobody in care of A has it
        bundle = client.get(f"/fhir/Condition?subject=Patient/{world['stranger']}&code={system}|{code}", headers=doc)
        assert bundle.status_code == 200
        answers.append(_without_self(bundle.json()))
    assert answers[0] == answers[1] == answers[2]
    assert answers[0]["total"] == 0 and not notes(answers[0])
    for reverse in (f"{system}|I48.9", f"{system}|Z99"):
        bundle = client.get(f"/fhir/Patient?_has:Condition:subject:code={reverse}", headers=doc).json()
        assert bundle["total"] == 0 and not notes(bundle), bundle
    chained = client.get(f"/fhir/Condition?subject.family={world['family']}&code={system}|I48.9", headers=doc).json()
    assert chained["total"] == 0 and not notes(chained)
    compartment = client.get(f"/fhir/Patient/{world['stranger']}/Condition", headers=doc).json()
    nobody = client.get(f"/fhir/Patient/nobody-{world['tag']}/Condition", headers=doc).json()
    assert compartment["total"] == nobody["total"] == 0 and not notes(compartment) and not notes(nobody)
    system_level = client.get(f"/fhir/?_id=af-{world['stranger']}", headers=doc).json()
    assert system_level["total"] == 0 and not notes(system_level)


def test_the_note_tells_staff_that_a_patient_exists(client: Any, world: dict[str, Any]) -> None:
    doc = world["staff"]("docA")
    found = client.get(f"/fhir/Patient?family={world['family']}", headers=doc).json()
    assert sorted(ids(found)) == sorted(f"Patient/{world[n]}" for n in hidden_world.CARED_FOR_BY_A)
    assert notes(found) == ["suppressed"]
    assert notes(client.get(f"/fhir/Patient?_id={world['stranger']}", headers=doc).json()) == ["suppressed"]
    assert not notes(client.get(f"/fhir/Patient?_id={world['mine']}", headers=doc).json())
    # Patients are never told; nor is anyone of a Patient found through another resource's data.
    assert not notes(client.get(f"/fhir/Patient?family={world['family']}", headers=world["patient"]("mine")).json())
    linked = f"/fhir/Patient?_has:Observation:subject:code={world['code']}|x"
    assert not notes(client.get(linked, headers=doc).json())


def test_pages_totals_and_cursors_do_not_change_with_a_hidden_record(client: Any, world: dict[str, Any]) -> None:
    doc = world["staff"]("docA")
    url = f"/fhir/Observation?code={world['code']}|late&_count=1&_sort=code"
    put_resource(client, hidden_world.observation(world, f"late-{world['mine']}", "mine", "late"))
    put_resource(client, hidden_world.observation(world, f"late2-{world['mine']}", "mine", "late"))
    before = _walk(client, url, doc)
    put_resource(client, hidden_world.observation(world, f"late-{world['stranger']}", "stranger", "late"))
    after = _walk(client, url, doc)
    assert before == after
    assert [p["total"] for p in after] == [2, 2] and not any(notes(p) for p in after)


# Finding 8: sealed cursors, withheld elements


def test_a_sort_on_a_withheld_address_orders_it_as_missing(client: Any, world: dict[str, Any]) -> None:
    doc = world["staff"]("docA")
    missing = sorted(f"Patient/{world[n]}" for n in ("mine", "prot_mine"))
    for sort in ("address", "-address", "address-city", "-address-postalcode", "phone", "-telecom"):
        pages = _walk(client, f"/fhir/Patient?family={world['family']}&_sort={sort}&_count=1", doc)
        order = [i for page in pages for i in ids(page)]
        has_value = [f"Patient/{world['open_mine']}"] if "address" in sort else []
        assert order == has_value + sorted(set(missing + [f"Patient/{world['open_mine']}"]) - set(has_value)), sort
    # The system principal sees and sorts by the street.
    everyone = _walk(client, f"/fhir/Patient?family={world['family']}&_sort=-address&_count=10", {})
    assert ids(everyone[0])[0] in (f"Patient/{world['prot_mine']}", f"Patient/{world['prot_stranger']}")


def test_a_cursor_reveals_nothing(client: Any, world: dict[str, Any]) -> None:
    doc = world["staff"]("docA")
    page = client.get(f"/fhir/Patient?family={world['family']}&_sort=-address&_count=1", headers=doc).json()
    nxt = link(page, "next")
    assert nxt is not None
    token = dict(parse_qsl(urlsplit(nxt).query))["_page"]
    raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    for secret in (b"skjultvej", b"hemmelig", b"9999", b"Patient", world["tag"].encode()):
        assert secret not in raw.lower()
    with pytest.raises(BadRequest):
        paging.decode_cursor(token)


def test_a_cursor_is_for_its_own_search_and_person(client: Any, world: dict[str, Any]) -> None:
    doc = world["staff"]("docA")
    url = f"/fhir/Patient?family={world['family']}&_count=1"
    nxt = link(client.get(url, headers=doc).json(), "next")
    assert nxt is not None
    assert client.get(nxt, headers=doc).status_code == 200
    token = dict(parse_qsl(urlsplit(nxt).query))["_page"]
    flipped = token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1]
    refusals = [
        client.get(nxt, headers=world["staff"]("docB")),  # another clinician
        client.get(nxt, headers=world["patient"]("mine")),  # a patient
        client.get(nxt),  # a system principal
        client.get(nxt.replace("_count=1", "_count=2"), headers=doc),  # another search
        client.get(nxt.replace("Patient?", "Practitioner?"), headers=doc),
        client.get(nxt.replace(token, flipped), headers=doc),  # tampered
        client.get(nxt.replace(token, token[:10]), headers=doc),  # cut
        client.get(nxt.replace(token, "!!!!"), headers=doc),  # garbled
        client.get(nxt.replace(token, ""), headers=doc),
    ]
    for response in refusals:
        assert_outcome(response, 400, text="follow the Bundle's links as given")
    # Parameters in another order are the same search.
    reordered = f"/fhir/Patient?_count=1&family={world['family']}&_page={token}"
    assert client.get(reordered, headers=doc).status_code == 200


def test_a_withheld_address_does_not_match(client: Any, world: dict[str, Any]) -> None:
    doc, city, family = world["staff"]("docA"), world["city"], world["family"]
    withheld = [
        f"address-city={city}",
        "address=Skjultvej",
        "address-postalcode=9999",
        f"email=prot_mine-{world['tag']}@example.org",
        f"telecom=prot_mine-{world['tag']}@example.org",
        "address:missing=false",
    ]
    for query in withheld:
        bundle = client.get(f"/fhir/Patient?family={family}&{query}", headers=doc).json()
        assert bundle["total"] == (1 if "missing" in query else 0), query  # open_mine has an address
        assert not notes(bundle), query  # nor is the protected stranger's city confirmed
    shown = client.get(f"/fhir/Patient?address-city=Aaben{world['tag']}", headers=doc).json()
    assert ids(shown) == [f"Patient/{world['open_mine']}"]
    as_missing = client.get(f"/fhir/Patient?family={family}&address:missing=true", headers=doc).json()
    assert sorted(ids(as_missing)) == sorted(f"Patient/{world[n]}" for n in ("mine", "prot_mine"))
    for chain in (f"subject:Patient.address-city={city}", f"subject.address-city={city}", f"patient.address={city}"):
        bundle = client.get(f"/fhir/Observation?{chain}", headers=doc).json()
        assert bundle["total"] == 0, chain
        assert client.get(f"/fhir/Observation?{chain}").json()["total"] == 2, chain  # the system sees both
    # The system principal, and the patient themself, find the address.
    assert client.get(f"/fhir/Patient?address-city={city}").json()["total"] == 2
    own = client.get(f"/fhir/Patient?address-city={city}", headers=world["patient"]("prot_mine")).json()
    assert ids(own) == [f"Patient/{world['prot_mine']}"]


def test_a_patients_results_newest_first_keep_to_the_access_rule(client: Any, world: dict[str, Any]) -> None:
    """Issue 27: `subject&code&_sort=-date` is read from search_subject_code's index; the access rule
    is still a condition of the same query, so its page, total and cursor are as before."""
    doc = world["staff"]("docA")
    code = f"{world['code']}|x"
    hidden = client.get(f"/fhir/Observation?subject=Patient/{world['stranger']}&code={code}&_sort=-date", headers=doc)
    assert hidden.status_code == 200 and hidden.json()["total"] == 0 and not ids(hidden.json())
    shown = client.get(f"/fhir/Observation?patient={world['mine']}&code={code}&_sort=-date&_count=1", headers=doc)
    assert shown.json()["total"] == 1 and ids(shown.json()) == [f"Observation/obs-{world['mine']}"]
    own = world["patient"]("mine")
    assert (
        client.get(f"/fhir/Observation?patient={world['stranger']}&code={code}&_sort=-date", headers=own).json()[
            "total"
        ]
        == 0
    )
