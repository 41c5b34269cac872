"""A generated region's images end to end, on both backends: `lifeline generate` writes the DICOM,
`lifeline import` the record, `lifeline images load` sends every study to a real Orthanc (a
second run sends nothing), the PACS then holds every instance every ImagingStudy lists, and a
doctor caring for a patient reads a frame of each of that patient's studies through Lifeline
while a doctor without that care is refused."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from PIL import Image
from typer.testing import CliRunner

from lifeline.cli.main import app
from lifeline.config import Settings
from lifeline.fhir.request import FhirRequest
from lifeline.fhir.service import FhirService
from lifeline.identity.keys import new_kek
from lifeline.identity.principal import OPERATOR
from lifeline.imaging.orthanc import Orthanc
from lifeline.imaging.pacs import Pacs
from lifeline.storage import open_repository
from tests.conftest import BACKENDS, database_url, dispose
from tests.pacs import orthanc
from tests.web.pages.test_chart import doctor_logged_in
from tests.web.test_login_pages import add_user, browser
from tests.web.test_middleware import logged_in_as

__all__ = ["orthanc"]  # the fixture, by import
KEK = new_kek()
PATIENTS = 12
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"


@pytest.fixture(scope="module")
def region(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("imaged") / "region"
    run("generate", "--patients", str(PATIENTS), "--seed", "9", "--today", "2026-11-23", "--out", str(out))
    return out


@pytest.fixture(params=BACKENDS)
def loaded(
    request: pytest.FixtureRequest, tmp_path: Path, region: Path, orthanc: Orthanc, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[FhirService, list[dict[str, Any]]]]:
    url = database_url(request.param, tmp_path)
    run("db", "upgrade", "--db", url)
    run("import", *map(str, sorted(region.glob("*.ndjson"))), "--db", url)
    first = run("images", "load", str(region / "dicom"), "--pacs", orthanc.url, "--db", url)
    again = run("images", "load", str(region / "dicom"), "--pacs", orthanc.url, "--db", url)
    assert "0 studies" in again and "already there" in again, (first, again)
    repo = open_repository(url)
    service = FhirService(repo, Settings(kek=KEK, issuer="http://testserver", pacs_url=orthanc.url, probe_seconds=0))
    studies = [orjson.loads(line) for line in (region / "ImagingStudy.ndjson").read_bytes().splitlines()]
    yield service, studies
    dispose(repo)


def run(*args: str) -> str:
    result = CliRunner().invoke(app, list(args), env={"LIFELINE_KEK": KEK})
    assert result.exit_code == 0, (args, result.stdout, result.stderr)
    return str(result.stdout)


def test_the_pacs_holds_every_instance_every_study_lists(loaded: tuple[FhirService, list[dict[str, Any]]]) -> None:
    service, studies = loaded
    pacs = Pacs(str(service.settings.pacs_url))
    assert studies
    for study in studies:
        uid = study["identifier"][0]["value"].removeprefix("urn:oid:")
        listed = sum(len(series["instance"]) for series in study["series"])
        assert pacs.holds(uid) == listed == study["numberOfInstances"], study["description"]


def test_a_doctor_in_care_reads_each_study_of_the_patient_and_another_is_refused(
    loaded: tuple[FhirService, list[dict[str, Any]]],
) -> None:
    service, studies = loaded
    patient = studies[0]["subject"]["reference"]
    theirs = [s for s in studies if s["subject"]["reference"] == patient]
    stay_with(service, patient, "dep-images")
    web, _ = doctor_logged_in(service, _Ward("dep-images"))
    for study in theirs:
        answer = web.get(middle_frame(study), params={"window": "40,400"})
        assert answer.status_code == 200, answer.text
        assert Image.open(io.BytesIO(answer.content)).size[0] >= 64
    stranger = browser(service)
    staff = add_user(service, practitioner="doctor-elsewhere")
    logged_in_as(service, stranger, "staff", username=staff.username, fhir_user="Practitioner/doctor-elsewhere")
    assert stranger.get(middle_frame(theirs[0])).status_code == 404


class _Ward:
    """What doctor_logged_in needs of a ward: its doctor."""

    def __init__(self, tag: str) -> None:
        self.doctor = f"doctor-{tag}"


def stay_with(service: FhirService, patient: str, tag: str) -> None:
    """A department, its doctor, and a current stay of `patient` there: care."""
    department = {"reference": f"Organization/{tag}"}
    for resource in (
        {"resourceType": "Organization", "id": tag, "name": "Billeddiagnostisk Afdeling"},
        {"resourceType": "Practitioner", "id": f"doctor-{tag}", "name": [{"family": "Billedlæge"}]},
        {"resourceType": "PractitionerRole", "id": f"role-{tag}", "active": True, "organization": department,
         "practitioner": {"reference": f"Practitioner/doctor-{tag}"}},
        {"resourceType": "Encounter", "id": f"stay-{tag}", "status": "in-progress", "serviceProvider": department,
         "class": {"system": ACT_CODE, "code": "IMP"}, "subject": {"reference": patient}},
    ):  # fmt: skip
        request = FhirRequest("update", resource["resourceType"], resource["id"], body=resource)
        request.principal = OPERATOR
        assert service.handle(request).status in (200, 201)


def middle_frame(study: dict[str, Any]) -> str:
    uid = study["identifier"][0]["value"].removeprefix("urn:oid:")
    series = max(study["series"], key=lambda s: len(s["instance"]))
    instance = series["instance"][len(series["instance"]) // 2]["uid"]
    return f"/imaging/studies/{uid}/series/{series['uid']}/instances/{instance}/frames/1/rendered"
