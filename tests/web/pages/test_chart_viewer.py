"""The image viewer (web/pages/chart/viewer.py) and the chart's thumbnails (imaging.py) through the
JSON form, against a real Orthanc, on both backends: the series in their order with their images
in theirs, the window each series opens in, the proxy's addresses of the image shown and of every
image of its series, the report beside them; the address's choice of series, image and window, and
a clear 400 for one the study does not have; a patient outside care refused with nothing of
theirs; an unknown study, or another patient's under this one's address, not found; the images'
availability said in words (none held, store out of reach); the trail naming the patient."""

from __future__ import annotations

import random
from dataclasses import replace
from typing import Any

import pytest
from starlette.testclient import TestClient

from lifeline.fhir.service import FhirService
from lifeline.imaging.orthanc import Orthanc
from lifeline.imaging.pacs import Pacs
from lifeline.web.pages.chart.series import starting_window
from tests.pacs import CT_CLASS, DICOM, ct_study, orthanc, uid
from tests.replication.nodes import free_port
from tests.web.pages.test_chart import Ward, admitted_patient, doctor_logged_in, put
from tests.web.pages.test_chart_imaging import report
from tests.web.pages.test_chart_results import _about, _position

__all__ = ["orthanc"]  # the fixture, by import
# The image proxy answers on the event loop, and the shared repository's async pool and audit
# writer belong to the loop that first uses them: the session client's, opened first, not a
# browser's that closes after one request (tests/conftest.py `client`).
pytestmark = pytest.mark.usefixtures("client")

SLICES = 24
HEAD = {"system": "http://snomed.info/sct", "code": "69536005", "display": "Head structure"}


@pytest.fixture
def imaging_service(service: FhirService, orthanc: Orthanc, monkeypatch: pytest.MonkeyPatch) -> FhirService:
    monkeypatch.setattr(service, "settings", replace(service.settings, pacs_url=orthanc.url))
    return service


def chest_ct(service: FhirService, ward: Ward, stored: Pacs | None) -> dict[str, Any]:
    """A chest CT of the ward's patient: a scout, the thorax series in the PACS (`stored`) with its
    instances listed out of order, and a lung series; a final report on it."""
    study, datasets = ct_study(ward.mine, "2507582065", SLICES, study_id=f"ct-{ward.tag}")
    if stored is not None:
        stored.store(datasets)
    thorax = study["series"][0]
    thorax["number"] = 2
    random.Random(7).shuffle(thorax["instance"])  # the record's order is not the modality's
    coding = {"system": DICOM, "code": "CT"}
    scout = {"uid": uid(), "number": 1, "modality": coding, "description": "Topogram", "numberOfInstances": 1,
             "instance": [{"uid": uid(), "sopClass": CT_CLASS, "number": 1}]}  # fmt: skip
    lung = {**thorax, "uid": uid(), "number": 3, "description": "Lungevindue 5 mm",
            "instance": [{"uid": uid(), "sopClass": CT_CLASS, "number": n} for n in range(1, SLICES + 1)]}  # fmt: skip
    study["series"] = [lung, scout, thorax]
    study["numberOfSeries"], study["numberOfInstances"] = 3, 2 * SLICES + 1
    put(service, study)
    report(service, ward, f"ct-report-{ward.tag}", study["id"], "2026-11-20T10:00:00+01:00", "Ingen tumor.")
    return study


def viewer_json(web: TestClient, patient: str, study_id: str, **params: Any) -> dict[str, Any]:
    answer = web.get(f"/patients/{patient}/imaging/{study_id}", params={**params, "_format": "json"})
    assert answer.status_code == 200, answer.text
    assert answer.headers["cache-control"] == "no-store"
    return answer.json()  # type: ignore[no-any-return]


def study_uid_of(study: dict[str, Any]) -> str:
    return str(study["identifier"][0]["value"]).removeprefix("urn:oid:")


def by_number(series: dict[str, Any]) -> list[str]:
    return [i["uid"] for i in sorted(series["instance"], key=lambda i: i["number"])]


