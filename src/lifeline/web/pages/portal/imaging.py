"""`/portal/imaging`: the patient's scans and other reports (issue 25): every report on their
record other than the laboratory's (X-rays, scans, ultrasound, pathology, genetics), newest first,
with its conclusion and text, who reported it, and for a scan its images: a thumbnail per series
that opens `/portal/imaging/{study_id}`, one image at a time with plain links through the series.

A report is a result and is held back as results are (access/held_results.py: 7 days for imaging,
pathology and genetics unless a clinician releases it sooner); a held report is neither listed nor
counted, and its scan's images are not shown either, here or through the image proxy
(imaging/access.py `reports_about`): a picture without the radiologist's words explains nothing.

Everything is asked of the core as the patient (or the parent acting for a child), so the access
rule decides and every read is on the audit trail as theirs; the images come through the proxy,
each call authorised and audited again. https://hl7.org/fhir/R4/diagnosticreport.html
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from lifeline import jsontext
from lifeline.errors import NotFound
from lifeline.fhir.acting import Acting
from lifeline.fhir.request import FhirRequest
from lifeline.imaging.access import reports_about, study_uid
from lifeline.imaging.stores import Stores
from lifeline.web.pages.chart import words
from lifeline.web.pages.chart.imaging import HIDDEN, pictures, report_of, study_of
from lifeline.web.pages.chart.series import series_of
from lifeline.web.pages.chart.viewer import chosen_series, patients_study, shown_image

PATH = "/portal/imaging"
SHOWN = 30  # reports on the page; a longer list says that older ones exist
NO_STUDY = "Your record has no scan {id} that you can see here yet."


def imaging(core: Acting, patient_id: str, language_: str, stores: Stores) -> dict[str, Any]:
    """The reports of `patient_id` that `core`'s person may read, each with its scans."""
    reports = reports_about(core, patient_id)
    studies = _studies(core, patient_id, reports[:SHOWN])
    shown = []
    for report in reports[:SHOWN]:
        scans = []
        for target in report.get("imagingStudy") or []:
            study = studies.get(str((target or {}).get("reference") or ""))
            if study is None:
                continue
            scan = study_of(study, [], {}, language_)
            viewer = f"{PATH}/{study.get('id')}"
            scans.append({**scan, "pictures": pictures(study, patient_id, stores, viewer)})
        shown.append({**report_of(report, {}, language_), "category": _category(report), "scans": scans})
    return {"reports": shown, "older": len(reports) > SHOWN, "language": language_}


def scan(
    core: Acting, patient_id: str, study_id: str, language_: str, stores: Stores, asked: Mapping[str, str]
) -> dict[str, Any]:
    """One scan of `patient_id` with its report, and the image asked for (`asked`: the address's
    series, image and window, as the chart's viewer takes them). Not found when the scan is not
    theirs, or its report is not one they may read yet."""
    resource = patients_study(core, patient_id, study_id, NO_STUDY)
    reports = reports_about(core, patient_id, study_id)
    if not reports:
        raise NotFound(NO_STUDY.format(id=study_id))
    base = f"{PATH}/{study_id}"
    seen = pictures(resource, patient_id, stores, base)
    series = series_of(resource)
    current = chosen_series(series, asked.get("series"))
    for one in series:
        one["href"] = f"{base}?series={one['uid']}"
        one["current"] = current is not None and one["uid"] == current["uid"]
        one["started"] = words.when(one["started"] or resource.get("started"), language_)
    uid = study_uid(resource)
    shown = shown_image(uid, current, asked, base) if current is not None and seen["viewer"] else None
    if shown is not None:
        shown.pop("script", None)  # the portal's viewer is links only
    return {
        "study": study_of(resource, reports, {}, language_),
        "pictures": {"availability": seen["availability"]},
        "series": series,
        "current": shown,
        "back": f"{PATH}#study-{study_id}",
        "language": language_,
    }


def _studies(core: Acting, patient_id: str, reports: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The ImagingStudies the reports name, read in one search as the person."""
    ids = sorted(
        {
            str(t["reference"]).removeprefix("ImagingStudy/")
            for r in reports
            for t in r.get("imagingStudy") or []
            if isinstance(t, dict) and str(t.get("reference") or "").startswith("ImagingStudy/")
        }
    )
    if not ids:
        return {}
    params = [("patient", patient_id), ("_id", ",".join(ids)), ("status:not", HIDDEN), ("_count", str(len(ids)))]
    answer = core.handle(FhirRequest("search", "ImagingStudy", params=params))
    bundle = orjson.loads(jsontext.dumps(answer.resource or {}))
    found = [e.get("resource") or {} for e in bundle.get("entry") or []]
    return {f"ImagingStudy/{s.get('id')}": s for s in found if s.get("resourceType") == "ImagingStudy"}


def _category(report: dict[str, Any]) -> str:
    """What kind of report, in words the template turns into the reader's language: a scan, a
    tissue or cell sample, a genetic test, or another report."""
    codes = {c for category in report.get("category") or [] for c in words.codes(category)}
    if report.get("imagingStudy") or codes & {"RAD", "CT", "NMR", "NMS", "RUS", "RX", "VUS", "imaging"}:
        return "scan"
    if codes & {"SP", "PAT", "CP", "CY"}:
        return "sample"
    if codes & {"GE", "CG"}:
        return "genetic"
    return "other"
