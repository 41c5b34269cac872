"""Re-entry after a downtime (downtime/reentry.py, web/pages/reentry.py) on both backends: the
identifiers a label sheet issues recorded; one typed and checked (form, check digit, issued
here); linked to the patient found through the core, or to a patient registered now; vital
signs, a note and a dose given entered at their original time, tagged re-entered and carrying
the identifier, once however often a form is sent; a patient outside care refused in words with
nothing written; the report and `lifeline downtime pending` listing what is still to re-enter."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from starlette.testclient import TestClient
from typer.testing import CliRunner

from lifeline.cli.main import app
from lifeline.clock import COPENHAGEN
from lifeline.config import Settings
from lifeline.downtime import export, labels, reentry
from lifeline.fhir.request import FhirRequest
from lifeline.fhir.service import FhirService
from lifeline.identity.keys import new_kek
from lifeline.identity.principal import OPERATOR
from lifeline.storage import open_repository
from lifeline.web.pages.chart import form_key
from tests.conftest import database_url, dispose
from tests.downtime.helpers import KEY, Ward, admitted_patient
from tests.web.pages.test_chart_notes import doctor
from tests.web.test_login_pages import browser

LABEL = "/downtime/reentry/label"
KEK = new_kek()
TAG = {"system": reentry.SYSTEM, "code": "re-entered"}


@pytest.fixture
def ward(service: FhirService) -> Ward:
    return admitted_patient(service)


def sheet(service: FhirService, count: int = 3, made: datetime | None = None) -> list[str]:
    """A label sheet of a site of its own, made now: its identifiers, recorded as issued."""
    site = f"T{uuid.uuid4().hex[:6].upper()}"
    made = made or service.clock()
    found = labels.identifiers(site, made, count)
    assert reentry.issue(service.repo, site, made, found) == count
    return found


def field_time(service: FhirService, back: timedelta) -> str:
    return (service.clock() - back).astimezone(COPENHAGEN).strftime("%Y-%m-%dT%H:%M")


def label_json(web: TestClient, dt: str, **params: str) -> dict[str, Any]:
    answer = web.get(LABEL, params={"dt": dt, "_format": "json", **params})
    assert answer.status_code == 200, answer.text
    return answer.json()  # type: ignore[no-any-return]


def post(web: TestClient, csrf: str, dt: str, do: str, **fields: str) -> Any:
    return web.post(LABEL, data={"csrf": csrf, "dt": dt, "do": do, **fields})


def written(service: FhirService, res_type: str, dt: str) -> list[dict[str, Any]]:
    """What was written against `dt`, found by the identifier it carries."""
    params = [("identifier", f"{reentry.SYSTEM}|{dt}"), ("_count", "100")]
    answer = service.handle(FhirRequest("search", res_type, params=params, principal=OPERATOR)).resource
    bundle = orjson.loads(orjson.dumps(answer))
    return [e["resource"] for e in bundle.get("entry", []) if e["search"]["mode"] == "match"]


def linked(service: FhirService, ward: Ward) -> tuple[TestClient, str, str]:
    """The doctor logged in, and an identifier linked to their patient."""
    web, _, csrf = doctor(service, ward)
    dt = sheet(service)[0]
    assert post(web, csrf, dt, "link", patient=ward.mine).status_code == 303
    return web, csrf, dt


def test_the_sheet_a_run_makes_is_recorded_as_issued(service: FhirService, ward: Ward, tmp_path: Path) -> None:
    site = f"S{uuid.uuid4().hex[:6]}"
    settings = replace(service.settings, downtime_dir=str(tmp_path), downtime_key=KEY, node_id=site)
    core = service.as_user(replace(OPERATOR, subject="operator:nurse-it"), None, "HOPERAT")
    made = datetime(2026, 11, 22, 11, 15, tzinfo=COPENHAGEN)
    export.run(core, settings, export.plan(core, [f"ward-{ward.tag}"], [], False), made)
    issued = labels.identifiers(site, made, export.LABELS)
    for identifier in issued:
        found = reentry.label(service.repo, identifier)
        assert found is not None and found.site == site and found.state == "to-link"
    export.run(core, settings, export.plan(core, [f"ward-{ward.tag}"], [], False), made)  # the same minute again
    assert reentry.issue(service.repo, site, made, issued) == 0


@pytest.mark.parametrize(
    ("typed", "problem"),
    [("", "missing"), ("DT-HERLEV-2026-1", "format"), ("hello", "format")],
)
def test_a_wrong_identifier_is_said_beside_the_field(
    service: FhirService, ward: Ward, typed: str, problem: str
) -> None:
    web, _, csrf = doctor(service, ward)
    shown = label_json(web, typed)
    assert shown["problem"] == problem and shown["label"] is None
    answer = post(web, csrf, typed, "link", patient=ward.mine)
    assert answer.status_code == 400 and 'id="dt-error"' in answer.text


def test_a_miscopied_digit_and_an_identifier_never_issued_are_refused(service: FhirService, ward: Ward) -> None:
    web, _, csrf = doctor(service, ward)
    dt = sheet(service)[0]
    miscopied = dt[:-3] + str((int(dt[-3]) + 1) % 10) + dt[-2:]  # a digit of the number, the check as it was
    assert label_json(web, miscopied)["problem"] == "check"
    never = labels.identifiers("NOWHERE", service.clock(), 1)[0]
    assert label_json(web, never)["problem"] == "unknown"
    answer = post(web, csrf, never, "link", patient=ward.mine)
    assert answer.status_code == 400 and "issued this identifier" in answer.text
    # Typed in lower case with spaces, or with the dashes a phone makes, it is the same identifier.
    assert label_json(web, f"  {dt.lower()} ")["problem"] is None
    assert label_json(web, dt.replace("-", "\u2010"))["label"]["identifier"] == dt


def test_linking_finds_the_patient_through_the_core_and_keeps_who_and_when(service: FhirService, ward: Ward) -> None:
    web, _, csrf = doctor(service, ward)
    dt = sheet(service)[0]
    shown = label_json(web, dt, q="250758-2065")
    assert shown["label"]["state"] == "to-link" and [p["id"] for p in shown["search"]["patients"]] == [ward.mine]
    outside = label_json(web, dt, q=ward.theirs_name)
    assert outside["search"]["patients"] == []  # outside care: not found by name
    answer = post(web, csrf, dt, "link", patient=ward.mine)
    assert answer.status_code == 303 and answer.headers["location"] == f"{LABEL}?dt={dt}#entries"
    found = reentry.label(service.repo, dt)
    assert found is not None and found.patient_id == ward.mine and found.state == "to-enter"
    assert found.linked_by == f"Practitioner/{ward.doctor}" and found.linked_at
    patient = written(service, "Patient", dt)
    assert [p["id"] for p in patient] == [ward.mine]
    assert {"use": "secondary", "system": reentry.SYSTEM, "value": dt} == {
        k: v for k, v in patient[0]["identifier"][-1].items() if k != "period"
    }
    shown = label_json(web, dt)
    assert shown["label"]["patient"]["name"] == "Karen Sørensen" and shown["label"]["linkedBy"]
    assert set(shown["form"]) >= {"vitals", "note", "dose"}
    # Linked twice (sent again): the same link; to another patient: refused.
    assert post(web, csrf, dt, "link", patient=ward.mine).status_code == 303
    assert len([i for i in written(service, "Patient", dt)[0]["identifier"] if i["system"] == reentry.SYSTEM]) == 1
    refused = post(web, csrf, dt, "link", patient=ward.theirs)
    assert refused.status_code == 409 and "linked to another patient" in refused.text


def test_a_patient_outside_care_is_refused_in_words_with_nothing_written(service: FhirService, ward: Ward) -> None:
    web, _, csrf = doctor(service, ward)
    dt = sheet(service)[0]
    answer = post(web, csrf, dt, "link", patient=ward.theirs)
    assert answer.status_code == 403 and "This patient is not in your care" in answer.text
    assert f"/break-the-glass?patient={ward.theirs}" in answer.text and ward.theirs_name not in answer.text
    found = reentry.label(service.repo, dt)
    assert found is not None and found.patient_id is None
    assert written(service, "Patient", dt) == []


def test_vital_signs_are_entered_at_their_original_time_tagged_re_entered(service: FhirService, ward: Ward) -> None:
    web, csrf, dt = linked(service, ward)
    key = label_json(web, dt)["form"]["vitals"]["key"]
    when = field_time(service, timedelta(days=12))  # beyond the chart's 7 days, within 30
    fields = {"key": key, "when": when, "pulse": "96", "systolic": "142", "diastolic": "88", "temp": "38,2"}
    answer = post(web, csrf, dt, "vitals", **fields)
    assert answer.status_code == 303, answer.text
    again = post(web, csrf, dt, "vitals", **fields)  # sent twice: written once
    assert again.status_code == 303
    observations = written(service, "Observation", dt)
    assert len(observations) == 3  # pulse, the blood pressure panel, temperature
    for observation in observations:
        assert TAG.items() <= observation["meta"]["tag"][0].items()
        assert observation["effectiveDateTime"].startswith(when) and observation["subject"]["reference"].endswith(
            ward.mine
        )
        assert observation["performer"] == [{"reference": f"Practitioner/{ward.doctor}"}]
        assert any(i["system"] == form_key.KEY_SYSTEM for i in observation["identifier"])
    found = reentry.label(service.repo, dt)
    assert found is not None and found.state == "entered" and len(found.entries) == 1
    assert found.entries[0].kind == "vitals" and len(found.entries[0].resources) == 3


def test_a_note_and_a_dose_given_are_entered(service: FhirService, ward: Ward) -> None:
    web, csrf, dt = linked(service, ward)
    when = field_time(service, timedelta(days=2, hours=3))
    note = {"key": form_key.new_key(), "when": when, "type": "34111-5", "text": "Faldet i hjemmet. Sutureret."}
    assert post(web, csrf, dt, "note", **note).status_code == 303
    assert post(web, csrf, dt, "note", **note).status_code == 303  # twice: once
    dose = {"key": form_key.new_key(), "when": when, "medicine": "Paracetamol", "dose": "1", "unit": "g",
            "route": "26643006"}  # fmt: skip
    assert post(web, csrf, dt, "dose", **dose).status_code == 303
    [document] = written(service, "DocumentReference", dt)
    assert document["context"]["period"]["start"].startswith(when) and TAG.items() <= document["meta"]["tag"][0].items()
    assert document["date"][:10] == service.clock().astimezone(COPENHAGEN).date().isoformat()  # entered today
    [given] = written(service, "MedicationAdministration", dt)
    assert given["effectiveDateTime"].startswith(when) and given["medicationCodeableConcept"] == {"text": "Paracetamol"}
    assert given["dosage"]["dose"]["value"] == 1 and TAG.items() <= given["meta"]["tag"][0].items()
    found = reentry.label(service.repo, dt)
    assert found is not None and sorted(e.kind for e in found.entries) == ["dose", "note"]


@pytest.mark.parametrize(
    ("back", "problem"), [(timedelta(days=31), "old"), (timedelta(hours=-2), "future"), (None, "missing")]
)
def test_a_time_outside_the_30_days_or_to_come_is_refused(
    service: FhirService, ward: Ward, back: timedelta | None, problem: str
) -> None:
    web, csrf, dt = linked(service, ward)
    when = field_time(service, back) if back is not None else ""
    answer = post(web, csrf, dt, "vitals", key=form_key.new_key(), when=when, pulse="80")
    assert answer.status_code == 400 and 'id="vitals-when-error"' in answer.text
    assert written(service, "Observation", dt) == []
    dose = post(web, csrf, dt, "dose", key=form_key.new_key(), when=when, medicine="", dose="x", unit="mg", route="")
    assert dose.status_code == 400
    for field in ("dose-when", "dose-medicine", "dose-dose", "dose-route"):
        assert f'id="{field}-error"' in dose.text, field
    assert written(service, "MedicationAdministration", dt) == []


def test_an_unknown_patient_is_registered_once_with_the_identifier(service: FhirService, ward: Ward) -> None:
    web, _, csrf = doctor(service, ward)
    dt = sheet(service)[0]
    bad = post(web, csrf, dt, "register", family="", cpr="12345", born="2999-01-01", sex="unknown")
    assert bad.status_code == 400
    for field in ("reg-family", "reg-cpr", "reg-born"):
        assert f'id="{field}-error"' in bad.text, field
    known = post(web, csrf, dt, "register", family="Sørensen", cpr="250758-2065", sex="female")
    assert known.status_code == 400 and "search for it above and link to it instead" in known.text
    fields = {"family": f"Ukendt{uuid.uuid4().hex[:6]}", "given": "Mand", "sex": "male"}
    assert post(web, csrf, dt, "register", **fields).status_code == 303
    assert post(web, csrf, dt, "register", **fields).status_code == 303  # sent twice
    [patient] = written(service, "Patient", dt)
    assert patient["name"][0]["family"] == fields["family"] and patient["gender"] == "male"
    found = reentry.label(service.repo, dt)
    assert found is not None and found.patient_id == patient["id"]
    # Registered, the patient is in no one's care yet (no stay ties them to a department): the core
    # refuses entries until the glass is broken or a stay is recorded, and the page says so.
    entry = post(
        web, csrf, dt, "vitals", key=form_key.new_key(), when=field_time(service, timedelta(hours=1)), pulse="80"
    )
    assert entry.status_code == 403 and f"/break-the-glass?patient={patient['id']}" in entry.text
    assert written(service, "Observation", dt) == []


def test_the_report_lists_what_is_still_to_re_enter_first(service: FhirService, ward: Ward) -> None:
    web, csrf, dt = linked(service, ward)
    report = web.get("/downtime/reentry", params={"_format": "json"})
    assert report.status_code == 200
    shown = report.json()
    assert dt in [each["identifier"] for each in shown["toEnter"]]
    [mine] = [s for s in shown["sheets"] if dt in [each["identifier"] for each in s["labels"]]]
    assert mine["linked"] == 1 and len(mine["labels"]) == 3
    made = [datetime.strptime(s["made"], "%d.%m.%Y %H:%M") for s in shown["sheets"]]
    assert made == sorted(made, reverse=True)  # the newest sheet first
    page = web.get("/downtime/reentry")
    assert page.status_code == 200 and page.text.index(dt) < page.text.index('id="sheets"')
    when = field_time(service, timedelta(hours=5))
    note = {"key": form_key.new_key(), "when": when, "type": "11506-3", "text": "Set."}
    assert post(web, csrf, dt, "note", **note).status_code == 303
    after = web.get("/downtime/reentry", params={"_format": "json"}).json()
    assert dt not in [each["identifier"] for each in after["toEnter"]]
    [entered] = [each for sheet_ in after["sheets"] for each in sheet_["labels"] if each["identifier"] == dt]
    assert entered["state"] == "entered" and entered["entries"][0]["kind"] == "note"


def test_the_pages_are_for_staff(service: FhirService) -> None:
    for address in ("/downtime/reentry", LABEL):
        answer = browser(service).get(address)
        assert answer.status_code == 303 and answer.headers["location"].startswith("/login?next=")


def test_pending_prints_the_same_list(backend: str, tmp_path: Path) -> None:
    """`lifeline downtime pending` on a database of its own (the command reads the real clock: the
    last 30 days from today)."""
    url = database_url(backend, tmp_path)
    repo = open_repository(url)
    repo.migrate()
    service = FhirService(repo, Settings(db=url, kek=KEK))
    try:
        ward = admitted_patient(service)
        dt, *rest = sheet(service)
        core = service.as_user(replace(OPERATOR, subject="operator:ward-clerk"), None, "HOPERAT")
        found = reentry.label(repo, dt)
        assert found is not None
        reentry.link(core, repo, found, ward.mine, "operator:ward-clerk", service.clock())
        result = CliRunner().invoke(app, ["downtime", "pending", "--db", url], env={"LIFELINE_KEK": KEK})
    finally:
        dispose(repo, service)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith(dt), result.output
    assert lines[0].startswith(dt) and "linked, nothing entered" in lines[0] and f"Patient/{ward.mine}" in lines[0]
    assert all(any(line.startswith(i) and "not linked" in line for line in lines[1:]) for i in rest)
    assert "1 linked, nothing entered, 2 not linked, 0 entered" in result.output
