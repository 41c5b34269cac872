"""The image proxy (web/imaging_proxy.py) against a real Orthanc, on both backends: a clinician
reads a rendered frame of their patient's study through Lifeline, with the window they ask for;
every call is on the audit trail naming the study and the patient; a study of a patient outside
care and a UID no ImagingStudy names are refused alike, until the glass is broken; bad UIDs and
parameters get a clear OperationOutcome; a PACS that is down is a 503 that says so."""

from __future__ import annotations

import io
from dataclasses import replace
from typing import Any

import orjson
import pytest
from PIL import Image
from starlette.testclient import TestClient

from lifeline.audit.store import events_after
from lifeline.fhir.service import FhirService
from lifeline.imaging.access import NOT_OPEN
from lifeline.imaging.orthanc import Orthanc
from lifeline.imaging.pacs import Pacs
from tests.pacs import ct_study, orthanc, uid
from tests.replication.fault_proxy import FaultProxy
from tests.replication.nodes import free_port
from tests.web.pages.test_break_glass import _csrf, _dialogue
from tests.web.pages.test_chart import Ward, admitted_patient, doctor_logged_in, put

__all__ = ["orthanc"]  # the fixture, by import
# The image proxy answers on the event loop, and the shared repository's async pool and audit
# writer belong to the loop that first uses them: the session client's, opened first, not a
# browser's that closes after one request (tests/conftest.py `client`).
pytestmark = pytest.mark.usefixtures("client")


def frame_path(study: dict[str, Any], number: int) -> str:
    uid_ = study["identifier"][0]["value"].removeprefix("urn:oid:")
    series = study["series"][0]
    instance = series["instance"][number - 1]["uid"]
    return f"/imaging/studies/{uid_}/series/{series['uid']}/instances/{instance}/frames/1/rendered"


@pytest.fixture
def imaging_service(service: FhirService, orthanc: Orthanc, monkeypatch: pytest.MonkeyPatch) -> FhirService:
    monkeypatch.setattr(service, "settings", replace(service.settings, pacs_url=orthanc.url))
    return service


def stored_study(service: FhirService, orthanc: Orthanc, patient: str, slices: int = 12) -> dict[str, Any]:
    study, datasets = ct_study(patient, "2507582065", slices)
    Pacs(orthanc.url).store(datasets)
    put(service, study)
    return study


def imaging_events(service: FhirService) -> list[dict[str, Any]]:
    rows = events_after(service.repo, service.settings.node_id, 0, 1_000_000)
    events = [orjson.loads(row.content) for row in rows]
    return [e for e in events if any(s.get("code") == "imaging" for s in e.get("subtype", []))]


def test_a_clinician_sees_a_frame_of_their_patients_study_with_the_window_asked(
    imaging_service: FhirService, orthanc: Orthanc
) -> None:
    service = imaging_service
    ward = admitted_patient(service)
    study = stored_study(service, orthanc, ward.mine)
    web, username = doctor_logged_in(service, ward)
    soft = web.get(frame_path(study, 10), params={"window": "40,400"}, headers={"accept": "image/png"})
    assert soft.status_code == 200, soft.text
    assert soft.headers["content-type"] == "image/png" and soft.headers["cache-control"] == "no-store"
    image = Image.open(io.BytesIO(soft.content))
    assert image.size == (256, 256)
    lung = web.get(frame_path(study, 10), params={"window": "-600,1500"}, headers={"accept": "image/png"})
    assert lung.status_code == 200 and lung.content != soft.content  # the window changes the picture
    jpeg = web.get(frame_path(study, 1), params={"viewport": "64,64"})
    assert jpeg.headers["content-type"] == "image/jpeg" and Image.open(io.BytesIO(jpeg.content)).size[0] <= 64
    uid_ = study["identifier"][0]["value"].removeprefix("urn:oid:")
    listed = web.get(f"/imaging/studies/{uid_}/series/{study['series'][0]['uid']}/instances")
    assert listed.status_code == 200 and len(listed.json()) == 12

    mine = [e for e in imaging_events(service) if any(a.get("altId") == username for a in e["agent"])]
    assert len(mine) == 4  # every call its own record
    named = {x["what"]["reference"] for e in mine for x in e.get("entity", []) if "what" in x}
    assert {f"ImagingStudy/{study['id']}", f"Patient/{ward.mine}"} <= named
    assert all(e["outcome"] == "0" for e in mine)


