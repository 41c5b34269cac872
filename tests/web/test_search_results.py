"""The result side of search on both backends: _sort, next/previous paging, _include/_revinclude,
_summary, _elements, _total and _count=0 (https://hl7.org/fhir/R4/search.html#return)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from lifeline.fhir import paging
from lifeline.fhir.service import FhirService
from tests.conftest import assert_outcome, bundle_link, put_resource


def _ids(bundle: dict[str, Any], mode: str = "match") -> list[str]:
    return [e["resource"]["id"] for e in bundle.get("entry", []) if e["search"]["mode"] == mode]


@pytest.fixture(scope="module")
def ward(client: Any) -> dict[str, Any]:
    """Five patients of one family, with birth dates and given names to sort by (one without a
    birth date), an Organization they belong to, and Observations about two of them."""
    tag = uuid.uuid4().hex[:8]
    family = f"Sortvej{tag}"
    org = {"resourceType": "Organization", "id": f"org-{tag}", "name": f"Herlev {tag}"}
    put_resource(client, org)
    people = [
        ("p1", "Åse", "1980-05-01"),
        ("p2", "Bo", "1975-01-01"),
        ("p3", "Ærø", None),
        ("p4", "Anders", "1990-12-31"),
        ("p5", "Bo", "1960-07-07"),
    ]
    for key, given, born in people:
        patient: dict[str, Any] = {
            "resourceType": "Patient",
            "id": f"{key}-{tag}",
            "name": [{"family": family, "given": [given]}],
            "managingOrganization": {"reference": f"Organization/{org['id']}"},
            "text": {"status": "generated", "div": f'<div xmlns="http://www.w3.org/1999/xhtml">{given}</div>'},
        }
        if born:
            patient["birthDate"] = born
        put_resource(client, patient)
    for n, (key, value) in enumerate([("p1", 5.1), ("p1", 6.2), ("p2", 4.0)]):
        put_resource(
            client,
            {
                "resourceType": "Observation",
                "id": f"o{n}-{tag}",
                "status": "final",
                "code": {"coding": [{"system": "http://loinc.org", "code": "2345-7"}]},
                "subject": {"reference": f"Patient/{key}-{tag}"},
                "performer": [{"reference": f"Organization/{org['id']}"}],
                "valueQuantity": {"value": value, "unit": "mmol/L"},
            },
        )
    return {"tag": tag, "family": family, "org": org["id"]}


def _search(client: Any, path: str, **params: str) -> dict[str, Any]:
    response = client.get(f"/fhir/{path}", params=params)
    assert response.status_code == 200, response.text
    return response.json()


def _strip(ids: list[str], tag: str) -> list[str]:
    return [i.removesuffix(f"-{tag}") for i in ids]


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        ("birthdate", ["p5", "p2", "p1", "p4", "p3"]),  # no birth date: last
        ("-birthdate", ["p4", "p1", "p2", "p5", "p3"]),  # still last when descending
        ("given,-birthdate", ["p4", "p2", "p5", "p1", "p3"]),  # Anders Bo(1975) Bo(1960) Åse Ærø... by folded text
        ("-_id", ["p5", "p4", "p3", "p2", "p1"]),
        ("_id", ["p1", "p2", "p3", "p4", "p5"]),
    ],
)
def test_sort(client: Any, ward: dict[str, Any], sort: str, expected: list[str]) -> None:
    bundle = _search(client, "Patient", family=ward["family"], _sort=sort)
    got = _strip(_ids(bundle), ward["tag"])
    if sort.startswith("given"):
        # Danish letters sort after z in the folded form; accent folding keeps å/æ as letters.
        assert got[:3] == expected[:3] and set(got[3:]) == {"p1", "p3"}
    else:
        assert got == expected


@pytest.mark.parametrize(
    ("sort", "expected"),
    [("-combo-value-quantity", ["o1", "o0", "o2"]), ("combo-value-quantity", ["o2", "o0", "o1"])],
)
def test_sort_by_a_parameter_answered_from_others_rows(
    client: Any, ward: dict[str, Any], sort: str, expected: list[str]
) -> None:
    # combo-value-quantity has no rows of its own: it sorts by those of value-quantity and
    # component-value-quantity (SearchParameter.stored)
    subjects = ",".join(f"Patient/{key}-{ward['tag']}" for key in ("p1", "p2"))
    bundle = _search(client, "Observation", subject=subjects, _sort=sort)
    assert _strip(_ids(bundle), ward["tag"]) == expected


@pytest.mark.parametrize("sort", ["birthdate", "-birthdate", "given,-_id", "-_lastUpdated", ""])
def test_paging_forward_and_back_with_a_sort(client: Any, ward: dict[str, Any], sort: str) -> None:
    params = {"family": ward["family"], "_count": "2"}
    if sort:
        params["_sort"] = sort
    everything = _ids(_search(client, "Patient", family=ward["family"], _sort=sort or "_id", _count="50"))
    page = _search(client, "Patient", **params)
    assert bundle_link(page, "previous") is None
    pages = [_ids(page)]
    while nxt := bundle_link(page, "next"):
        page = client.get(nxt).json()
        pages.append(_ids(page))
    walked = [i for p in pages for i in p]
    assert len(walked) == 5 and len(set(walked)) == 5
    if sort:
        assert walked == everything
    # and back again from the last page, through the previous links
    back = [_ids(page)]
    while prev := bundle_link(page, "previous"):
        page = client.get(prev).json()
        back.append(_ids(page))
    assert [i for p in reversed(back) for i in p] == walked


def test_a_cursor_of_another_sort_is_refused(client: Any, ward: dict[str, Any]) -> None:
    page = _search(client, "Patient", family=ward["family"], _count="2")
    nxt = bundle_link(page, "next")
    assert nxt is not None
    assert_outcome(client.get(nxt + "&_sort=birthdate"), 400, text="cursor")


@pytest.mark.parametrize(
    ("sort", "position"),
    [
        ("birthdate", [{"x": 1}, "Patient", "a"]),
        ("birthdate", ["1970", ["Patient"], "a"]),
        ("birthdate", [True, "Patient", "a"]),
        ("", ["Patient", {"a": 1}]),
        ("", ["Patient"]),
    ],
)
def test_a_tampered_cursor_is_400(
    client: Any, service: FhirService, ward: dict[str, Any], sort: str, position: list[Any]
) -> None:
    """Cursors are sealed (test_search_leaks.py); one sealed with the node's own key but holding
    a position of the wrong shape is still a 400, never a value the driver cannot bind."""
    params = [("family", ward["family"]), *([("_sort", sort)] if sort else [])]
    seal = paging.CursorSeal(service.identity.kek, "system:tests")  # the test client's principal
    token = seal.seal("Patient", params, {"after": position})
    assert_outcome(client.get("/fhir/Patient", params=[*params, ("_page", token)]), 400, text="cursor")
    unsealed = paging.encode_cursor({"after": position})
    assert_outcome(client.get("/fhir/Patient", params=[*params, ("_page", unsealed)]), 400, text="cursor")


def test_sort_by_unknown_or_unsortable_parameter_is_400(client: Any) -> None:
    assert_outcome(client.get("/fhir/Patient", params={"_sort": "shoe-size"}), 400, text="shoe-size")
    assert_outcome(client.get("/fhir/Observation", params={"_sort": "code-value-quantity"}), 400)


def test_include_and_revinclude(client: Any, ward: dict[str, Any]) -> None:
    tag = ward["tag"]
    bundle = _search(client, "Observation", subject=f"Patient/p1-{tag}", _include="Observation:subject")
    assert sorted(_strip(_ids(bundle), tag)) == ["o0", "o1"]
    assert _strip(_ids(bundle, "include"), tag) == ["p1"]
    typed = _search(client, "Observation", subject=f"p1-{tag}", _include="Observation:performer:Organization")
    assert _ids(typed, "include") == [ward["org"]]
    wild = _search(client, "Observation", subject=f"p1-{tag}", _include="*")
    assert sorted(_ids(wild, "include")) == sorted([ward["org"], f"p1-{tag}"])
    rev = _search(client, "Patient", family=ward["family"], _revinclude="Observation:subject")
    assert sorted(_strip(_ids(rev, "include"), tag)) == ["o0", "o1", "o2"]
    assert bundle["total"] == 2


def test_include_iterate_follows_what_was_included(client: Any, ward: dict[str, Any]) -> None:
    tag = ward["tag"]
    once = client.get(
        "/fhir/Observation",
        params=[("subject", f"p2-{tag}"), ("_include", "Observation:subject"), ("_include", "Patient:organization")],
    ).json()
    assert _strip(_ids(once, "include"), tag) == ["p2"]  # Patient:organization applies to matches only
    iterated = client.get(
        "/fhir/Observation",
        params=[
            ("subject", f"p2-{tag}"),
            ("_include", "Observation:subject"),
            ("_include:iterate", "Patient:organization"),
        ],
    ).json()
    assert sorted(_ids(iterated, "include")) == sorted([ward["org"], f"p2-{tag}"])


def test_an_included_match_appears_once(client: Any, ward: dict[str, Any]) -> None:
    bundle = _search(
        client, "Patient", family=ward["family"], _include="Patient:link", _revinclude="Patient:link", _count="50"
    )
    ids = [e["resource"]["id"] for e in bundle["entry"]]
    assert len(ids) == len(set(ids)) == 5


def test_bad_includes(client: Any) -> None:
    assert_outcome(client.get("/fhir/Observation", params={"_include": "Observation"}), 400)
    assert_outcome(client.get("/fhir/Observation", params={"_include": "Nonsense:subject"}), 400)
    assert_outcome(client.get("/fhir/Observation", params={"_include:deep": "Observation:subject"}), 400)
    lenient = client.get("/fhir/Observation", params={"_include": "Observation:shoe", "_count": "1"}).json()
    assert "Observation:shoe" in str([e for e in lenient["entry"] if e["search"]["mode"] == "outcome"])
    strict = client.get(
        "/fhir/Observation", params={"_include": "Observation:shoe"}, headers={"Prefer": "handling=strict"}
    )
    assert_outcome(strict, 400, text="shoe")


def test_summary_and_elements(client: Any, ward: dict[str, Any]) -> None:
    full = _search(client, "Patient", family=ward["family"], _id=f"p1-{ward['tag']}")["entry"][0]["resource"]
    assert "text" in full and "SUBSETTED" not in str(full.get("meta"))
    summary = _search(client, "Patient", _id=f"p1-{ward['tag']}", _summary="true")["entry"][0]["resource"]
    assert "text" not in summary and summary["name"] and summary["birthDate"] == "1980-05-01"
    assert {"code": "SUBSETTED"}.items() <= summary["meta"]["tag"][-1].items()
    text = _search(client, "Patient", _id=f"p1-{ward['tag']}", _summary="text")["entry"][0]["resource"]
    assert set(text) == {"resourceType", "id", "meta", "text"}
    data = _search(client, "Patient", _id=f"p1-{ward['tag']}", _summary="data")["entry"][0]["resource"]
    assert "text" not in data and "managingOrganization" in data
    elements = _search(client, "Patient", _id=f"p1-{ward['tag']}", _elements="birthDate,Patient.name")
    resource = elements["entry"][0]["resource"]
    assert set(resource) == {"resourceType", "id", "meta", "birthDate", "name"}
    observation = _search(client, "Observation", _id=f"o0-{ward['tag']}", _elements="value")["entry"][0]["resource"]
    assert observation["valueQuantity"]["value"] == 5.1 and observation["status"] == "final"  # mandatory kept
    count = _search(client, "Patient", family=ward["family"], _summary="count")
    assert count["total"] == 5 and count["entry"] == []
    assert_outcome(client.get("/fhir/Patient", params={"_summary": "most"}), 400, text="_summary")


def test_total_and_count_zero(client: Any, ward: dict[str, Any]) -> None:
    none = _search(client, "Patient", family=ward["family"], _total="none", _count="2")
    assert "total" not in none and len(_ids(none)) == 2
    accurate = _search(client, "Patient", family=ward["family"], _count="2")
    assert accurate["total"] == 5
    zero = _search(client, "Patient", family=ward["family"], _count="0")
    assert zero["total"] == 5 and _ids(zero) == [] and bundle_link(zero, "next") is None
    second = client.get(bundle_link(accurate, "next") or "").json()
    assert second["total"] == 5 and bundle_link(second, "first") is not None


def test_the_total_is_counted_once_and_carried_by_the_cursor(client: Any) -> None:
    """Issue 27: every page recounted the whole match set. The first page counts; its cursors carry
    the count (sealed: a client cannot change it), so a later page says the same total even when a
    match was added meanwhile, and the pages reached through the links say it too."""
    family = f"Talvej{uuid.uuid4().hex[:8]}"
    for n in range(5):
        put_resource(client, {"resourceType": "Patient", "id": f"t{n}-{family}", "name": [{"family": family}]})
    first = _search(client, "Patient", family=family, _count="2", _sort="_id")
    assert first["total"] == 5
    put_resource(client, {"resourceType": "Patient", "id": f"t9-{family}", "name": [{"family": family}]})
    second = client.get(bundle_link(first, "next") or "").json()
    assert second["total"] == 5  # carried, not counted again
    back = client.get(bundle_link(second, "previous") or "").json()
    assert back["total"] == 5
    assert _search(client, "Patient", family=family, _count="2")["total"] == 6  # a new search counts anew


def test_a_page_past_the_include_limit_says_so_and_how_to_reach_the_rest(
    client: Any, ward: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The limit lowered from 1,000 to 2, so that p1's two Observations and p2's one pass it.
    from lifeline.search.results import include

    tag = ward["tag"]
    monkeypatch.setattr(include, "MAX_INCLUDED", 2)
    cut = _search(client, "Patient", family=ward["family"], _revinclude="Observation:subject")
    assert len(_ids(cut, "include")) == 2
    outcome = [e["resource"] for e in cut["entry"] if e["search"]["mode"] == "outcome"]
    assert len(outcome) == 1
    [issue] = [i for i in outcome[0]["issue"] if i["code"] == "incomplete"]
    assert issue["severity"] == "warning"
    assert "only the first 2" in issue["diagnostics"]
    assert f"Observation?subject=Patient/p1-{tag}" in issue["diagnostics"]
    whole = _search(client, "Patient", _id=f"p1-{tag}", _revinclude="Observation:subject")
    assert sorted(_strip(_ids(whole, "include"), tag)) == ["o0", "o1"]
    assert not [e for e in whole["entry"] if e["search"]["mode"] == "outcome"]  # exactly at the limit: complete


def _walk(client: Any, path: str, params: dict[str, str]) -> tuple[list[list[str]], dict[str, Any]]:
    """Every page's ids through the next links, and the last page."""
    page = _search(client, path, **params)
    pages = [_ids(page)]
    while nxt := bundle_link(page, "next"):
        page = client.get(nxt).json()
        pages.append(_ids(page))
    return pages, page


