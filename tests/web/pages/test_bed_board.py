"""The bed board (web/pages/bed_board.py) through its JSON form and its forms, on both backends:
choosing a ward; each bed's state and occupant; admitting by CPR number, moving and discharging a
patient, marking beds; a move into an occupied bed refused beside its field with nothing changed;
the census at a past moment; bad input answered with words, not errors."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from starlette.testclient import TestClient

from lifeline.clock import COPENHAGEN
from lifeline.fhir.service import FhirService
from lifeline.identity.sessions import STAFF
from lifeline.logistics import beds
from tests.logistics.test_beds import Hospital, bed_code, hospital, nurse, put, read
from tests.logistics.test_beds import place as place_at
from tests.web.test_login_pages import browser
from tests.web.test_middleware import logged_in_as


@pytest.fixture
def place(service: FhirService) -> Hospital:
    return hospital(service)


def logged_in(service: FhirService, place: Hospital) -> tuple[TestClient, str]:
    web = browser(service)
    csrf = logged_in_as(service, web, STAFF, username=place.username, fhir_user=f"Practitioner/{place.nurse}")
    return web, csrf


def board(web: TestClient, ward: str, **params: str) -> dict[str, Any]:
    answer = web.get(f"/wards/{ward}", params={"_format": "json", **params})
    assert answer.status_code == 200, answer.text
    return answer.json()  # type: ignore[no-any-return]


def card(shown: dict[str, Any], bed: str) -> dict[str, Any]:
    return next(c for c in shown["beds"] if c["id"] == bed)


def test_the_nurse_chooses_among_their_wards_or_a_hospitals(service: FhirService, place: Hospital) -> None:
    web, _ = logged_in(service, place)
    shown = web.get("/wards", params={"_format": "json"}).json()
    assert [w["href"] for w in shown["mine"]] == [f"/wards/{place.id('wardA')}", f"/wards/{place.id('wardB')}"]
    assert shown["site"] is None and place.id("site") in [s["id"] for s in shown["sites"]]
    chosen = web.get("/wards", params={"_format": "json", "site": place.id("site")}).json()
    assert [w["id"] for w in chosen["siteWards"]] == [place.id("wardA"), place.id("wardB")]
    page = web.get("/wards")
    assert page.status_code == 200 and f'href="/wards/{place.id("wardA")}"' in page.text


def test_admit_move_and_discharge_through_the_board(service: FhirService, place: Hospital) -> None:
    web, csrf = logged_in(service, place)
    i, ward = place.id, place.id("wardA")
    shown = board(web, ward)
    assert [c["name"] for c in shown["beds"]] == ["Seng 1", "Seng 2", "Seng 3", "Seng 4"]
    assert shown["counts"] == {"free": 3, "occupied": 0, "cleaning": 0, "blocked": 1}
    cpr = place.cprs[i("pat1")]
    admitted = web.post(
        f"/wards/{ward}",
        data={"csrf": csrf, "action": "admit", "bed": i("bedA1"), "key": shown["key"], "cpr": f"{cpr[:6]}-{cpr[6:]}"},
    )
    assert admitted.status_code == 303 and admitted.headers["location"] == f"/wards/{ward}?done=admit#bed-{i('bedA1')}"
    again = web.post(
        f"/wards/{ward}", data={"csrf": csrf, "action": "admit", "bed": i("bedA1"), "key": shown["key"], "cpr": cpr}
    )
    assert again.status_code == 303  # the same form sent twice (a double click): one admission
    shown = board(web, ward)
    one = card(shown, i("bedA1"))
    assert one["state"] == "occupied" and one["patient"]["href"] == f"/patients/{i('pat1')}"
    assert one["patient"]["name"] == f"Ib{place.tag} Patient1" and one["since"]["text"]
    assert shown["counts"]["occupied"] == 1
    assert [t["id"] for g in shown["targets"] for t in g["beds"]] == [i("bedA2"), i("bedA4"), i("bedB1"), i("bedB2")]

    moved = web.post(
        f"/wards/{ward}",
        data={"csrf": csrf, "action": "transfer", "bed": i("bedA1"), "stay": one["stay"], "to": i("bedB2")},
    )
    assert moved.status_code == 303 and moved.headers["location"].endswith(f"#bed-{i('bedB2')}")
    assert card(board(web, ward), i("bedA1"))["state"] == "cleaning"
    assert card(board(web, i("wardB")), i("bedB2"))["patient"]["id"] == i("pat1")
    assert web.post(f"/wards/{ward}", data={"csrf": csrf, "action": "clean", "bed": i("bedA1")}).status_code == 303
    assert card(board(web, ward), i("bedA1"))["state"] == "free"

    assert board(web, i("wardB"), discharge=i("bedB2"))["confirm"] == i("bedB2")
    asked = web.get(f"/wards/{i('wardB')}", params={"discharge": i("bedB2")}).text
    assert f'id="confirm-{i("bedB2")}"' in asked and "Discharge Ib" in asked
    gone = web.post(
        f"/wards/{i('wardB')}", data={"csrf": csrf, "action": "discharge", "bed": i("bedB2"), "stay": one["stay"]}
    )
    assert gone.status_code == 303
    assert read(service, "Encounter", one["stay"])["status"] == "finished"
    assert card(board(web, i("wardB")), i("bedB2"))["state"] == "cleaning"


def test_a_move_into_an_occupied_bed_is_refused_beside_the_field(service: FhirService, place: Hospital) -> None:
    web, csrf = logged_in(service, place)
    i, ward = place.id, place.id("wardA")
    core = nurse(service, place)
    first = beds.admit(core, i("pat1"), beds.bed(core, i("bedA1")), service.clock())
    second = beds.admit(core, i("pat2"), beds.bed(core, i("bedA2")), service.clock())
    before = read(service, "Encounter", second)["meta"]["versionId"]
    form = {"csrf": csrf, "action": "transfer", "bed": i("bedA2"), "stay": second, "to": i("bedA1")}
    unchosen = web.post(f"/wards/{ward}", data={**form, "to": ""})
    assert unchosen.status_code == 400 and 'id="to-' + i("bedA2") + '-error">Choose the bed to move' in unchosen.text
    refused = web.post(f"/wards/{ward}", data=form)
    assert refused.status_code == 400
    assert (
        'id="to-' + i("bedA2") + '-error"' in refused.text
        and "That bed is occupied. Nothing was changed" in refused.text
    )
    assert "Patient1" not in refused.text.split('id="bed-' + i("bedA2"))[1].split("</li>")[0]
    # A bed taken without its status changed (another system's admission through the API): the
    # core's rule refuses, in its words, beside the field.
    put(
        service,
        {
            "resourceType": "Encounter",
            "id": i("elsewhere"),
            "status": "in-progress",
            "class": {"code": "IMP"},
            "subject": {"reference": f"Patient/{i('pat3')}"},
            "location": [{"location": {"reference": f"Location/{i('bedA4')}"}, "status": "active"}],
        },
    )
    form["to"] = i("bedA4")
    refused = web.post(f"/wards/{ward}", data=form)
    assert refused.status_code == 422
    assert f"Seng 4 on Sengeafsnit A{place.tag} is occupied: choose a free bed" in refused.text
    assert 'id="to-' + i("bedA2") + '-error"' in refused.text
    assert read(service, "Encounter", second)["meta"]["versionId"] == before
    assert read(service, "Encounter", first)["location"][-1]["status"] == "active"
    assert bed_code(service, i("bedA2")) == "O"


@pytest.mark.parametrize(
    ("fields", "field", "said", "status"),
    [
        ({"action": "admit", "cpr": ""}, "cpr", "Write the patient's CPR number.", 400),
        ({"action": "admit", "cpr": "991399-1234"}, "cpr", "A CPR number is 10 digits", 400),
        ({"action": "admit", "cpr": "0101011234"}, "cpr", "None of your patients has this CPR number", 400),
        ({"action": "transfer", "stay": "x", "to": ""}, None, "Nothing was changed", 400),  # the bed is free now
        ({"action": "clean"}, None, "The bed is not waiting to be cleaned", 409),
        ({"action": "fly"}, None, "The form was not complete", 400),
    ],
)
def test_bad_input_is_answered_beside_its_field(
    service: FhirService, place: Hospital, fields: dict[str, str], field: str | None, said: str, status: int
) -> None:
    web, csrf = logged_in(service, place)
    key = board(web, place.id("wardA"))["key"]
    answer = web.post(
        f"/wards/{place.id('wardA')}", data={"csrf": csrf, "bed": place.id("bedA4"), "key": key, **fields}
    )
    assert answer.status_code == status and said in answer.text
    if field:
        assert f'id="{field}-{place.id("bedA4")}-error"' in answer.text
    assert bed_code(service, place.id("bedA4")) == "U"


def test_the_census_at_a_past_moment(service: FhirService, place: Hospital) -> None:
    web, _ = logged_in(service, place)
    i = place.id
    core = nurse(service, place)
    t0 = service.clock() - timedelta(hours=6)
    stay = beds.admit(core, i("pat1"), beds.bed(core, i("bedA1")), t0)
    beds.transfer(core, stay, beds.bed(core, i("bedA2")), t0 + timedelta(hours=2))
    at = (t0 + timedelta(hours=1)).astimezone(COPENHAGEN).strftime("%Y-%m-%dT%H:%M")
    census = board(web, i("wardA"), at=at)["census"]
    assert [(r["bed"], r["href"], r["until"] is not None) for r in census["rows"]] == [
        ("Seng 1", f"/patients/{i('pat1')}", True)
    ]
    assert board(web, i("wardA"), at="yesterday")["atProblem"] == "format"
    future = (service.clock() + timedelta(days=1)).astimezone(COPENHAGEN).strftime("%Y-%m-%dT%H:%M")
    shown = board(web, i("wardA"), at=future)
    assert shown["atProblem"] == "future" and shown["census"] is None
    assert web.get(f"/wards/{i('wardA')}", params={"at": future}).status_code == 200


def test_an_unknown_ward_is_not_found(service: FhirService, place: Hospital) -> None:
    web, csrf = logged_in(service, place)
    assert web.get(f"/wards/{place.id('bedA1')}").status_code == 404  # a bed is no ward
    assert web.post("/wards/nowhere", data={"csrf": csrf, "action": "clean"}).status_code == 404


def test_a_patient_can_be_moved_to_another_departments_ward_of_the_hospital(
    service: FhirService, place: Hospital
) -> None:
    i = place.id
    put(service, {"resourceType": "Organization", "id": i("other"), "name": f"Medicinsk Afdeling {place.tag}"})
    put(service, place_at(i("wing2"), f"Medicinsk {place.tag}", "wi", i("site"), i("other")))
    put(service, place_at(i("wardC"), f"Sengeafsnit C{place.tag}", "wa", i("wing2"), i("other")))
    put(service, place_at(i("room"), f"Stue 1, C{place.tag}", "ro", i("wardC"), i("other")))
    put(service, place_at(i("bedC1"), f"Seng 1, Sengeafsnit C{place.tag}", "bd", i("room"), i("other"), "U"))
    web, _ = logged_in(service, place)
    targets = board(web, i("wardA"))["targets"]
    assert [g["ward"] for g in targets] == [
        f"Sengeafsnit A{place.tag}",
        f"Sengeafsnit B{place.tag}",
        f"Sengeafsnit C{place.tag}",
    ]
    assert targets[-1]["beds"] == [{"id": i("bedC1"), "name": "Seng 1"}]
    assert [c["id"] for c in board(web, i("wardC"))["beds"]] == [i("bedC1")]  # a bed in a room of the ward
