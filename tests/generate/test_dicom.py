"""The generator's DICOM (generate/dicom.py): a file per instance every ImagingStudy lists, carrying
the study's UIDs and the patient's name and CPR number, with pixels that look like something;
the same folder gives the same bytes; the region's one Endpoint is named by every study."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pydicom
import pytest

from lifeline.fhir.validation import Validator
from lifeline.generate import Options, Summary, generate
from lifeline.generate.imaging import SOP_CLASSES
from lifeline.generate.protocols import KEY_BY_DESCRIPTION, PROTOCOLS
from tests.generate.conftest import TODAY, read_ndjson

PATIENTS = 16


@pytest.fixture(scope="module")
def imaged(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Summary]:
    out = tmp_path_factory.mktemp("imaged")
    return out, generate(Options(PATIENTS, 5, out, TODAY, images=True))


def _by_type(folder: Path, res_type: str) -> list[dict[str, Any]]:
    return [r for r in read_ndjson(folder) if r["resourceType"] == res_type]


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted((folder / "dicom").rglob("*.dcm"))}


def test_every_instance_has_its_file_with_the_studys_uids_and_the_patients_identity(imaged):
    out, summary = imaged
    studies = _by_type(out, "ImagingStudy")
    patients = {p["id"]: p for p in _by_type(out, "Patient")}
    assert studies and summary.images is not None
    assert summary.images.studies == len(studies)
    assert summary.images.instances == sum(s["numberOfInstances"] for s in studies) == len(_files(out))
    for study in studies:
        study_uid = study["identifier"][0]["value"].removeprefix("urn:oid:")
        patient = patients[study["subject"]["reference"].removeprefix("Patient/")]
        cpr = next(i["value"] for i in patient["identifier"] if i["system"] == "urn:oid:1.2.208.176.1.2")
        protocol = PROTOCOLS[KEY_BY_DESCRIPTION[study["description"]]]
        for series, acquisition in zip(study["series"], protocol.series, strict=True):
            assert series["numberOfInstances"] == len(series["instance"])
            folder = out / "dicom" / study_uid / series["uid"]
            assert sorted(p.stem for p in folder.iterdir()) == sorted(i["uid"] for i in series["instance"])
            for instance in series["instance"]:
                ds = pydicom.dcmread(folder / f"{instance['uid']}.dcm")
                assert ds.file_meta.TransferSyntaxUID == pydicom.uid.ExplicitVRLittleEndian
                assert (ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID) == (
                    study_uid, series["uid"], instance["uid"])  # fmt: skip
                assert ds.InstanceNumber == instance["number"] and ds.SeriesNumber == series["number"]
                assert ds.SOPClassUID == SOP_CLASSES[series["modality"]["code"]]
                assert instance["sopClass"]["code"] == f"urn:oid:{ds.SOPClassUID}"
                assert ds.Modality == series["modality"]["code"] and ds.BodyPartExamined == protocol.body_part
                assert ds.PatientName.family_name == patient["name"][0]["family"]
                assert " ".join([ds.PatientName.given_name, ds.PatientName.middle_name]).strip() == " ".join(
                    patient["name"][0]["given"])  # fmt: skip
                assert ds.PatientID == cpr and ds.PatientBirthDate == patient["birthDate"].replace("-", "")
                assert ds.StudyDate == study["started"][:10].replace("-", "")
                assert ds.StudyDescription == study["description"]
                assert ds.SeriesDescription == series["description"]
                pixels = ds.pixel_array
                assert pixels.shape == (acquisition.rows, acquisition.cols) and pixels.std() > 1
                if ds.Modality in ("CT", "MR") and acquisition.plane != "projection":
                    assert len(ds.ImagePositionPatient) == 3 and float(ds.SliceThickness) > 0


def test_ct_is_in_hounsfield_units_with_the_series_window(imaged):
    out, _ = imaged
    files = [pydicom.dcmread(p) for p in sorted((out / "dicom").rglob("*.dcm"))]
    ct = [ds for ds in files if ds.Modality == "CT" and "AXIAL" in ds.ImageType]
    if not ct:
        pytest.skip("no CT in this small region")
    for ds in ct:
        assert (ds.RescaleIntercept, ds.RescaleSlope) == (-1024, 1)
        hu = ds.pixel_array.astype(np.int32) - 1024
        assert hu.min() < -900 and hu.max() > 300  # air around the body, and bone
        expected = (-600, 1500) if "Lunge" in ds.SeriesDescription else None
        if expected:
            assert (float(ds.WindowCenter), float(ds.WindowWidth)) == expected


def test_the_same_folder_gives_the_same_bytes(imaged, tmp_path):
    out, _ = imaged
    generate(Options(PATIENTS, 5, tmp_path / "again", TODAY, images=True, workers=2))
    assert _files(tmp_path / "again") == _files(out)


def test_bundles_mode_writes_the_same_images(imaged, tmp_path):
    out, _ = imaged
    generate(Options(PATIENTS, 5, tmp_path / "bundles", TODAY, images=True, bundles=True))
    assert _files(tmp_path / "bundles") == _files(out)


def test_one_valid_endpoint_named_by_every_study(imaged):
    out, _ = imaged
    [endpoint] = _by_type(out, "Endpoint")
    assert endpoint["connectionType"]["code"] == "dicom-wado-rs" and endpoint["address"].endswith("/imaging")
    validator = Validator(invariants="strict")
    assert not [w for w in validator.validate(endpoint, "Endpoint") if not w.diagnostics.startswith("dom-6")]
    studies = _by_type(out, "ImagingStudy")
    assert all(s["endpoint"] == [{"reference": f"Endpoint/{endpoint['id']}"}] for s in studies)


def test_without_images_no_dicom_is_written(tmp_path):
    summary = generate(Options(3, 5, tmp_path / "plain", TODAY))
    assert summary.images is None and not (tmp_path / "plain" / "dicom").exists()