def test_a_study_outside_care_and_an_unknown_uid_are_refused_alike_until_the_glass_is_broken(
    imaging_service: FhirService, orthanc: Orthanc
) -> None:
    service = imaging_service
    ward: Ward = admitted_patient(service)
    theirs = stored_study(service, orthanc, ward.theirs)
    web, username = doctor_logged_in(service, ward)
    refused = web.get(frame_path(theirs, 1))
    unknown = web.get(f"/imaging/studies/{uid()}/series/{uid()}/instances/{uid()}/frames/1/rendered")
    for answer in (refused, unknown):
        assert answer.status_code == 404 and answer.headers["content-type"].startswith("application/")
        assert answer.json()["issue"][0]["diagnostics"] == NOT_OPEN
    assert refused.content == unknown.content  # nothing says which of the two exists
    failed = [e for e in imaging_events(service) if any(a.get("altId") == username for a in e["agent"])]
    assert len(failed) == 2 and all(e["outcome"] != "0" for e in failed)

    form = {"csrf": _csrf(_dialogue(web, f"patient={ward.theirs}")), "patient": ward.theirs, "reason": "ETREAT"}
    broken = web.post("/break-the-glass", data={**form, "text": "Bevidstløs, CT før operation"}, follow_redirects=False)
    assert broken.status_code == 303
    assert web.get(frame_path(theirs, 1)).status_code == 200


def test_bad_uids_and_parameters_get_a_clear_outcome(imaging_service: FhirService, orthanc: Orthanc) -> None:
    service = imaging_service
    ward = admitted_patient(service)
    study = stored_study(service, orthanc, ward.mine, slices=2)
    web, _ = doctor_logged_in(service, ward)
    path = frame_path(study, 1)
    for params, words in (
        ({"window": "wide"}, "window=<centre>,<width>"),
        ({"viewport": "99999,1"}, "viewport=<width>,<height>"),
        ({"quality": "0"}, "quality=1..100"),
        ({"url": "http://elsewhere/"}, "not understood"),
    ):
        answer = web.get(path, params=params)
        assert answer.status_code == 400, (params, answer.text)
        assert words in answer.json()["issue"][0]["diagnostics"]
    bad = web.get("/imaging/studies/1.2.x/series")
    assert bad.status_code == 400 and "not a DICOM Study Instance UID" in bad.text
    uid_ = study["identifier"][0]["value"].removeprefix("urn:oid:")
    other_series = web.get(f"/imaging/studies/{uid_}/series/{uid()}/instances")
    assert other_series.status_code == 404 and "has no series" in other_series.text
    assert web.get(f"/imaging/studies/{uid_}/series", params={"limit": "5"}).status_code == 400


def test_a_pacs_that_is_down_is_a_503_that_says_so(service: FhirService, monkeypatch: pytest.MonkeyPatch) -> None:
    nobody = f"http://127.0.0.1:{free_port()}/dicom-web"
    monkeypatch.setattr(service, "settings", replace(service.settings, pacs_url=nobody))
    ward = admitted_patient(service)
    study, _ = ct_study(ward.mine, "2507582065", 2)
    put(service, study)
    web, _ = doctor_logged_in(service, ward)
    answer = web.get(frame_path(study, 1))
    assert answer.status_code == 503 and answer.headers["retry-after"]
    assert "did not answer" in answer.json()["issue"][0]["diagnostics"]


def test_a_node_without_a_pacs_says_so(service: FhirService) -> None:
    ward = admitted_patient(service)
    study, _ = ct_study(ward.mine, "2507582065", 2)
    put(service, study)
    web: TestClient
    web, _ = doctor_logged_in(service, ward)
    answer = web.get(frame_path(study, 1))
    assert answer.status_code == 503 and "no image store" in answer.text


