"""The portal's notes and its scans and reports (web/pages/portal/notes.py, imaging.py) through
their JSON and HTML, against a real Orthanc, on both backends: signed notes only, newest first and
paged by the core's cursors, their text decoded; reports other than the laboratory's with their
scans' thumbnails, a held-back report neither listed nor its images served (page and proxy) until
a clinician releases it; another patient's scan not found, by page and by proxy; the trail naming
the patient."""

from __future__ import annotations

import base64
from dataclasses import replace
from datetime import timedelta
from typing import Any

import orjson
import pytest

from lifeline.access.held_results import released
from lifeline.audit.store import events_after
from lifeline.clock import COPENHAGEN
from lifeline.fhir.request import FhirRequest
from lifeline.fhir.service import FhirService
from lifeline.identity.principal import OPERATOR
from lifeline.imaging.orthanc import Orthanc
from lifeline.imaging.pacs import Pacs
from tests.pacs import ct_study, orthanc
from tests.web.pages.test_chart import Ward, admitted_patient, put, ref
from tests.web.pages.test_chart_imaging import report
from tests.web.pages.test_portal import json_of, patient_browser

__all__ = ["orthanc"]  # the fixture, by import
# The image proxy answers on the event loop (tests/web/pages/test_chart_viewer.py says why).
pytestmark = pytest.mark.usefixtures("client")

PROGRESS = {"coding": [{"system": "http://loinc.org", "code": "11506-3"}], "text": "Journalnotat"}


@pytest.fixture
def imaging_service(service: FhirService, orthanc: Orthanc, monkeypatch: pytest.MonkeyPatch) -> FhirService:
    monkeypatch.setattr(service, "settings", replace(service.settings, pacs_url=orthanc.url))
    return service


def note(ward: Ward, name: str, day: int, text: str, patient: str | None = None, **values: Any) -> dict[str, Any]:
    data = base64.b64encode(text.encode()).decode()
    return {
        "resourceType": "DocumentReference", "id": f"{name}-{ward.tag}", "status": "current", "docStatus": "final",
        "type": PROGRESS, "subject": ref(f"Patient/{patient or ward.mine}"),
        "date": f"2026-11-{day:02d}T09:00:00+01:00", "author": [ref(f"Practitioner/{ward.doctor}", "Læge Lise")],
        "custodian": ref("Organization/dept", "Kardiologisk afdeling"),
        "content": [{"attachment": {"contentType": "text/plain; charset=utf-8", "data": data}}], **values,
    }  # fmt: skip


def test_signed_notes_newest_first_paged_with_their_text(service: FhirService) -> None:
    ward = admitted_patient(service)
    for day in range(1, 13):
        put(service, note(ward, f"n{day}", day, f"Notat {day}.\nHar det godt."))
    put(service, note(ward, "draft", 20, "Kladde", docStatus="preliminary"))
    put(service, note(ward, "wrong", 21, "Forkert patient", status="entered-in-error"))
    put(service, note(ward, "theirs", 22, "Fremmed notat", patient=ward.theirs))
    web, _ = patient_browser(service, ward.mine)
    first = json_of(web, "/portal/notes")
    # The draft is newest and fills a place on the first page (R4 cannot search by docStatus).
    assert [n["text"].split("\n")[0] for n in first["notes"]] == [f"Notat {d}." for d in range(12, 3, -1)]
    assert first["notes"][0]["department"] == "Kardiologisk afdeling"
    assert first["notes"][0]["authors"][0]["name"] == "Læge"  # the Practitioner, read through the include
    assert first["paging"]["newer"] is None and first["paging"]["older"]
    older = json_of(web, "/portal/notes", page=first["paging"]["older"].partition("page=")[2])
    assert [n["text"].split("\n")[0] for n in older["notes"]] == ["Notat 3.", "Notat 2.", "Notat 1."]
    assert older["paging"]["newest"] == "/portal/notes"
    page = web.get("/portal/notes").text
    assert "Notat 12." in page and "Kladde" not in page and "Forkert patient" not in page and "Fremmed" not in page
    assert web.get("/portal/notes", params={"page": "not-a-cursor"}).status_code == 400


def test_a_cursor_of_another_persons_search_is_refused(service: FhirService) -> None:
    ward = admitted_patient(service)
    for day in range(1, 13):
        put(service, note(ward, f"t{day}", day, f"Fremmed {day}", patient=ward.theirs))
    theirs, _ = patient_browser(service, ward.theirs)
    cursor = json_of(theirs, "/portal/notes")["paging"]["older"].partition("page=")[2]
    web, _ = patient_browser(service, ward.mine)
    answer = web.get("/portal/notes", params={"page": cursor, "_format": "json"})
    assert answer.status_code in (400, 404) and "Fremmed" not in answer.text


def pathology(ward: Ward, when: str = "2026-10-01T10:00:00+02:00") -> dict[str, Any]:
    """A pathology report of the ward's patient, without a scan."""
    sample = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0074", "code": "SP"}]}
    return {"resourceType": "DiagnosticReport", "id": f"path-{ward.tag}", "status": "final",
            "category": [sample], "code": {"text": "Patologi"}, "subject": ref(f"Patient/{ward.mine}"),
            "effectiveDateTime": when, "issued": when, "conclusion": "Godartet."}  # fmt: skip


