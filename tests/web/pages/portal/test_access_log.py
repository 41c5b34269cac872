"""Who has looked at my record (web/pages/portal/access_log.py) through its JSON, on both backends:
staff accesses with name, role, department, hospital and kind; a broken glass with its reason; the
period filter with a message beside a bad date; nothing of another patient and none of the
patient's own portal reads; the log read is itself on the trail as the patient's."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import orjson
import pytest
from starlette.testclient import TestClient

from lifeline.audit.store import events_after
from lifeline.clock import today
from lifeline.fhir.service import FhirService
from lifeline.identity.sessions import PATIENT
from lifeline.web.pages.portal import access_log
from tests.web.pages.test_chart import Ward, admitted_patient, doctor_logged_in, put, ref
from tests.web.test_login_pages import browser
from tests.web.test_middleware import logged_in_as

PATH = "/portal/access-log"
REASON = "Unconscious, brought in by ambulance"
STAFF_ROLE = "urn:lifeline:staff-role"


def break_the_glass(web: TestClient, patient: str, text: str = REASON) -> None:
    page = web.get(f"/break-the-glass?patient={patient}").text
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found, page
    form = {"csrf": found.group(1), "patient": patient, "reason": "ETREAT", "text": text}
    assert web.post("/break-the-glass", data=form, follow_redirects=False).status_code == 303


def looked_at(service: FhirService) -> Ward:
    """A ward whose doctor (a physician of a department of a hospital) opens the chart of their own
    patient, `mine`, and breaks the glass to open that of `theirs`."""
    ward = admitted_patient(service)
    hospital = {
        "resourceType": "Organization",
        "id": f"hosp-{ward.tag}",
        "name": f"Aarhus Universitetshospital {ward.tag}",
    }
    department = {"resourceType": "Organization", "id": f"dep-{ward.tag}", "name": f"Kardiologisk Afdeling {ward.tag}",
                  "partOf": ref(f"Organization/hosp-{ward.tag}")}  # fmt: skip
    code = [{"coding": [{"system": STAFF_ROLE, "code": "physician", "display": "Physician"}]}]
    role = {"resourceType": "PractitionerRole", "id": f"role-{ward.tag}", "active": True, "code": code,
            "practitioner": ref(f"Practitioner/{ward.doctor}"),
            "organization": ref(f"Organization/dep-{ward.tag}")}  # fmt: skip
    doctor = {"resourceType": "Practitioner", "id": ward.doctor, "name": [{"given": ["Asta"], "family": "Møller"}]}
    for resource in (hospital, department, role, doctor):
        put(service, resource)
    web, _ = doctor_logged_in(service, ward)
    assert web.get(f"/patients/{ward.mine}").status_code == 200
    assert web.get(f"/patients/{ward.theirs}").status_code == 403
    break_the_glass(web, ward.theirs)
    assert web.get(f"/patients/{ward.theirs}").status_code == 200
    return ward


@pytest.fixture
def ward(service: FhirService) -> Ward:
    return looked_at(service)


def patient_web(service: FhirService, patient: str) -> TestClient:
    web = browser(service)
    logged_in_as(service, web, PATIENT, fhir_user=f"Patient/{patient}", patient=patient)
    return web


def log_json(web: TestClient, status: int = 200, **params: str) -> dict[str, Any]:
    answer = web.get(PATH, params={**params, "_format": "json"})
    assert answer.status_code == status, answer.text
    assert answer.headers["cache-control"] == "no-store"
    return answer.json()  # type: ignore[no-any-return]


def test_staff_accesses_with_who_where_and_a_broken_glass_with_its_reason(service: FhirService, ward: Ward) -> None:
    web = patient_web(service, ward.theirs)
    web.get("/portal")  # their own reading is no staff access
    shown = log_json(web)
    accesses = shown["accesses"]
    assert accesses and {a["name"] for a in accesses} == {"Asta Møller"}
    assert accesses[0]["roles"] == [
        {"role": "Physician", "department": f"Kardiologisk Afdeling {ward.tag}",
         "hospital": f"Aarhus Universitetshospital {ward.tag}"}
    ]  # fmt: skip
    # The chart opened after breaking the glass: one visit of many records, shown as the broken glass.
    visit = accesses[0]
    assert visit["kinds"][:3] == ["break-the-glass", "read", "search"] and visit["kind"] == "break-the-glass"
    assert visit["count"] > 3 and visit["since"] is not None and visit["succeeded"]
    assert visit["brokenGlass"] and visit["reason"] == {"code": "ETREAT", "text": REASON}
    # Before the glass was broken the chart was refused: not labelled care, no reason.
    refused = [a for a in accesses if not a["succeeded"]]
    assert refused and all(a["reason"] is None for a in refused)
    html = web.get(PATH).text
    assert REASON in html and "Break the glass" in html and "What does “break the glass” mean?" in html
    assert f"{visit['count']} logged actions: broke the glass, opened, searched, something else" in html


def test_records_close_in_time_are_one_visit() -> None:
    def row(at: str, who: str = "Practitioner/a", kind: str = "search") -> dict[str, Any]:
        return {"who": who, "brokenGlass": False, "reason": None, "succeeded": True, "kind": kind, "what": [],
                "when": {"at": at, "text": at}}  # fmt: skip

    rows = [row("2026-11-22T10:30:00Z"), row("2026-11-22T10:20:00Z", kind="read"), row("2026-11-22T10:04:00Z"),
            row("2026-11-22T10:03:00Z", who="Practitioner/b")]  # fmt: skip
    visits = access_log.grouped(rows)
    assert [(v["who"], v["count"], v["kinds"]) for v in visits] == [
        ("Practitioner/a", 2, ["read", "search"]), ("Practitioner/a", 1, ["search"]), ("Practitioner/b", 1, ["search"])
    ]  # fmt: skip
    assert visits[0]["since"]["at"] == "2026-11-22T10:20:00Z" and visits[1]["since"] is None
    assert visits[0]["period"] == "2026-11-22T10:20:00Z–11:30" and visits[1]["period"] == "2026-11-22T10:04:00Z"


def test_no_other_patients_accesses_and_no_portal_noise(service: FhirService, ward: Ward) -> None:
    mine = patient_web(service, ward.mine)
    mine.get("/portal")
    shown = log_json(mine)
    text = orjson.dumps(shown).decode()
    assert ward.theirs not in text and REASON not in text and ward.theirs_name not in text
    assert shown["accesses"] and not any(a["brokenGlass"] for a in shown["accesses"])
    assert {a["name"] for a in shown["accesses"]} == {"Asta Møller"}  # not the patient's own portal reads
    assert all(a["reason"] is None for a in shown["accesses"])
    # A stranger with no accesses to their record sees none of theirs.
    stranger = f"stranger-{ward.tag}"
    put(service, {"resourceType": "Patient", "id": stranger, "name": [{"family": "Fremmed"}]})
    assert log_json(patient_web(service, stranger))["accesses"] == []


def test_the_period_filter(service: FhirService, ward: Ward) -> None:
    web = patient_web(service, ward.theirs)
    everything = log_json(web)["accesses"]
    assert log_json(web, **{"from": "2000-01-01", "to": "2000-12-31"})["accesses"] == []
    within = log_json(web, **{"from": "01-01-2000", "to": "31.12.2099"})
    assert within["accesses"] == everything
    assert (within["from"], within["to"]) == ("2000-01-01", "2099-12-31")
    # The trail filters by when each record was appended (the real clock here, beside the
    # service's fixed one): the records of this test are all of today, none of yesterday.
    day = today()
    assert len(log_json(web, **{"from": day.isoformat(), "to": day.isoformat()})["accesses"]) == len(everything)
    yesterday = (day - timedelta(days=1)).isoformat()
    assert log_json(web, **{"from": yesterday, "to": yesterday})["accesses"] == []


@pytest.mark.parametrize(
    ("params", "problems"),
    [
        ({"from": "yesterday"}, {"from": "not-a-day"}),
        ({"from": "2026-02-30"}, {"from": "not-a-day"}),
        ({"to": "<script>"}, {"to": "not-a-day"}),
        ({"from": "2026-12-01", "to": "2026-11-01"}, {"to": "before-from"}),
        ({"after": "not a cursor!"}, {"page": "stale-page"}),
        ({"after": "eyJyIjoiMjA5OSJ9"}, {"page": "stale-page"}),  # a cursor made by hand
    ],
)
def test_bad_input_is_answered_beside_its_field(
    service: FhirService, ward: Ward, params: dict[str, str], problems: dict[str, str]
) -> None:
    web = patient_web(service, ward.theirs)
    shown = log_json(web, 400, **params)
    assert shown["problems"] == problems and shown["accesses"] == []
    page = web.get(PATH, params=params)
    assert page.status_code == 400 and 'role="alert"' in page.text and "<script>" not in page.text


def test_a_long_log_is_paged_without_repeats(service: FhirService, ward: Ward, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(access_log, "ROWS", 2)
    monkeypatch.setattr(access_log, "ASKED", 2)
    web = patient_web(service, ward.theirs)
    seen: list[int] = []
    shown = log_json(web)
    while True:
        seen += [a["count"] for a in shown["accesses"]]
        if not shown["next"]:
            break
        shown = log_json(web, after=shown["next"])
    monkeypatch.setattr(access_log, "ROWS", 25)
    monkeypatch.setattr(access_log, "ASKED", 200)
    assert sum(seen) == sum(a["count"] for a in log_json(web)["accesses"])  # every record once


def test_reading_the_log_is_on_the_trail_as_the_patients(service: FhirService, ward: Ward) -> None:
    node = service.settings.node_id
    before = max((row.seq for row in events_after(service.repo, node, 0, 1_000_000)), default=0)
    log_json(patient_web(service, ward.theirs))
    events = [orjson.loads(row.content) for row in events_after(service.repo, node, before, 1_000_000)]
    searched = [e for e in events if e["subtype"][0]["code"] == "search-type"
                and any(a.get("who", {}).get("reference") == f"Patient/{ward.theirs}" for a in e["agent"])]  # fmt: skip
    assert searched and searched[0]["purposeOfEvent"][0]["coding"][0]["code"] == "PATRQT"


def test_a_day_as_typed() -> None:
    assert str(access_log.day_typed("7-3-2026")) == "2026-03-07"
    assert access_log.day_typed("  ") is None
    with pytest.raises(ValueError):
        access_log.day_typed("2026-13-01")


def test_another_patients_id_or_cursor_reveals_nothing(
    service: FhirService, ward: Ward, monkeypatch: pytest.MonkeyPatch
) -> None:
    theirs = patient_web(service, ward.theirs)
    monkeypatch.setattr(access_log, "ASKED", 2)
    monkeypatch.setattr(access_log, "ROWS", 1)
    cursor = log_json(theirs)["next"]
    assert cursor
    mine = patient_web(service, ward.mine)
    # The patient is the session's: an id in the address is no parameter of the page.
    for params in ({"patient": ward.theirs}, {"patient": f"Patient/{ward.theirs}", "_format": "json"}):
        answer = mine.get(PATH, params=params)
        assert answer.status_code == 200 and REASON not in answer.text and ward.theirs not in answer.text
    # Another patient's paging cursor holds only a place in the trail: the trail's own rule still
    # limits the page to the asking patient's record.
    stolen = mine.get(PATH, params={"after": cursor})
    assert stolen.status_code in (200, 400) and REASON not in stolen.text and ward.theirs not in stolen.text
    for path in ("/portal/download/record.json", f"/portal/download/record.json?patient={ward.theirs}"):
        copy = mine.get(path)
        assert copy.status_code == 200 and ward.theirs not in copy.text and ward.theirs_name not in copy.text