def test_a_patients_results_of_one_code_newest_first(client: Any) -> None:
    """Issue 27: `subject&code=system|code&_sort=-date` is read from search_subject_code's index a
    page at a time. Its pages, forward and back, and its total are what the index tables give
    for the same search (a bare code is not a key of that index): latest end first, undated
    last, ties by id, other patients, codes and deleted results left out."""
    tag = uuid.uuid4().hex[:8]
    loinc = "http://loinc.org"
    dates: list[dict[str, Any] | None] = [
        {"effectiveDateTime": "2026-03-01T08:00:00Z"},
        {"effectiveDateTime": "2026-03-01"},  # the whole day: ends after the 08:00 above
        {"effectivePeriod": {"start": "2025-01-01", "end": "2026-02-01"}},
        {"effectiveDateTime": "2026-03-01"},  # a tie, ordered by id
        None,
        {"effectiveDateTime": "2024"},
        None,
        {"effectivePeriod": {"start": "2026-01-01"}},  # open end: latest of all
    ]
    for n, when in enumerate(dates):
        observation: dict[str, Any] = {
            "resourceType": "Observation",
            "id": f"g{n}-{tag}",
            "status": "final",
            "code": {"coding": [{"system": loinc, "code": "2345-7"}, {"system": "urn:lab", "code": f"glu-{tag}"}]},
            "subject": {"reference": f"Patient/pt-{tag}"},
            **(when or {}),
        }
        put_resource(client, observation)
    for key, subject, code in (("other-patient", f"pt2-{tag}", "2345-7"), ("other-code", f"pt-{tag}", "718-7")):
        put_resource(
            client,
            {
                "resourceType": "Observation",
                "id": f"{key}-{tag}",
                "status": "final",
                "code": {"coding": [{"system": loinc, "code": code}]},
                "subject": {"reference": f"Patient/{subject}"},
                "effectiveDateTime": "2026-06-01",
            },
        )
    assert client.delete(f"/fhir/Observation/g6-{tag}").status_code in (200, 204)
    expected = [f"g{n}-{tag}" for n in (7, 1, 3, 0, 2, 5, 4)]
    for subject in (("subject", f"Patient/pt-{tag}"), ("patient", f"pt-{tag}")):
        for code in (f"{loinc}|2345-7", f"urn:lab|glu-{tag}"):
            params = {subject[0]: subject[1], "code": code, "_sort": "-date", "_count": "3"}
            pages, last = _walk(client, "Observation", params)
            assert [i for p in pages for i in p] == expected, (subject, code)
            assert [len(p) for p in pages] == [3, 3, 1]
            assert _search(client, "Observation", **params)["total"] == 7
            back = [_ids(last)]
            while prev := bundle_link(last, "previous"):
                last = client.get(prev).json()
                back.append(_ids(last))
            assert [i for p in reversed(back) for i in p] == expected
    # The same search on the index tables alone (any system's 2345-7) agrees.
    general, _ = _walk(client, "Observation", {"subject": f"Patient/pt-{tag}", "code": "2345-7", "_sort": "-date"})
    assert general == [expected]
    # Unsorted, and sorted otherwise, the subject and the coding still drive the search together.
    unsorted = _search(client, "Observation", subject=f"Patient/pt-{tag}", code=f"{loinc}|2345-7")
    assert sorted(_ids(unsorted)) == sorted(expected) and unsorted["total"] == 7
    oldest = _search(client, "Observation", subject=f"Patient/pt-{tag}", code=f"{loinc}|2345-7", _sort="date")
    assert _ids(oldest)[:2] == [f"g5-{tag}", f"g2-{tag}"] and len(_ids(oldest)) == 7  # earliest start first
