"""Which ImagingStudy a Study Instance UID belongs to, asked as the person: the access rule of
every image call.

An image has no access rule of its own: it may be seen by whoever may see the ImagingStudy that
names its study (the care rule; break-the-glass opens it), and each call is recorded in the audit
trail as an `imaging` exchange naming that study and its patient, and what was asked of the PACS.
The study is found by its identifier (system `urn:dicom:uid`, value `urn:oid:<uid>`), searched as
the person: a study outside their care and a UID that no ImagingStudy names are refused alike,
with one message, so the answer says nothing of whether the study exists.
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

DICOM_UID = "urn:dicom:uid"
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
            return Study(str(resource["id"]), uid, subject, resource)
    raise NotFound(NOT_OPEN)


async def opened(core: Acting, uid: str, asked: str) -> Study:
    """`find_study` as one audited exchange: the record names the study, its patient and `asked`
    (the DICOMweb path the viewer wanted); a refusal is recorded too."""

    def work() -> Exchanged:
        study = find_study(core, uid)
        patient = study.patient.removeprefix("Patient/")
        return Exchanged(study, resources=[f"ImagingStudy/{study.id}"], patients=[patient], query=asked)

    found: Study = await core.exchange_async("imaging", work)
    return found