def test_a_slow_pacs_is_a_503_within_the_timeout_and_then_rests(
    service: FhirService, orthanc: Orthanc, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A PACS behind a link slower than LIFELINE_PACS_TIMEOUT_MS: the viewer is told within the
    timeout, and the next frames are refused at once while the store rests, not after another wait."""
    with FaultProxy("127.0.0.1", orthanc.port) as link:
        slow = f"http://127.0.0.1:{link.port}/dicom-web"
        monkeypatch.setattr(service, "settings", replace(service.settings, pacs_url=slow, pacs_timeout_ms=300))
        ward = admitted_patient(service)
        study = stored_study(service, orthanc, ward.mine, slices=2)
        web, _ = doctor_logged_in(service, ward)
        assert web.get(frame_path(study, 1)).status_code == 200
        link.slow(2.0)
        answer = web.get(frame_path(study, 2))
        assert answer.status_code == 503 and "did not answer (ReadTimeout)" in answer.text
        again = web.get(frame_path(study, 2))
        assert again.status_code == 503 and "not a moment ago either" in again.text


def stow_body(datasets: list[Any], extra: list[tuple[str, bytes]] = ()) -> tuple[bytes, str]:  # type: ignore[assignment]
    """A STOW-RS body: the datasets as application/dicom parts, and any `extra` (type, bytes) parts."""
    boundary = "lifeline-test-boundary"
    parts = []
    for ds in datasets:
        out = io.BytesIO()
        ds.save_as(out, enforce_file_format=True)
        parts.append(("application/dicom", out.getvalue()))
    chunks = [
        f"--{boundary}\r\nContent-Type: {kind}\r\n\r\n".encode() + data + b"\r\n" for kind, data in [*parts, *extra]
    ]
    body = b"".join(chunks) + f"--{boundary}--\r\n".encode()
    return body, f'multipart/related; type="application/dicom"; boundary={boundary}'


def test_images_from_outside_are_checked_then_stored_or_nothing_is(
    imaging_service: FhirService, orthanc: Orthanc
) -> None:
    """STOW-RS through Lifeline: a CD from another hospital for a study of the doctor's patient is
    stored whole; a corrupt part, a study of another patient (by CPR), a study outside care or a
    missing CSRF token stores nothing, with every problem said."""
    service = imaging_service
    ward = admitted_patient(service)
    web, _ = doctor_logged_in(service, ward)
    csrf = _csrf(web.get("/account").text)
    study, datasets = ct_study(ward.mine, "2507582065", 3)
    put(service, study)
    uid_ = study["identifier"][0]["value"].removeprefix("urn:oid:")
    body, kind = stow_body(datasets)
    headers = {"content-type": kind, "x-csrf-token": csrf}
    assert web.post("/imaging/studies", content=body, headers={"content-type": kind}).status_code == 403
    assert Pacs(orthanc.url).holds(uid_) == 0

    wrong, wrong_sets = ct_study(ward.mine, "0101701235", 2)  # the files say another person's CPR
    put(service, wrong)
    theirs, their_sets = ct_study(ward.theirs, "0101701235", 2)
    put(service, theirs)
    bad, kind = stow_body([*datasets, *wrong_sets, *their_sets], [("application/dicom", b"no DICOM here" * 40)])
    refused = web.post("/imaging/studies", content=bad, headers={**headers, "content-type": kind})
    assert refused.status_code == 400, refused.text
    said = [issue["diagnostics"] for issue in refused.json()["issue"]]
    assert said[0] == "3 problem(s) in the images sent; nothing was stored"
    assert any("not a DICOM file" in line for line in said)
    assert any("filed under patient 0101701235" in line for line in said)
    assert any("no ImagingStudy names it" in line for line in said)  # outside care: as if none
    assert Pacs(orthanc.url).holds(uid_) == 0  # not even the good study

    stored = web.post("/imaging/studies", content=body, headers=headers)
    assert stored.status_code == 200, stored.text
    assert stored.json() == {"studies": 1, "images": 3}
    assert Pacs(orthanc.url).holds(uid_) == 3
    assert web.get(frame_path(study, 2)).status_code == 200
    text = web.post("/imaging/studies", content=b"{}", headers={**headers, "content-type": "application/json"})
    assert text.status_code == 415 and "multipart/related" in text.text


def test_images_past_the_body_limit_are_refused_whole(imaging_service: FhirService, orthanc: Orthanc) -> None:
    service = imaging_service
    ward = admitted_patient(service)
    web, _ = doctor_logged_in(service, ward)
    csrf = _csrf(web.get("/account").text)
    study, datasets = ct_study(ward.mine, "2507582065", 12)  # 12 slices of 128 KiB: past the 1 MiB limit
    put(service, study)
    body, kind = stow_body(datasets)
    assert len(body) > service.settings.max_body_bytes
    answer = web.post("/imaging/studies", content=body, headers={"content-type": kind, "x-csrf-token": csrf})
    assert answer.status_code == 413 and "limit" in answer.json()["issue"][0]["diagnostics"]
    assert Pacs(orthanc.url).holds(study["identifier"][0]["value"].removeprefix("urn:oid:")) == 0
