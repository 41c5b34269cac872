"""`lifeline images load FOLDER`: DICOM files to the PACS by STOW-RS, checked first, study by study.

Nothing goes to the PACS until every file in the folder has been read and every study checked
against the ImagingStudy that names it (asked as the operator, so the check is audited):

- each file is DICOM Part 10 with its pixel data whole (a corrupt or foreign file is named);
- an ImagingStudy carries the study's UID, and lists each series (and instance, where it lists
  instances) the files hold;
- the files' PatientID is the CPR number of the ImagingStudy's patient (a study filed under
  another person is the error that matters most in imaging).

A folder with any problem loads nothing, and every problem is printed. Then each study goes in
one STOW-RS request; a study the PACS already holds whole is skipped, so a run can be repeated
after an interruption or a PACS outage (which stops the run with one line, between studies).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from lifeline.errors import NotFound
from lifeline.fhir.acting import Acting
from lifeline.fhir.request import FhirRequest
from lifeline.imaging.access import Study, find_study
from lifeline.imaging.pacs import Pacs

CPR_SYSTEM = "urn:oid:1.2.208.176.1.2"
SHOWN_PROBLEMS = 20


@dataclass
class Folder:
    """What a folder holds: its studies' files by Study Instance UID, and its problems."""

    studies: dict[str, list[Path]] = field(default_factory=lambda: defaultdict(list))
    headers: dict[str, list[Any]] = field(default_factory=lambda: defaultdict(list))
    problems: list[str] = field(default_factory=list)

    @property
    def instances(self) -> int:
        return sum(len(files) for files in self.studies.values())


@dataclass
class Loaded:
    stored: int = 0  # studies sent
    skipped: int = 0  # studies the PACS already held whole
    instances: int = 0  # instances sent
    bytes: int = 0


def files_of(folder: Path) -> Iterator[Path]:
    for path in sorted(folder.rglob("*")):
        if path.is_file() and not path.name.startswith("."):
            yield path


def read_folder(folder: Path, advance: Callable[[int], None] = lambda n: None) -> Folder:
    """Every file's header, grouped by study; a file that is not whole DICOM is a problem."""
    import pydicom
    from pydicom.errors import InvalidDicomError

    found = Folder()
    for path in files_of(folder):
        advance(1)
        try:
            dataset = pydicom.dcmread(path)
        except (InvalidDicomError, OSError, ValueError, EOFError, AttributeError) as error:
            found.problems.append(f"{path}: not a DICOM file ({type(error).__name__})")
            continue
        problem = incomplete(dataset)
        if problem:
            found.problems.append(f"{path}: {problem}")
            continue
        uid = str(dataset.StudyInstanceUID)
        found.studies[uid].append(path)
        del dataset.PixelData  # the check needs the header only
        found.headers[uid].append(dataset)
    if not found.studies and not found.problems:
        found.problems.append(f"{folder}: no DICOM files found")
    return found


def incomplete(dataset: Any) -> str | None:
    """What makes `dataset` no whole image of a study (None: nothing)."""
    for keyword in ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "PatientID", "Modality"):
        if not str(dataset.get(keyword, "") or ""):
            return f"no {keyword}"
    if "PixelData" not in dataset:
        return "no pixel data"
    if not dataset.file_meta.get("TransferSyntaxUID", None) or dataset.file_meta.TransferSyntaxUID.is_compressed:
        return None  # a compressed frame's length says nothing; the PACS checks it
    expected = (
        int(dataset.Rows)
        * int(dataset.Columns)
        * int(dataset.get("SamplesPerPixel", 1))
        * int(dataset.get("NumberOfFrames", 1) or 1)
        * (int(dataset.BitsAllocated) // 8)
    )
    if len(dataset.PixelData) < expected:
        return f"pixel data cut short ({len(dataset.PixelData):,} of {expected:,} bytes)"
    return None


def check(core: Acting, found: Folder) -> list[str]:
    """Each study's files against the ImagingStudy that names it, asked as `core`'s person."""
    problems, _ = check_studies(core, found.headers)
    return problems


def check_studies(core: Acting, studies: dict[str, list[Any]]) -> tuple[list[str], list[Study]]:
    """Each study's datasets (by Study Instance UID) against the ImagingStudy that names it, asked
    as `core`'s person (inside an exchange: its record names what was checked); the problems, and
    the ImagingStudies found."""
    problems: list[str] = []
    named: list[Study] = []
    for uid, headers in studies.items():
        try:
            study = find_study(core, uid)
        except NotFound:
            problems.append(f"study {uid}: no ImagingStudy names it (identifier urn:dicom:uid, urn:oid:{uid})")
            continue
        named.append(study)
        cpr = _cpr(core, study.patient)
        series = {str(s.get("uid")): s for s in study.resource.get("series") or []}
        for dataset in headers:
            where = f"study {uid}, instance {dataset.SOPInstanceUID}"
            if cpr is not None and str(dataset.PatientID).replace("-", "") != cpr:
                problems.append(
                    f"{where}: filed under patient {dataset.PatientID}, but ImagingStudy/{study.id} is of"
                    f" {study.patient} (CPR {cpr[:6]}-{cpr[6:]})"
                )
                break
            listed = series.get(str(dataset.SeriesInstanceUID))
            if listed is None:
                problems.append(f"{where}: series {dataset.SeriesInstanceUID} is not in ImagingStudy/{study.id}")
                break
            instances = {str(i.get("uid")) for i in listed.get("instance") or []}
            if instances and str(dataset.SOPInstanceUID) not in instances:
                problems.append(f"{where}: not listed in series {dataset.SeriesInstanceUID} of ImagingStudy/{study.id}")
                break
    return problems, named


def _cpr(core: Acting, patient: str) -> str | None:
    answer = core.within(FhirRequest("read", "Patient", patient.removeprefix("Patient/")))
    resource = orjson.loads(answer.raw) if answer.raw is not None else answer.resource or {}
    for identifier in resource.get("identifier") or []:
        if identifier.get("system") == CPR_SYSTEM:
            return str(identifier.get("value", "")).replace("-", "")
    return None


def load(pacs: Pacs, found: Folder, advance: Callable[[str, int], None] = lambda uid, n: None) -> Loaded:
    """Send each checked study in one STOW-RS request, unless the PACS holds it whole already."""
    import pydicom

    done = Loaded()
    for uid, paths in found.studies.items():
        if pacs.holds(uid) >= len(paths):
            done.skipped += 1
            advance(uid, len(paths))
            continue
        datasets = [pydicom.dcmread(path) for path in paths]
        pacs.store(datasets)
        done.stored += 1
        done.instances += len(paths)
        done.bytes += sum(path.stat().st_size for path in paths)
        advance(uid, len(paths))
    return done