def test_the_viewer_shows_the_largest_series_in_order_with_the_report(
    imaging_service: FhirService, orthanc: Orthanc
) -> None:
    service = imaging_service
    ward = admitted_patient(service)
    study = chest_ct(service, ward, Pacs(orthanc.url))
    lung, scout, thorax = study["series"]
    web, _ = doctor_logged_in(service, ward)
    shown = viewer_json(web, ward.mine, study["id"])
    assert shown["showing"] == "imaging" and shown["patient"]["name"] == "Karen Sørensen"  # the chart's header
    assert shown["pictures"]["availability"] == "region" and shown["study"]["uid"] == study_uid_of(study)
    assert [s["description"] for s in shown["series"]] == ["Topogram", "Thorax 5 mm", "Lungevindue 5 mm"]
    assert [s["window"] for s in shown["series"]] == ["default", "soft-tissue", "lung"]
    assert [s["current"] for s in shown["series"]] == [False, True, False]  # the largest, the first of equals
    assert [i["uid"] for i in shown["series"][1]["instances"]] == by_number(thorax)
    assert shown["series"][1]["bodySite"] == "Thoracic structure" and shown["series"][1]["images"] == SLICES
    current = shown["current"]
    assert (current["image"], current["count"], current["window"]) == (1, SLICES, "soft-tissue")
    base = f"/imaging/studies/{study_uid_of(study)}/series/{thorax['uid']}/instances"
    assert current["instance"] == by_number(thorax)[0]
    assert current["src"] == f"{base}/{by_number(thorax)[0]}/rendered?window=40,400"
    assert current["script"]["images"] == [f"{base}/{u}/rendered" for u in by_number(thorax)]
    assert current["script"]["windows"]["lung"] == "-600,1500" and current["script"]["windows"]["default"] is None
    assert [w["id"] for w in current["windows"]] == ["soft-tissue", "lung", "bone", "brain", "default"]
    assert current["previous"] is None and "image=2" in current["next"]
    [written] = shown["study"]["reports"]
    assert written["conclusion"] == "Ingen tumor."
    assert shown["series"][1]["thumbnail"].endswith(
        f"/{by_number(thorax)[SLICES // 2 - 1]}/rendered?window=40,400&viewport=128,128"
    )
    image = web.get(current["src"])  # the address works, through the proxy, from the real PACS
    assert image.status_code == 200 and image.headers["content-type"] == "image/jpeg"

    page = web.get(f"/patients/{ward.mine}/imaging/{study['id']}")
    assert page.status_code == 200 and 'id="viewer-data"' in page.text and "viewer." in page.text
    assert "image 1 of 24, window: Soft tissue" in page.text and "Ingen tumor." in page.text
    assert "Image 1 of 24" in page.text and f'src="{base}/{by_number(thorax)[0]}/rendered?window=40,400"' in page.text
    del lung, scout
    danish, _ = doctor_logged_in(service, ward, language="da")
    page = danish.get(f"/patients/{ward.mine}/imaging/{study['id']}").text
    assert "Billede 1 af 24" in page and "Bløddele" in page and "billede 1 af 24, vindue: Bløddele" in page


def test_the_address_chooses_the_series_image_and_window(imaging_service: FhirService, orthanc: Orthanc) -> None:
    service = imaging_service
    ward = admitted_patient(service)
    study = chest_ct(service, ward, Pacs(orthanc.url))
    lung, _, thorax = study["series"]
    web, _ = doctor_logged_in(service, ward)
    tenth = viewer_json(web, ward.mine, study["id"], series=thorax["uid"], image=10, window="lung")["current"]
    assert (tenth["image"], tenth["window"], tenth["instance"]) == (10, "lung", by_number(thorax)[9])
    assert tenth["src"].endswith(f"/{by_number(thorax)[9]}/rendered?window=-600,1500")
    assert "image=9" in tenth["previous"] and "image=11" in tenth["next"] and "window=lung" in tenth["next"]
    assert [w["id"] for w in tenth["windows"] if w["current"]] == ["lung"]
    assert "image=10" in next(w["href"] for w in tenth["windows"] if w["id"] == "bone")
    lungs = viewer_json(web, ward.mine, study["id"], series=lung["uid"])["current"]
    assert lungs["window"] == "lung" and lungs["src"].endswith("?window=-600,1500")  # the series' own start
    last = viewer_json(web, ward.mine, study["id"], series=thorax["uid"], image=SLICES, window="default")["current"]
    assert last["next"] is None and last["src"].endswith(f"/{by_number(thorax)[-1]}/rendered")


