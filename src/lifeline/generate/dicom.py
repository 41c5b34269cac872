"""The images of a generated region as DICOM Part 10 files, so that a real PACS (Orthanc) holds
what the ImagingStudy resources describe: `{out}/dicom/{StudyUID}/{SeriesUID}/{SOPInstanceUID}.dcm`,
one per instance the study lists, Explicit VR Little Endian, uncompressed.

Made from the written folder (NDJSON or Bundles), after the FHIR files: the patient's name, CPR
number, birth date and sex, and the study's UIDs, times, place and referrer, are the record's own.
The pixels are drawn (phantoms/) from a random stream seeded by each instance's UID, and nothing
reads the clock, so the same folder gives the same bytes. https://dicom.nema.org/medical/dicom/current/output/html/part10.html"""

from __future__ import annotations

import hashlib
import multiprocessing
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import orjson
from pydicom import dcmwrite
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import UID, ExplicitVRLittleEndian

from lifeline.generate.codes import CPR
from lifeline.generate.imaging import SOP_CLASSES, STUDIES
from lifeline.generate.phantoms import Frame
from lifeline.generate.phantoms.radiographs import laterality
from lifeline.generate.protocols import KEY_BY_DESCRIPTION, PROTOCOLS, Series
from lifeline.generate.writer import PATIENT_BUNDLES

Resource = dict[str, Any]
FOLDER = "dicom"
_SEX = {"male": "M", "female": "F", "other": "O"}
_ABNORMAL = {study.abnormal for study in STUDIES.values()}
_MR = {
    "T1": ("SE", 500.0, 15.0),
    "T2": ("SE", 4000.0, 100.0),
    "FLAIR": ("IR", 9000.0, 120.0),
    "DWI": ("EP", 5000.0, 90.0),
}


@dataclass
class ImageSummary:
    studies: int = 0
    instances: int = 0
    bytes: int = 0


@dataclass(frozen=True)
class Patient:
    name: str  # DICOM PN
    cpr: str
    birth: str  # YYYYMMDD
    sex: str


def write_images(
    out: Path, total: int, workers: int = 1, on_progress: Callable[[int], None] = lambda studies: None
) -> ImageSummary:
    """Write every ImagingStudy's instances under `out/dicom`; `total` studies are expected."""
    summary = ImageSummary()
    for instances, size in _made(out, total, workers):
        summary.studies += 1
        summary.instances += instances
        summary.bytes += size
        on_progress(summary.studies)
    return summary


def _made(out: Path, total: int, workers: int) -> Iterator[tuple[int, int]]:
    work = _work(out)
    if workers <= 1 or total < 8:
        for study, patient, abnormal in work:
            yield write_study(out, study, patient, abnormal)
        return
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        in_flight: deque[Future[tuple[int, int]]] = deque()
        for item in work:
            in_flight.append(pool.submit(write_study, out, *item))
            if len(in_flight) >= 8 * workers:
                yield in_flight.popleft().result()
        while in_flight:
            yield in_flight.popleft().result()


def _work(out: Path) -> Iterator[tuple[Resource, Patient, bool]]:
    """Each study with its patient and whether its report is abnormal, from NDJSON or Bundles."""
    bundles = out / PATIENT_BUNDLES
    if bundles.exists():
        with bundles.open("rb") as lines:
            for line in lines:  # one patient's Bundle
                resources = [entry["resource"] for entry in orjson.loads(line)["entry"]]
                patients = {r["id"]: _patient(r) for r in resources if r["resourceType"] == "Patient"}
                abnormal = _abnormal(r for r in resources if r["resourceType"] == "DiagnosticReport")
                for study in (r for r in resources if r["resourceType"] == "ImagingStudy"):
                    patient = patients[study["subject"]["reference"].removeprefix("Patient/")]
                    yield study, patient, study["id"] in abnormal
        return
    if not (out / "ImagingStudy.ndjson").exists():
        return
    patients = {r["id"]: _patient(r) for r in _ndjson(out / "Patient.ndjson")}
    abnormal = _abnormal(_ndjson(out / "DiagnosticReport.ndjson"))
    for study in _ndjson(out / "ImagingStudy.ndjson"):
        yield study, patients[study["subject"]["reference"].removeprefix("Patient/")], study["id"] in abnormal