def scans(service: FhirService, ward: Ward, pacs: Pacs) -> tuple[dict[str, Any], dict[str, Any]]:
    """Two CTs of the ward's patient: one reported a month ago (past its hold), one reported
    yesterday (held for 7 days); a pathology report without a scan; a scan of the other patient."""
    now = service.clock()
    old, old_images = ct_study(ward.mine, "2507582065", 4, study_id=f"old-{ward.tag}")
    new, new_images = ct_study(ward.mine, "2507582065", 4, study_id=f"new-{ward.tag}")
    for study, images in ((old, old_images), (new, new_images)):
        pacs.store(images)
        put(service, study)
    month_ago = (now - timedelta(days=30)).astimezone(COPENHAGEN).date().isoformat() + "T10:00:00+01:00"
    yesterday = (now - timedelta(days=1)).astimezone(COPENHAGEN).date().isoformat() + "T10:00:00+01:00"
    report(service, ward, "old-report", old["id"], month_ago, "Ingen tumor.")
    report(service, ward, "new-report", new["id"], yesterday, "Lille knude i højre lunge.")
    put(service, pathology(ward, month_ago))
    theirs, their_images = ct_study(ward.theirs, "0101701235", 2, study_id=f"their-{ward.tag}")
    pacs.store(their_images)
    put(service, theirs)
    return old, new


def test_reports_with_their_scans_and_a_held_report_stays_hidden(
    imaging_service: FhirService, orthanc: Orthanc
) -> None:
    service = imaging_service
    ward = admitted_patient(service)
    old, new = scans(service, ward, Pacs(orthanc.url))
    web, _ = patient_browser(service, ward.mine)
    shown = json_of(web, "/portal/imaging")
    assert [r["conclusion"] for r in shown["reports"]] == ["Ingen tumor.", "Godartet."]
    assert [r["category"] for r in shown["reports"]] == ["scan", "sample"]
    [scan] = shown["reports"][0]["scans"]
    assert scan["id"] == old["id"] and scan["pictures"]["availability"] == "region"
    assert scan["pictures"]["viewer"] == f"/portal/imaging/{old['id']}"
    thumbnail = scan["pictures"]["series"][0]["thumbnail"]
    image = web.get(thumbnail)  # through the proxy, as the patient, from the real PACS
    assert image.status_code == 200 and image.headers["content-type"] == "image/jpeg"

    viewer = json_of(web, f"/portal/imaging/{old['id']}")
    assert viewer["current"]["count"] == 4 and "script" not in viewer["current"]
    assert [r["conclusion"] for r in viewer["study"]["reports"]] == ["Ingen tumor."]
    assert web.get(viewer["current"]["src"]).status_code == 200
    second = json_of(web, f"/portal/imaging/{old['id']}", series=viewer["current"]["series"], image="2")
    assert second["current"]["image"] == 2

    # The held report: not listed, its scan's page and images not found, as another patient's are.
    page = web.get("/portal/imaging").text
    assert "Lille knude" not in page and "Ingen tumor." in page and "Godartet." in page
    new_uid = str(new["identifier"][0]["value"]).removeprefix("urn:oid:")
    new_series = new["series"][0]
    new_image = f"/imaging/studies/{new_uid}/series/{new_series['uid']}/instances/{new_series['instance'][0]['uid']}"
    assert web.get(f"/portal/imaging/{new['id']}").status_code == 404
    assert web.get(new_image + "/rendered").status_code == 404
    assert web.get(f"/portal/imaging/their-{ward.tag}").status_code == 404
    assert web.get("/portal/imaging/..%2F..").status_code == 404

    # Released by a clinician: shown at once, with its images.
    put(service, released({**_stored_report(service, f"new-report-{ward.tag}")}))
    assert [r["conclusion"] for r in json_of(web, "/portal/imaging")["reports"]][0] == "Lille knude i højre lunge."
    assert web.get(f"/portal/imaging/{new['id']}").status_code == 200
    assert web.get(new_image + "/rendered").status_code == 200


def test_the_scans_are_on_the_trail_as_the_patients(imaging_service: FhirService, orthanc: Orthanc) -> None:
    service = imaging_service
    ward = admitted_patient(service)
    old, _ = scans(service, ward, Pacs(orthanc.url))
    web, _ = patient_browser(service, ward.mine)
    viewer = json_of(web, f"/portal/imaging/{old['id']}")
    before = len(events_after(service.repo, service.settings.node_id, 0, 10_000_000))
    assert web.get(viewer["current"]["src"]).status_code == 200
    events = [orjson.loads(r.content) for r in events_after(service.repo, service.settings.node_id, 0, 10_000_000)]
    # One record an image: the report that lets the patient see it is looked up inside that record.
    assert [s["code"] for e in events[before:] for s in e.get("subtype", [])] == ["imaging"]
    images = [
        e
        for e in events
        if any(s.get("code") == "imaging" for s in e.get("subtype", []))
        and any(x.get("what", {}).get("reference") == f"ImagingStudy/{old['id']}" for x in e.get("entity", []))
    ]
    assert images, "the image call is on the trail"
    assert all(f"Patient/{ward.mine}" in orjson.dumps(e).decode() for e in images)


def _stored_report(service: FhirService, report_id: str) -> dict[str, Any]:
    answer = service.handle(FhirRequest("read", "DiagnosticReport", report_id, principal=OPERATOR))
    return dict(orjson.loads(answer.raw)) if answer.raw else dict(answer.resource or {})