@pytest.mark.parametrize(
    ("params", "said"),
    [
        ({"series": "2.25.404"}, "This study has no series '2.25.404'"),
        ({"image": "0"}, "There is no image '0' in this series: it has images 1 to 24."),
        ({"image": "25"}, "There is no image '25'"),
        ({"image": "ten"}, "There is no image 'ten'"),
        ({"window": "purple"}, "The window 'purple' is not one of this series'"),
    ],
)
def test_a_choice_the_study_does_not_have_is_a_clear_400(
    imaging_service: FhirService, orthanc: Orthanc, params: dict[str, str], said: str
) -> None:
    service = imaging_service
    ward = admitted_patient(service)
    study = chest_ct(service, ward, Pacs(orthanc.url))
    web, _ = doctor_logged_in(service, ward)
    address = f"/patients/{ward.mine}/imaging/{study['id']}"
    answer = web.get(address, params={**params, "_format": "json"})
    assert answer.status_code == 400 and said in answer.json()["issue"][0]["diagnostics"]
    page = web.get(address, params=params)
    assert page.status_code == 400 and said.replace("'", "&#39;") in page.text


def test_outside_care_refused_and_another_patients_study_not_found(service: FhirService) -> None:
    ward = admitted_patient(service)
    mine = chest_ct(service, ward, None)
    theirs, _ = ct_study(ward.theirs, "0101701235", 3, study_id=f"theirs-ct-{ward.tag}")
    put(service, theirs)
    web, _ = doctor_logged_in(service, ward)
    page = web.get(f"/patients/{ward.theirs}/imaging/{theirs['id']}")
    assert page.status_code == 403 and "not in your care" in page.text and ward.theirs_name not in page.text
    assert theirs["series"][0]["uid"] not in page.text
    answer = web.get(f"/patients/{ward.theirs}/imaging/{theirs['id']}", params={"_format": "json"})
    assert answer.status_code == 403 and [i["code"] for i in answer.json()["issue"]] == ["suppressed"]
    assert ward.theirs_name not in answer.text and theirs["series"][0]["uid"] not in answer.text
    for study_id in (theirs["id"], f"no-such-{ward.tag}", "a" * 65):  # another's, none, malformed
        missing = web.get(f"/patients/{ward.mine}/imaging/{study_id}", params={"_format": "json"})
        assert missing.status_code == 404, missing.text
        assert "This patient's record has no imaging study" in missing.json()["issue"][0]["diagnostics"]
        assert theirs["series"][0]["uid"] not in missing.text and ward.theirs_name not in missing.text
    # Without an image store the page still shows the study and its report, and says why no image.
    shown = viewer_json(web, ward.mine, mine["id"])
    assert shown["pictures"]["availability"] == "none" and shown["current"] is None
    assert shown["study"]["reports"][0]["conclusion"] == "Ingen tumor."
    assert "This node has no image store" in web.get(f"/patients/{ward.mine}/imaging/{mine['id']}").text


