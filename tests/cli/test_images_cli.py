"""`lifeline images load` (cli/images.py, imaging/load.py) against a real Orthanc, on both
backends: a checked study goes to the PACS by STOW-RS, and a second run skips it; a folder with a
corrupt file, a cut-short image, a study filed under another patient or a study no ImagingStudy
names sends nothing at all and names every problem; a PACS that is down is one line."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from lifeline.cli.main import app
from lifeline.config import Settings
from lifeline.cpr import CPR_SYSTEM
from lifeline.fhir.request import FhirRequest
from lifeline.fhir.service import FhirService
from lifeline.identity.keys import new_kek
from lifeline.identity.principal import OPERATOR
from lifeline.imaging.orthanc import Orthanc
from lifeline.imaging.pacs import Pacs
from lifeline.storage import open_repository
from tests.conftest import BACKENDS, database_url, dispose
from tests.pacs import ct_study, orthanc, write_files
from tests.replication.nodes import free_port

__all__ = ["orthanc"]  # the fixture, by import
KEK = new_kek()
CPR = "2507582065"


@pytest.fixture(params=BACKENDS)
def record(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, FhirService]]:
    url = database_url(request.param, tmp_path)
    repo = open_repository(url)
    repo.migrate()
    service = FhirService(repo, Settings(kek=KEK))
    yield url, service
    dispose(repo)


def put(service: FhirService, resource: dict[str, object]) -> None:
    request = FhirRequest("update", str(resource["resourceType"]), str(resource["id"]), body=resource)
    request.principal = OPERATOR
    assert service.handle(request).status in (200, 201)


def patient_with_study(service: FhirService, folder: Path, patient: str, cpr: str = CPR, slices: int = 6) -> str:
    """A patient, their CT study in the record, and its files under `folder`; the study's UID."""
    put(service, {"resourceType": "Patient", "id": patient, "identifier": [{"system": CPR_SYSTEM, "value": cpr}]})
    study, datasets = ct_study(patient, cpr, slices)
    put(service, study)
    write_files(folder, datasets)
    return str(study["identifier"][0]["value"]).removeprefix("urn:oid:")


def load(folder: Path, pacs: str, db: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(
        app, ["images", "load", str(folder), "--pacs", pacs, "--db", db], env={"LIFELINE_KEK": KEK}
    )
    return result.exit_code, result.stdout, result.stderr


def test_a_checked_study_is_sent_once(record: tuple[str, FhirService], orthanc: Orthanc, tmp_path: Path) -> None:
    url, service = record
    uid = patient_with_study(service, tmp_path / "dicom", "p-once")
    code, out, err = load(tmp_path / "dicom", orthanc.url, url)
    assert code == 0, err
    assert "1 studies (6 images" in out and "0 already there" in out
    assert Pacs(orthanc.url).holds(uid) == 6
    code, out, _ = load(tmp_path / "dicom", orthanc.url, url)
    assert code == 0 and "0 studies" in out and "1 already there" in out


def test_a_folder_with_any_problem_sends_nothing_and_names_each(
    record: tuple[str, FhirService], orthanc: Orthanc, tmp_path: Path
) -> None:
    url, service = record
    folder = tmp_path / "dicom"
    good = patient_with_study(service, folder, "p-good")
    (folder / "notes.dcm").write_bytes(b"this is no DICOM file at all" * 10)
    short = patient_with_study(service, folder, "p-short")
    cut = next((folder / short).rglob("*.dcm"))
    cut.write_bytes(cut.read_bytes()[:-5000])
    # A study whose files say another CPR than the record's patient: filed under the wrong person.
    put(service, {"resourceType": "Patient", "id": "p-wrong", "identifier": [{"system": CPR_SYSTEM, "value": CPR}]})
    study, datasets = ct_study("p-wrong", "0101701235", 2)
    put(service, study)
    write_files(folder, datasets)
    _, stray = ct_study("p-nobody", CPR, 2)  # files of a study no ImagingStudy names
    write_files(folder, stray)

    code, _, err = load(folder, orthanc.url, url)
    assert code == 1
    assert "notes.dcm: not a DICOM file" in err
    assert "pixel data cut short" in err
    assert "filed under patient 0101701235" in err and "Patient/p-wrong" in err
    assert f"study {stray[0].StudyInstanceUID}: no ImagingStudy names it" in err
    assert "4 problem(s)" in err and "nothing was sent to the PACS" in err
    assert Pacs(orthanc.url).holds(good) == 0  # not even the good study: nothing half-loaded


def test_a_pacs_that_is_down_is_one_line(record: tuple[str, FhirService], tmp_path: Path) -> None:
    url, service = record
    patient_with_study(service, tmp_path / "dicom", "p-down", slices=2)
    code, out, err = load(tmp_path / "dicom", f"http://127.0.0.1:{free_port()}/dicom-web", url)
    assert code == 1 and out == ""
    last = err.splitlines()[-1]  # after the progress bars
    assert last.startswith("lifeline: error: The image store (127.0.0.1:") and "did not answer" in last


def test_no_folder_and_no_pacs_are_one_line(record: tuple[str, FhirService], tmp_path: Path) -> None:
    url, _ = record
    code, _, err = load(tmp_path / "missing", "http://127.0.0.1:1/dicom-web", url)
    assert code == 1 and "is not a folder" in err and err.count("\n") == 1
    (tmp_path / "empty").mkdir()
    code, _, err = load(tmp_path / "empty", "ftp://nowhere", url)
    assert code == 1 and "name the PACS" in err
