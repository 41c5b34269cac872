"""The chart's imaging (web/pages/chart/imaging.py) through the JSON form, on both backends: the
studies newest first with modality, body site, series and images, each with the radiologist's
report (its conclusion, its presented form decoded, its status and reporter); older studies a page
away with their reports; the place kept for the images; a patient outside care refused with
nothing of theirs; every read on the trail naming the patient; markup shown as text."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from starlette.testclient import TestClient

from lifeline.fhir.service import FhirService
from lifeline.web.pages.chart import imaging
from tests.web.pages.test_chart import Ward, admitted_patient, doctor_logged_in, put, ref
from tests.web.pages.test_chart_results import _about, _position
from tests.web.test_login_pages import browser
from tests.web.test_middleware import as_patient

DICOM = "http://dicom.nema.org/resources/ontology/DCM"
SNOMED = "http://snomed.info/sct"
CHEST = {"system": SNOMED, "code": "51185008", "display": "Thoracic structure"}


def study(
    service: FhirService,
    ward: Ward,
    name: str,
    modality: str,
    started: str,
    series: list[tuple[str, int]],
    **values: Any,
) -> str:
    """An ImagingStudy as the generator writes it (generate/imaging.py); its id."""
    coding = {"system": DICOM, "code": modality}
    parts = [
        {"uid": f"1.2.{n}", "number": n, "modality": coding, "description": what, "numberOfInstances": count,
         "bodySite": CHEST}
        for n, (what, count) in enumerate(series, start=1)
    ]  # fmt: skip
    id_ = f"{name}-{ward.tag}"
    put(service, {
        "resourceType": "ImagingStudy", "id": id_, "status": "available", "subject": ref(f"Patient/{ward.mine}"),
        "modality": [coding], "started": started, "numberOfSeries": len(parts),
        "numberOfInstances": sum(c for _, c in series), "series": parts, **values,
    })  # fmt: skip
    return id_


def report(
    service: FhirService, ward: Ward, name: str, study_id: str, when: str, conclusion: str | None, **values: Any
) -> None:
    """The radiologist's DiagnosticReport on a study, interpreted by the ward's radiologist."""
    put(service, {
        "resourceType": "DiagnosticReport", "id": f"{name}-{ward.tag}", "status": "final",
        "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0074", "code": "RAD"}]}],
        "code": {"text": "Radiologisk beskrivelse"}, "subject": ref(f"Patient/{ward.mine}"),
        "effectiveDateTime": when, "issued": when.replace("T10", "T12"),
        "resultsInterpreter": [ref(f"PractitionerRole/rad-{ward.tag}", "Radiolog")],
        "imagingStudy": [ref(f"ImagingStudy/{study_id}")], **({"conclusion": conclusion} if conclusion else {}),
        **values,
    })  # fmt: skip


def add_imaging(service: FhirService, ward: Ward, conclusion: str = "Normale forhold for hjerte og lunger.") -> None:
    """A chest X-ray with a final report, and a later CT with a preliminary one written out in a
    presented form only."""
    put(service, {"resourceType": "Practitioner", "id": f"radp-{ward.tag}", "name": [{"text": "Rie Radiolog"}]})
    put(service, {"resourceType": "PractitionerRole", "id": f"rad-{ward.tag}", "active": True,
                  "practitioner": ref(f"Practitioner/radp-{ward.tag}"), "code": [{"text": "Overlæge"}]})  # fmt: skip
    xray = study(service, ward, "xr", "DX", "2026-11-20T10:00:00+01:00", [("PA", 1), ("Lateral", 1)],
                 description="Røntgen af thorax", location=ref("Location/rad", "Røntgenafdelingen"))  # fmt: skip
    report(service, ward, "xr-report", xray, "2026-11-20T10:00:00+01:00", conclusion)
    ct = study(service, ward, "ct", "CT", "2026-11-21T10:00:00+01:00", [("Topogram", 1), ("Thorax 1 mm", 310)],
               description="CT af thorax")  # fmt: skip
    text = base64.b64encode("Beskrivelse:\nIngen tumor i lungevævet.".encode()).decode()
    form = [{"contentType": "text/plain; charset=utf-8", "data": text}]
    report(service, ward, "ct-report", ct, "2026-11-21T10:00:00+01:00", None, status="preliminary", presentedForm=form)


@pytest.fixture
def ward(service: FhirService) -> Ward:
    ward = admitted_patient(service)
    add_imaging(service, ward)
    return ward


def imaging_json(web: TestClient, patient: str, **params: Any) -> dict[str, Any]:
    answer = web.get(f"/patients/{patient}/imaging", params={**params, "_format": "json"})
    assert answer.status_code == 200, answer.text
    assert answer.headers["cache-control"] == "no-store"
    return answer.json()  # type: ignore[no-any-return]


def test_the_studies_newest_first_with_their_reports(service: FhirService, ward: Ward) -> None:
    web, _ = doctor_logged_in(service, ward)
    shown = imaging_json(web, ward.mine)
    assert shown["showing"] == "imaging" and shown["patient"]["name"] == "Karen Sørensen"  # the header
    [ct, xray] = shown["studies"]
    assert (ct["description"], xray["description"]) == ("CT af thorax", "Røntgen af thorax")
    assert [m["code"] for m in xray["modalities"]] == ["DX"] and xray["bodySites"] == ["Thoracic structure"]
    assert (xray["seriesCount"], xray["images"], xray["place"]) == (2, 2, "Røntgenafdelingen")
    assert [s["description"] for s in ct["series"]] == ["Topogram", "Thorax 1 mm"] and ct["images"] == 311
    assert xray["when"]["text"] == "20 Nov 2026, 10:00" and xray["status"] == "available"
    [xray_report] = xray["reports"]
    assert xray_report["conclusion"] == "Normale forhold for hjerte og lunger." and xray_report["status"] == "final"
    assert xray_report["reporters"] == [{"name": "Rie Radiolog", "role": "Overlæge"}]
    assert xray_report["issued"]["text"] == "20 Nov 2026, 12:00"
    [ct_report] = ct["reports"]
    assert (
        ct_report["status"] == "preliminary"
        and ct_report["forms"][0]["text"] == "Beskrivelse:\nIngen tumor i lungevævet."
    )
    assert shown["paging"] == {"newer": None, "older": None, "newest": None}
    page = web.get(f"/patients/{ward.mine}/imaging").text
    assert "X-ray" in page and "preliminary" in page and f'id="images-{xray["id"]}"' in page
    assert "The record does not say where this study's images are kept." in page and "2 series, 2 images" in page
    assert f'href="/patients/{ward.mine}/imaging"' in web.get(f"/patients/{ward.mine}").text  # the chart's tab


def test_a_study_without_a_report_says_so(service: FhirService) -> None:
    ward = admitted_patient(service)
    study(service, ward, "us", "US", "2026-11-22T09:00:00+01:00", [("Abdomen", 24)], status="registered")
    web, _ = doctor_logged_in(service, ward)
    [only] = imaging_json(web, ward.mine)["studies"]
    assert only["reports"] == [] and only["description"] == ""
    page = web.get(f"/patients/{ward.mine}/imaging").text
    assert "No report found for this study." in page and "Ultrasound" in page and "booked, no images yet" in page
    empty = admitted_patient(service)
    web, _ = doctor_logged_in(service, empty)
    assert imaging_json(web, empty.mine)["studies"] == []
    assert 'id="no-studies"' in web.get(f"/patients/{empty.mine}/imaging").text


def test_older_studies_are_a_page_away_with_their_reports(service: FhirService, ward: Ward) -> None:
    for day in range(1, imaging.SHOWN + 1):
        old = study(service, ward, f"old{day}", "DX", f"2025-03-{day:02}T10:00:00+01:00", [("AP", 1)])
        report(service, ward, f"old{day}-report", old, f"2025-03-{day:02}T10:00:00+01:00", f"Fund {day}.")
    web, _ = doctor_logged_in(service, ward)
    first = imaging_json(web, ward.mine)
    assert len(first["studies"]) == imaging.SHOWN and first["paging"]["older"].startswith("?page=")
    second = imaging_json(web, ward.mine, page=first["paging"]["older"].removeprefix("?page="))
    seen = [s["id"] for s in first["studies"] + second["studies"]]
    assert len(seen) == len(set(seen)) == imaging.SHOWN + 2 and second["paging"]["older"] is None
    assert [s["reports"][0]["conclusion"] for s in second["studies"]] == ["Fund 2.", "Fund 1."]
    assert second["paging"]["newest"] == "?" and second["paging"]["newer"]


def test_danish_words_and_dates(service: FhirService, ward: Ward) -> None:
    web, _ = doctor_logged_in(service, ward, language="da")
    assert imaging_json(web, ward.mine)["studies"][1]["when"]["text"] == "20.11.2026 10:00"
    page = web.get(f"/patients/{ward.mine}/imaging").text
    assert "Røntgen" in page and "Billeddiagnostik" in page and "foreløbig" in page


def test_a_patient_outside_care_is_refused(service: FhirService, ward: Ward) -> None:
    web, _ = doctor_logged_in(service, ward)
    page = web.get(f"/patients/{ward.theirs}/imaging")
    assert page.status_code == 403 and "not in your care" in page.text and ward.theirs_name not in page.text
    answer = web.get(f"/patients/{ward.theirs}/imaging", params={"_format": "json"})
    assert answer.status_code == 403 and [i["code"] for i in answer.json()["issue"]] == ["suppressed"]
    assert ward.theirs_name not in answer.text
    assert web.get(f"/patients/{'a' * 65}/imaging").status_code == 404
    assert browser(service).get(f"/patients/{ward.mine}/imaging").status_code == 303  # log in first
    with browser(service) as citizen:
        as_patient(service, citizen, ward.mine)  # staff only, even their own
        assert citizen.get(f"/patients/{ward.mine}/imaging").status_code == 403


def test_the_reads_are_on_the_trail(service: FhirService, ward: Ward) -> None:
    web, username = doctor_logged_in(service, ward)
    position = _position(service)
    imaging_json(web, ward.mine)
    events = _about(service, username, ward.mine, position)
    assert len(events) >= 7  # the header's reads, the studies' and the reports'
    subtypes = {s["code"] for e in events for s in e.get("subtype", [])}
    assert {"read", "search-type"} <= subtypes, subtypes


def test_markup_in_a_report_is_shown_as_text(service: FhirService) -> None:
    ward = admitted_patient(service, name="<b>Karen</b>")
    add_imaging(service, ward, conclusion='<img src=x onerror="alert(1)">')
    study(
        service,
        ward,
        "mr",
        "MR",
        "2026-11-22T10:00:00+01:00",
        [("<i>T1</i>", 176)],
        description="<script>alert(2)</script>",
    )
    web, _ = doctor_logged_in(service, ward)
    page = web.get(f"/patients/{ward.mine}/imaging").text
    assert "<script>alert(2)" not in page and "&lt;script&gt;alert(2)&lt;/script&gt;" in page
    assert "<img src=x" not in page and "<b>Karen" not in page and "<i>T1" not in page