def test_the_chart_shows_thumbnails_or_says_why_not(
    imaging_service: FhirService, orthanc: Orthanc, monkeypatch: pytest.MonkeyPatch
) -> None:
    service = imaging_service
    ward = admitted_patient(service)
    held = chest_ct(service, ward, Pacs(orthanc.url))
    web, _ = doctor_logged_in(service, ward)
    [study] = web.get(f"/patients/{ward.mine}/imaging", params={"_format": "json"}).json()["studies"]
    seen = study["pictures"]
    assert seen["availability"] == "region" and seen["viewer"] == f"/patients/{ward.mine}/imaging/{held['id']}"
    assert [s["description"] for s in seen["series"]] == ["Topogram", "Thorax 5 mm", "Lungevindue 5 mm"]
    thorax = seen["series"][1]
    assert thorax["href"] == f"{seen['viewer']}?series={held['series'][2]['uid']}"
    assert "viewport=128,128" in thorax["thumbnail"] and thorax["images"] == SLICES
    assert web.get(thorax["thumbnail"]).headers["content-type"] == "image/jpeg"  # through the proxy
    page = web.get(f"/patients/{ward.mine}/imaging").text
    assert 'alt="CT, Thorax 5 mm, 24 images"' in page and "View images" in page

    other = admitted_patient(service)
    chest_ct(service, other, None)  # listed in the record, never sent to the PACS
    web, _ = doctor_logged_in(service, other)
    [none_held] = web.get(f"/patients/{other.mine}/imaging", params={"_format": "json"}).json()["studies"]
    assert none_held["pictures"] == {"availability": "missing", "viewer": None, "series": []}
    assert "The image store holds no images for this study." in web.get(f"/patients/{other.mine}/imaging").text

    closed = f"http://127.0.0.1:{free_port()}/dicom-web"
    monkeypatch.setattr(service, "settings", replace(service.settings, pacs_url=closed, pacs_timeout_ms=500))
    web, _ = doctor_logged_in(service, ward)  # a new app: its stores are the unreachable one
    page = web.get(f"/patients/{ward.mine}/imaging").text
    assert "The image store does not answer now, so the images cannot be shown; the report is above." in page
    viewer = viewer_json(web, ward.mine, held["id"])
    assert viewer["pictures"]["availability"] == "down" and viewer["current"] is None

    # A site: neither its own copy nor the region's PACS answers.
    own = f"http://127.0.0.1:{free_port()}/dicom-web"
    monkeypatch.setattr(service, "settings", replace(service.settings, site_pacs_url=own))
    web, _ = doctor_logged_in(service, ward)
    page = web.get(f"/patients/{ward.mine}/imaging").text
    assert "The images of this study are not available at this hospital now; the report is above." in page
    assert viewer_json(web, ward.mine, held["id"])["pictures"]["availability"] == "unreachable"


def test_the_viewers_reads_are_on_the_trail(imaging_service: FhirService, orthanc: Orthanc) -> None:
    service = imaging_service
    ward = admitted_patient(service)
    study = chest_ct(service, ward, Pacs(orthanc.url))
    web, username = doctor_logged_in(service, ward)
    position = _position(service)
    viewer_json(web, ward.mine, study["id"])
    events = _about(service, username, ward.mine, position)
    read = [
        e
        for e in events
        for x in e.get("entity", [])
        if x.get("what", {}).get("reference") == f"ImagingStudy/{study['id']}"
    ]
    assert read, "the study's read names the patient"
    assert len(events) >= 6  # the header's reads, the study's and the reports'


@pytest.mark.parametrize(
    ("description", "site", "expected"),
    [
        ("Lungevindue 5 mm", None, "lung"),
        ("Thorax 5 mm", None, "soft-tissue"),
        ("Caput 5 mm", HEAD, "brain"),
        ("Axial 5 mm", HEAD, "brain"),
        ("Knoglevindue 3 mm", HEAD, "bone"),
        ("Topogram", HEAD, "default"),
    ],
)
def test_each_ct_series_opens_in_its_window(description: str, site: dict[str, str] | None, expected: str) -> None:
    series = {"modality": "CT", "description": description, "bodySiteCode": (site or {}).get("code"),
              "bodySiteText": (site or {}).get("display", "")}  # fmt: skip
    assert starting_window(series) == expected
    assert starting_window({**series, "modality": "MR"}) == "default"  # the presets are CT's