def _ndjson(path: Path) -> Iterator[Resource]:
    if path.exists():
        with path.open("rb") as lines:
            for line in lines:
                yield orjson.loads(line)


def _abnormal(reports: Iterator[Resource]) -> set[str]:
    """The studies whose radiology report concludes with the study's abnormal finding."""
    return {
        ref["reference"].removeprefix("ImagingStudy/")
        for report in reports
        if report.get("conclusion") in _ABNORMAL
        for ref in report.get("imagingStudy", ())
    }


def _patient(resource: Resource) -> Patient:
    name = (resource.get("name") or [{}])[0]
    cpr = next((i["value"] for i in resource.get("identifier", ()) if i.get("system") == CPR), "")
    given = name.get("given") or [""]
    middle = f"^{' '.join(given[1:])}" if len(given) > 1 else ""
    return Patient(
        f"{name.get('family', '')}^{given[0]}{middle}",  # DICOM PN: family^given^middle
        cpr,
        resource.get("birthDate", "").replace("-", ""),
        _SEX.get(resource.get("gender", ""), "O"),
    )


def write_study(out: Path, study: Resource, patient: Patient, abnormal: bool) -> tuple[int, int]:
    """Write one study's files; returns (instances, bytes). Runs in a worker process."""
    key = KEY_BY_DESCRIPTION[study["description"]]
    protocol = PROTOCOLS[key]
    modality = STUDIES[key].modality
    study_uid = study["identifier"][0]["value"].removeprefix("urn:oid:")
    instances = size = 0
    for series, acquisition in zip(study["series"], protocol.series, strict=True):
        ds = _series_dataset(study, series, acquisition, patient, study_uid, modality, protocol.body_part)
        folder = out / FOLDER / study_uid / series["uid"]
        folder.mkdir(parents=True, exist_ok=True)
        for instance in series["instance"]:
            path = folder / f"{instance['uid']}.dcm"
            _instance(ds, instance, len(series["instance"]), acquisition, modality, abnormal)
            dcmwrite(path, ds, enforce_file_format=True)
            instances += 1
            size += path.stat().st_size
    return instances, size


