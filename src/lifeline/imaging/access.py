"""Which ImagingStudy a Study Instance UID belongs to, asked as the person: the access rule of
every image call.

An image has no access rule of its own: it may be seen by whoever may see the ImagingStudy that
names its study (the care rule; break-the-glass opens it), and each call is recorded in the audit
trail as an `imaging` exchange naming that study and its patient, and what was asked of the PACS.
The study is found by its identifier (system `urn:dicom:uid`, value `urn:oid:<uid>`), searched as
the person: a study outside their care and a UID that no ImagingStudy names are refused alike,
with one message, so the answer says nothing of whether the study exists.

A patient (or a parent acting for a child) sees their own scan's images only beside a report on it
that they may read (`reports_about`): the report is the result, held back from the portal as
results are (access/held_results.py), and the images wait with it; until then the study is refused
to them with the same message.
https://hl7.org/fhir/R4/imagingstudy.html#notes (the Study Instance UID as identifier)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from lifeline import jsontext
from lifeline.errors import NotFound
from lifeline.fhir.acting import Acting, Exchanged
from lifeline.fhir.request import FhirRequest
from lifeline.identity.principal import PATIENT

DICOM_UID = "urn:dicom:uid"
LABORATORY = "http://terminology.hl7.org/CodeSystem/v2-0074|LAB"
REPORTS_READ = 200  # a patient's reports other than the laboratory's: a long life's worth
NOT_OPEN = (
    "No imaging study you may open has this Study Instance UID. If the patient is outside your care,"
    " open their chart and break the glass first."
)


@dataclass(frozen=True)
class Study:
    """An ImagingStudy the person may open, as the proxy needs it."""

    id: str
    uid: str
    patient: str  # Patient/<id>
    resource: dict[str, Any]

    def series_uids(self) -> set[str]:
        return {str(s.get("uid")) for s in self.resource.get("series") or [] if isinstance(s, dict)}


def study_uid(resource: dict[str, Any]) -> str | None:
    """The Study Instance UID an ImagingStudy carries, if any."""
    for identifier in resource.get("identifier") or []:
        value = str(identifier.get("value") or "")
        if identifier.get("system") == DICOM_UID and value.startswith("urn:oid:"):
            return value.removeprefix("urn:oid:")
    return None


def find_study(core: Acting, uid: str) -> Study:
    """The ImagingStudy naming `uid` that `core`'s person may open (inside an exchange's work:
    the exchange's record names it); NotFound otherwise."""
    request = FhirRequest("search", "ImagingStudy", params=[("identifier", f"{DICOM_UID}|urn:oid:{uid}")])
    # Entries hold the stored JSON as it is (orjson fragments): read them as data.
    bundle = orjson.loads(jsontext.dumps(core.within(request).resource or {}))
    for entry in bundle.get("entry") or []:
        resource = entry.get("resource") or {}
        subject = str((resource.get("subject") or {}).get("reference") or "")
        if resource.get("resourceType") == "ImagingStudy" and subject.startswith("Patient/"):
            study = Study(str(resource["id"]), uid, subject, resource)
            if core.principal is not None and core.principal.kind == PATIENT:
                if not reports_about(core, subject.removeprefix("Patient/"), study.id, within=True):
                    break  # a patient sees a scan's images with its report (issue 25)
            return study
    raise NotFound(NOT_OPEN)


def reports_about(
    core: Acting, patient_id: str, study_id: str | None = None, *, within: bool = False
) -> list[dict[str, Any]]:
    """The reports other than laboratory ones on `patient_id`'s record that `core`'s person may
    read, newest first (at most REPORTS_READ); with `study_id`, only those about that ImagingStudy.

    A patient sees a scan's images only beside a report they may read: the report is the result,
    held back as results are (access/held_results.py: imaging 7 days unless a clinician releases it
    sooner), and a picture without its radiologist's words explains nothing. R4 has no search
    parameter on DiagnosticReport.imagingStudy, so the reference is matched here. `within`: inside
    an exchange's work (the image proxy's), whose one record names the study and its patient, so
    each image a patient pages through is not a second record."""
    params = [
        ("patient", patient_id),
        ("category:not", LABORATORY),
        ("status:not", "entered-in-error"),
        ("_sort", "-date"),
        ("_count", str(REPORTS_READ)),
    ]
    request = FhirRequest("search", "DiagnosticReport", params=params)
    answer = core.within(request) if within else core.handle(request)
    bundle = orjson.loads(jsontext.dumps(answer.resource or {}))
    reports = [
        e["resource"]
        for e in bundle.get("entry") or []
        if (e.get("search") or {}).get("mode", "match") == "match" and isinstance(e.get("resource"), dict)
    ]
    if study_id is None:
        return reports
    about = f"ImagingStudy/{study_id}"
    return [r for r in reports if any((t or {}).get("reference") == about for t in r.get("imagingStudy") or [])]


async def opened(core: Acting, uid: str, asked: str) -> Study:
    """`find_study` as one audited exchange: the record names the study, its patient and `asked`
    (the DICOMweb path the viewer wanted); a refusal is recorded too."""

    def work() -> Exchanged:
        study = find_study(core, uid)
        patient = study.patient.removeprefix("Patient/")
        return Exchanged(study, resources=[f"ImagingStudy/{study.id}"], patients=[patient], query=asked)

    found: Study = await core.exchange_async("imaging", work)
    return found
