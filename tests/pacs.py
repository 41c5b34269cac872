"""A real PACS for the tests: Debian's Orthanc with its DICOMweb plugin, on a loopback port
(imaging/orthanc.py, as `lifeline images pacs start` runs it), and small DICOM studies to put in it.

    from tests.pacs import orthanc, ct_study   # the fixture, by import

`orthanc` is one Orthanc for the session (tests isolate by fresh UIDs); `fresh_orthanc` starts
one for a test that stops it. `ct_study` makes a few CT slices of a simple phantom, filed under a
patient's CPR, and the ImagingStudy that names them, as the generator writes both.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian

from lifeline.imaging.orthanc import Orthanc
from tests.replication.nodes import free_port

DICOM = "http://dicom.nema.org/resources/ontology/DCM"
CHEST = {"system": "http://snomed.info/sct", "code": "51185008", "display": "Thoracic structure"}
CT_CLASS = {"system": "urn:ietf:rfc:3986", "code": f"urn:oid:{CTImageStorage}"}


def running(folder: Path) -> Iterator[Orthanc]:
    """An Orthanc over `folder` on a free loopback port, for as long as the fixture lives."""
    pacs = Orthanc(folder, free_port())
    pacs.start()
    yield pacs
    pacs.stop()


@pytest.fixture(scope="session")
def orthanc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Orthanc]:
    yield from running(tmp_path_factory.mktemp("orthanc"))


@pytest.fixture(scope="session")
def site_orthanc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Orthanc]:
    """A second Orthanc for the session: a site node's own small PACS, beside the region's."""
    yield from running(tmp_path_factory.mktemp("site-orthanc"))


@pytest.fixture
def fresh_orthanc(tmp_path: Path) -> Iterator[Orthanc]:
    yield from running(tmp_path / "orthanc")


def uid() -> str:
    return f"2.25.{uuid.uuid4().int}"


def slice_of(
    study: str, series: str, instance: str, number: int, slices: int, cpr: str, name: str = "Sørensen^Karen"
) -> Dataset:
    """One CT slice (256x256, Hounsfield units): a body, two lungs that narrow through the
    volume, and a bright disc whose place says the slice's number."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID = CTImageStorage, instance
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = CTImageStorage, instance
    ds.StudyInstanceUID, ds.SeriesInstanceUID = study, series
    ds.PatientName, ds.PatientID, ds.Modality, ds.BodyPartExamined = name, cpr, "CT", "CHEST"
    ds.StudyDate, ds.StudyDescription, ds.SeriesNumber, ds.InstanceNumber = "20261120", "CT af thorax", 1, number
    ds.Rows = ds.Columns = 256
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 1
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.RescaleIntercept, ds.RescaleSlope, ds.WindowCenter, ds.WindowWidth = -1024, 1, 40, 400
    ds.PixelSpacing, ds.SliceThickness = [1.5, 1.5], 5
    y, x = np.mgrid[-128:128, -128:128]
    body = (x / 110.0) ** 2 + (y / 85.0) ** 2 < 1
    lung = ((np.abs(x) - 45) / 30.0) ** 2 + (y / (60.0 - 30.0 * number / slices)) ** 2 < 1
    marker = (x - (number * 200 // slices - 100)) ** 2 + (y + 70) ** 2 < 36
    hu = np.where(body, 40, -1000) + np.where(lung & body, -850, 0) + np.where(marker, 900, 0)
    ds.PixelData = (hu + 1024).clip(0, 4095).astype(np.int16).tobytes()
    return ds


def ct_study(
    patient: str, cpr: str, slices: int = 12, started: date | None = None, study_id: str | None = None
) -> tuple[dict[str, Any], list[Dataset]]:
    """An ImagingStudy of `patient` with one CT series of `slices` slices, and those slices."""
    study, series = uid(), uid()
    instances = [uid() for _ in range(slices)]
    datasets = [slice_of(study, series, u, n, slices, cpr) for n, u in enumerate(instances, start=1)]
    coding = {"system": DICOM, "code": "CT", "display": "Computed Tomography"}
    resource = {
        "resourceType": "ImagingStudy",
        "id": study_id or f"ct-{uuid.uuid4().hex[:12]}",
        "identifier": [{"system": "urn:dicom:uid", "value": f"urn:oid:{study}"}],
        "status": "available",
        "subject": {"reference": f"Patient/{patient}"},
        "started": f"{started or date(2026, 11, 20)}T10:00:00+01:00",
        "modality": [coding],
        "description": "CT af thorax",
        "numberOfSeries": 1,
        "numberOfInstances": slices,
        "series": [
            {
                "uid": series,
                "number": 1,
                "modality": coding,
                "description": "Thorax 5 mm",
                "numberOfInstances": slices,
                "bodySite": CHEST,
                "instance": [{"uid": u, "sopClass": CT_CLASS, "number": n} for n, u in enumerate(instances, start=1)],
            }
        ],
    }
    return resource, datasets


def write_files(folder: Path, datasets: list[Dataset]) -> list[Path]:
    """The datasets as DICOM Part 10 files under `folder`, as the generator lays them out."""
    paths = []
    for ds in datasets:
        path = folder / ds.StudyInstanceUID / ds.SeriesInstanceUID / f"{ds.SOPInstanceUID}.dcm"
        path.parent.mkdir(parents=True, exist_ok=True)
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths


def as_files(datasets: list[Dataset]) -> list[Dataset]:
    """The datasets as `lifeline images load` sends them: read back from DICOM files, preamble and
    all. Orthanc keeps what it is sent and gives it back as it is, and a WADO-RS retrieve reads
    each part as a file (a dataset stored without its preamble cannot be retrieved)."""
    import io

    import pydicom

    files: list[Dataset] = []
    for dataset in datasets:
        buffer = io.BytesIO()
        dataset.save_as(buffer, enforce_file_format=True)
        buffer.seek(0)
        files.append(pydicom.dcmread(buffer))
    return files
