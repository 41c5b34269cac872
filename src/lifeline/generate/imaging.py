"""Imaging: an ImagingStudy (CT, MR, ultrasound, X-ray) with its series, and the radiologist's
DiagnosticReport with a conclusion in Danish. https://hl7.org/fhir/R4/imagingstudy.html"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

from lifeline.generate.codes import DIAG_SERVICE, DICOM, LOINC, SNOMED, concept, ref
from lifeline.generate.days import instant
from lifeline.generate.ids import dicom_uid

if TYPE_CHECKING:
    from lifeline.generate.chart import Chart, Visit


class Study(NamedTuple):
    modality: str  # DICOM modality code
    body_site: tuple[str, str]  # SNOMED CT
    loinc: tuple[str, str] | None
    danish: str
    series: tuple[tuple[str, int], ...]  # (description, instances)
    normal: str
    abnormal: str


_MODALITIES = {"CT": "Computed Tomography", "MR": "Magnetic Resonance", "US": "Ultrasound", "DX": "Digital Radiography",
               "MG": "Mammography"}  # fmt: skip

# fmt: off
STUDIES = {
    "xr-chest": Study("DX", ("51185008", "Thoracic structure"), ("36643-5", "XR Chest 2 Views"), "Røntgen af thorax",
                      (("PA", 1), ("Lateral", 1)), "Normale forhold for hjerte og lunger.",
                      "Fortætning i højre underlap forenelig med pneumoni."),
    "ct-chest": Study("CT", ("51185008", "Thoracic structure"), ("24627-2", "CT Chest"), "CT af thorax",
                      (("Topogram", 1), ("Thorax 1 mm", 310), ("Lungevindue 1 mm", 310)),
                      "Ingen tegn på tumor eller forstørrede lymfeknuder.",
                      "Tumor på 28 mm i venstre overlap. Forstørrede lymfeknuder i mediastinum."),
    "ct-head": Study("CT", ("69536005", "Head structure"), ("24725-4", "CT Head"), "CT af cerebrum",
                     (("Topogram", 1), ("Caput 5 mm", 32), ("Caput 0,75 mm", 240)),
                     "Ingen blødning eller frisk infarkt.",
                     "Hypodens område i venstre hemisfære, forenelig med infarkt."),
    "mr-brain": Study("MR", ("12738006", "Brain structure"), ("24590-2", "MR Brain"), "MR af cerebrum",
                      (("T1 sagittal", 176), ("T2 aksial", 30), ("FLAIR aksial", 30), ("DWI", 60)),
                      "Normale forhold intrakranielt.", "Enkelte uspecifikke forandringer i hvid substans."),
    "us-abd": Study("US", ("113345001", "Abdominal structure"), ("24558-9", "US Abdomen"), "Ultralyd af abdomen",
                    (("Abdomen", 24),), "Normale forhold i lever, galdeblære og nyrer.",
                    "Flere konkrementer i galdeblæren. Ingen galdevejsudvidelse."),
    "xr-hip": Study("DX", ("24136001", "Hip joint structure"), None, "Røntgen af hofte", (("AP", 1), ("Aksial", 1)),
                    "Ingen fraktur. Let artrose.", "Dislokeret collum femoris-fraktur."),
    "xr-knee": Study("DX", ("72696002", "Knee region structure"), None, "Røntgen af knæ", (("AP", 1), ("Lateral", 1)),
                     "Normale forhold.", "Betydelig artrose med nedsat ledspalte medialt."),
    "xr-wrist": Study("DX", ("74670003", "Wrist joint structure"), None, "Røntgen af håndled",
                      (("PA", 1), ("Lateral", 1)), "Ingen fraktur.", "Distal radiusfraktur med let dorsal vinkling."),
    "mammo": Study("MG", ("76752008", "Breast structure"), ("24606-6", "MG Breast Screening"), "Mammografi",
                   (("CC", 2), ("MLO", 2)), "Ingen tegn på malignitet.", "Stjerneformet fortætning på 14 mm, suspekt."),
    "echo": Study("US", ("80891009", "Heart structure"), None, "Ekkokardiografi", (("Ekko", 48),),
                  "Normal venstre ventrikelfunktion, EF 60 %.", "Nedsat venstre ventrikelfunktion, EF 35 %."),
}
# fmt: on
_RAD = [concept(DIAG_SERVICE, "RAD", "Radiology")]


def imaging(chart: Chart, visit: Visit, key: str, minute: int, reason_id: str | None, abnormal: bool) -> None:
    study = STUDIES[key]
    rng = chart.rng
    rad = chart.site_department("rad")
    started = instant(visit.day, minute)
    modality = {"system": DICOM, "code": study.modality, "display": _MODALITIES[study.modality]}
    body_site = {"system": SNOMED, "code": study.body_site[0], "display": study.body_site[1]}
    series = [
        {
            "uid": dicom_uid(rng),
            "number": n,
            "modality": modality,
            "description": description,
            "numberOfInstances": count,
            "bodySite": body_site,
            "started": started,
        }
        for n, (description, count) in enumerate(study.series, start=1)
    ]
    referrer = chart.physician(visit)
    imaging_study = {
        "resourceType": "ImagingStudy",
        "identifier": [{"system": "urn:dicom:uid", "value": f"urn:oid:{dicom_uid(rng)}"}],
        "status": "available",
        "modality": [modality],
        "subject": chart.subject,
        "encounter": ref("Encounter", visit.encounter_id),
        "started": started,
        "referrer": referrer,
        "numberOfSeries": len(series),
        "numberOfInstances": sum(s["numberOfInstances"] for s in series),  # type: ignore[misc]
        "location": ref("Location", rad.location_id, rad.name),
        "description": study.danish,
        "series": series,
    }
    if reason_id is not None:
        imaging_study["reasonReference"] = [ref("Condition", reason_id)]
    study_id = chart.add(imaging_study)
    radiologist = rad.member("radiologist", rng.randrange(8))
    code = concept(LOINC, study.loinc[0], study.loinc[1], study.danish) if study.loinc else {"text": study.danish}
    chart.add(
        {
            "resourceType": "DiagnosticReport",
            "status": "final",
            "category": _RAD,
            "code": code,
            "subject": chart.subject,
            "encounter": ref("Encounter", visit.encounter_id),
            "effectiveDateTime": started,
            "issued": instant(visit.day, minute + 120),
            "performer": [ref("Organization", rad.org_id, rad.name)],
            "resultsInterpreter": [ref("PractitionerRole", radiologist.role_id, radiologist.name)],
            "imagingStudy": [ref("ImagingStudy", study_id)],
            "conclusion": study.abnormal if abnormal else study.normal,
        }
    )
