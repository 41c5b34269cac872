"""`POST /imaging/studies`: STOW-RS through Lifeline, for images that come from outside the PACS's
own modalities (a CD from another hospital, a portable ultrasound), checked before the PACS sees
them (DICOM PS3.18 10.5, Store Transaction).

The body is multipart/related of application/dicom parts. Every part must be whole DICOM, and
every study in it must be named by an ImagingStudy the person may open (their patient: the care
rule), list the series and instances sent, and be of the same patient by CPR number; any problem
and nothing is stored, with every problem in the OperationOutcome. Then each study is stored in
the PACS in one STOW-RS request.
"""

from __future__ import annotations

import io
from collections import defaultdict
from typing import Any

from python_multipart.multipart import MultipartParser, parse_options_header

from lifeline.errors import BadRequest, Issue, UnsupportedMediaType
from lifeline.fhir.acting import Acting, Exchanged
from lifeline.imaging.load import check_studies, incomplete
from lifeline.imaging.pacs import Pacs

MAX_PARTS = 2000


def parts_of(content_type: str, body: bytes) -> list[bytes]:
    """The parts of a multipart/related body of application/dicom parts."""
    kind, options = parse_options_header(content_type)
    if kind != b"multipart/related" or b"boundary" not in options:
        raise UnsupportedMediaType(
            'send the images as multipart/related; type="application/dicom"; boundary=… (DICOM PS3.18 STOW-RS)'
        )
    parts: list[bytes] = []
    kinds: list[bytes] = []
    current: list[bytes] = []
    header: list[bytes] = [b"", b""]

    def part_begin() -> None:
        current.clear()
        kinds.append(b"")

    def header_field(data: bytes, start: int, end: int) -> None:
        header[0] += data[start:end]

    def header_value(data: bytes, start: int, end: int) -> None:
        header[1] += data[start:end]

    def header_end() -> None:
        if header[0].strip().lower() == b"content-type":
            kinds[-1] = header[1].split(b";")[0].strip().lower()
        header[0] = header[1] = b""

    def part_data(data: bytes, start: int, end: int) -> None:
        current.append(data[start:end])

    def part_end() -> None:
        parts.append(b"".join(current))

    callbacks: Any = {
        "on_part_begin": part_begin,
        "on_header_field": header_field,
        "on_header_value": header_value,
        "on_header_end": header_end,
        "on_part_data": part_data,
        "on_part_end": part_end,
    }
    parser = MultipartParser(options[b"boundary"], callbacks)
    try:
        parser.write(body)
        parser.finalize()
    except Exception as error:  # noqa: BLE001 - python-multipart raises its own kinds for a broken body
        raise BadRequest(f"the multipart body could not be read: {error}") from None
    if not parts:
        raise BadRequest("the body holds no images")
    if len(parts) > MAX_PARTS:
        raise BadRequest(f"at most {MAX_PARTS} images a request")
    wrong = sorted({k.decode(errors="replace") for k in kinds if k != b"application/dicom"})
    if wrong:
        raise UnsupportedMediaType(f"every part must be application/dicom, not {', '.join(wrong)}")
    return parts


def read_parts(parts: list[bytes]) -> tuple[dict[str, list[Any]], list[str]]:
    """The parts as datasets by study, and the problems of those that are no whole DICOM image."""
    import pydicom
    from pydicom.errors import InvalidDicomError

    studies: dict[str, list[Any]] = defaultdict(list)
    problems: list[str] = []
    for number, part in enumerate(parts, start=1):
        try:
            dataset = pydicom.dcmread(io.BytesIO(part))
        except (InvalidDicomError, OSError, ValueError, EOFError, AttributeError) as error:
            problems.append(f"part {number}: not a DICOM file ({type(error).__name__})")
            continue
        problem = incomplete(dataset)
        if problem:
            problems.append(f"part {number}: {problem}")
            continue
        studies[str(dataset.StudyInstanceUID)].append(dataset)
    return studies, problems


def store(core: Acting, pacs: Pacs, parts: list[bytes]) -> Exchanged:
    """Check every part and study as `core`'s person, then store each study; the exchange's work
    (its record names the studies and their patients)."""
    studies, problems = read_parts(parts)
    mismatched, named = check_studies(core, studies)
    problems += mismatched
    if problems:
        summary = f"{len(problems)} problem(s) in the images sent; nothing was stored"
        issues = [Issue("error", "invalid", summary), *(Issue("error", "invalid", p) for p in problems[:100])]
        raise BadRequest(summary, issues)
    for datasets in studies.values():
        pacs.store(datasets)
    return Exchanged(
        {"studies": len(studies), "images": sum(len(d) for d in studies.values())},
        resources=[f"ImagingStudy/{study.id}" for study in named],
        patients=sorted({study.patient.removeprefix("Patient/") for study in named}),
        query=f"stored {len(parts)} images of {len(studies)} studies",
    )