def _series_dataset(
    study: Resource, series: Resource, acquisition: Series, patient: Patient, study_uid: str, modality: str, body: str
) -> Dataset:
    started = study["started"]  # local time in Copenhagen, with its offset
    date, time = started[:10].replace("-", ""), started[11:19].replace(":", "")
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = UID(SOP_CLASSES[modality])
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SpecificCharacterSet = "ISO_IR 192"  # UTF-8: æ, ø and å in names
    ds.SOPClassUID = SOP_CLASSES[modality]
    ds.StudyDate = ds.SeriesDate = ds.ContentDate = date
    ds.StudyTime = ds.SeriesTime = ds.ContentTime = time
    ds.TimezoneOffsetFromUTC = started[19:].replace(":", "")
    ds.AccessionNumber = (
        f"LL{int.from_bytes(hashlib.blake2b(study_uid.encode(), digest_size=8).digest()) % 10**12:012d}"
    )
    ds.Modality = modality
    ds.Manufacturer = "Lifeline (synthetic)"
    ds.InstitutionName = study.get("location", {}).get("display", "")[:64]
    ds.ReferringPhysicianName = _person_name(study.get("referrer", {}).get("display", ""))
    ds.StudyDescription = study["description"][:64]
    ds.SeriesDescription = series["description"][:64]
    ds.PatientName = patient.name
    ds.PatientID = patient.cpr
    ds.PatientBirthDate = patient.birth
    ds.PatientSex = patient.sex
    ds.BodyPartExamined = body
    ds.StudyInstanceUID = study_uid
    ds.SeriesInstanceUID = series["uid"]
    ds.StudyID = ds.AccessionNumber[-8:]
    ds.SeriesNumber = series["number"]
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows, ds.Columns = acquisition.rows, acquisition.cols
    bits = 8 if modality == "US" else 12
    ds.BitsAllocated = 8 if bits == 8 else 16
    ds.BitsStored, ds.HighBit, ds.PixelRepresentation = bits, bits - 1, 0
    ds.WindowCenter, ds.WindowWidth = acquisition.window
    if acquisition.plane != "projection" or modality in ("CT", "MR"):
        ds.PixelSpacing = [acquisition.spacing, acquisition.spacing]
        ds.FrameOfReferenceUID = _uid(f"{study_uid}/frame")
        ds.PositionReferenceIndicator = ""
    if modality == "CT":
        localizer = acquisition.plane == "projection"
        ds.ImageType = ["ORIGINAL", "PRIMARY", "LOCALIZER" if localizer else "AXIAL"]
        ds.KVP = 120
        ds.RescaleIntercept, ds.RescaleSlope, ds.RescaleType = -1024, 1, "HU"
        ds.ConvolutionKernel = "B70f" if "Lunge" in series["description"] else "B30f"
        if localizer:
            ds.ImageOrientationPatient = [1, 0, 0, 0, 0, -1]
            ds.ImagePositionPatient = [-acquisition.cols * acquisition.spacing / 2, 0, 0]
    elif modality == "MR":
        contrast = next((c for c in _MR if c in series["description"]), "T1")
        sequence, repetition, echo = _MR[contrast]
        ds.ImageType = ["ORIGINAL", "PRIMARY", "M", "ND"]
        ds.ScanningSequence, ds.SequenceVariant, ds.ScanOptions, ds.MRAcquisitionType = sequence, "NONE", "", "2D"
        ds.RepetitionTime, ds.EchoTime, ds.EchoTrainLength = repetition, echo, 1
        ds.MagneticFieldStrength = 1.5
    elif modality == "US":
        ds.ImageType = ["ORIGINAL", "PRIMARY", "CARDIAC" if body == "HEART" else "ABDOMINAL"]
    else:  # DX, MG
        ds.ImageType = ["ORIGINAL", "PRIMARY"]
        ds.PresentationIntentType = "FOR PRESENTATION"
        ds.ImagerPixelSpacing = ds.PixelSpacing = [acquisition.spacing, acquisition.spacing]
        ds.KVP = 28 if modality == "MG" else 125
    if acquisition.thickness:
        ds.SliceThickness = acquisition.thickness
    return ds


def _instance(ds: Dataset, instance: Resource, count: int, acquisition: Series, modality: str, abnormal: bool) -> None:
    number = instance["number"]
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = instance["uid"]
    ds.InstanceNumber = number
    seed = int.from_bytes(hashlib.blake2b(instance["uid"].encode(), digest_size=8).digest())
    frame = Frame(number, count, acquisition.rows, acquisition.cols, np.random.default_rng(seed), abnormal)
    if acquisition.plane in ("axial", "sagittal"):
        step = acquisition.extent / (count - 1) if count > 1 else 0.0
        position = round(acquisition.first + (number - 1) * step, 2)
        half = acquisition.cols * acquisition.spacing / 2
        if acquisition.plane == "axial":
            ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
            ds.ImagePositionPatient = [-half, -half, position]
        else:
            ds.ImageOrientationPatient = [0, 1, 0, 0, 0, -1]
            ds.ImagePositionPatient = [position, -half, half]
        ds.SliceLocation = position
        if modality == "MR":
            ds.SpacingBetweenSlices = round(abs(step), 2)
    if acquisition.views:
        ds.ViewPosition = acquisition.views[(number - 1) % len(acquisition.views)]
        if modality == "MG":
            ds.ImageLaterality = laterality(frame)
    ds.PixelData = acquisition.picture(frame).tobytes()


def _person_name(display: str) -> str:
    """A display name ("Asta Møller") as DICOM PN ("Møller^Asta")."""
    given, _, family = display.rpartition(" ")
    return f"{family}^{given}" if given else family


def _uid(name: str) -> str:
    return f"2.25.{int.from_bytes(hashlib.blake2b(name.encode(), digest_size=16).digest()) >> 6}"
