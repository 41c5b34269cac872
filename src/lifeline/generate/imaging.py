"""Imaging: an ImagingStudy (CT, MR, ultrasound, X-ray) with its series and their instances, and
the radiologist's DiagnosticReport with a conclusion in Danish. https://hl7.org/fhir/R4/imagingstudy.html

Series are small (a few dozen slices at most) because `lifeline generate --images` writes a real
DICOM file for every instance listed here (dicom.py), and the demo region's images must stay a few
hundred megabytes. Instance UIDs are hashes of their series UID, not draws from the chart's random
stream, so listing instances changed no other part of the record. Every study names the region's
one DICOMweb Endpoint, through which the images are fetched."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any, NamedTuple

from lifeline.generate.codes import DIAG_SERVICE, DICOM, LOINC, SNOMED, SYNTHETIC_META, concept, ref
from lifeline.generate.days import instant
from lifeline.generate.ids import dicom_uid, keyed_id

if TYPE_CHECKING:
    from lifeline.generate.chart import Chart, Visit


class Study(NamedTuple):
    modality: str  # DICOM modality code
    body_site: tuple[str, str]  # SNOMED CT
    loinc: tuple[str, str] | None
    danish: str
    series: tuple[tuple[str, int | tuple[int, int]], ...]  # (description, instances or their range)
    normal: str
    abnormal: str


_MODALITIES = {"CT": "Computed Tomography", "MR": "Magnetic Resonance", "US": "Ultrasound", "DX": "Digital Radiography",
               "MG": "Mammography"}  # fmt: skip

# The SOP Class each modality's images are stored as (DICOM PS3.4 B.5): CT Image, MR Image,
# Ultrasound Image, Digital X-Ray and Digital Mammography X-Ray Image Storage - For Presentation.
SOP_CLASSES = {"CT": "1.2.840.10008.5.1.4.1.1.2", "MR": "1.2.840.10008.5.1.4.1.1.4",
               "US": "1.2.840.10008.5.1.4.1.1.6.1", "DX": "1.2.840.10008.5.1.4.1.1.1.1",
               "MG": "1.2.840.10008.5.1.4.1.1.1.2"}  # fmt: skip

# fmt: off
STUDIES = {
    "xr-chest": Study("DX", ("51185008", "Thoracic structure"), ("36643-5", "XR Chest 2 Views"), "Røntgen af thorax",
                      (("PA", 1), ("Lateral", 1)), "Normale forhold for hjerte og lunger.",
                      "Fortætning i højre underlap forenelig med pneumoni."),
    "ct-chest": Study("CT", ("51185008", "Thoracic structure"), ("24627-2", "CT Chest"), "CT af thorax",
                      (("Topogram", 1), ("Thorax 5 mm", 30), ("Lungevindue 5 mm", 30)),
                      "Ingen tegn på tumor eller forstørrede lymfeknuder.",
                      "Tumor på 28 mm i venstre overlap. Forstørrede lymfeknuder i mediastinum."),
    "ct-head": Study("CT", ("69536005", "Head structure"), ("24725-4", "CT Head"), "CT af cerebrum",
                     (("Topogram", 1), ("Caput 5 mm", 24), ("Knoglevindue 3 mm", 30)),
                     "Ingen blødning eller frisk infarkt.",
                     "Hypodens område i venstre hemisfære, forenelig med infarkt."),
    "mr-brain": Study("MR", ("12738006", "Brain structure"), ("24590-2", "MR Brain"), "MR af cerebrum",
                      (("T1 sagittal", 20), ("T2 aksial", 20), ("FLAIR aksial", 20), ("DWI", 20)),
                      "Normale forhold intrakranielt.", "Enkelte uspecifikke forandringer i hvid substans."),
    "us-abd": Study("US", ("113345001", "Abdominal structure"), ("24558-9", "US Abdomen"), "Ultralyd af abdomen",
                    (("Abdomen", (4, 8)),), "Normale forhold i lever, galdeblære og nyrer.",
                    "Flere konkrementer i galdeblæren. Ingen galdevejsudvidelse."),
    "xr-hip": Study("DX", ("24136001", "Hip joint structure"), None, "Røntgen af hofte", (("AP", 1), ("Aksial", 1)),
                    "Ingen fraktur. Let artrose.", "Dislokeret collum femoris-fraktur."),
    "xr-knee": Study("DX", ("72696002", "Knee region structure"), None, "Røntgen af knæ", (("AP", 1), ("Lateral", 1)),
                     "Normale forhold.", "Betydelig artrose med nedsat ledspalte medialt."),
    "xr-wrist": Study("DX", ("74670003", "Wrist joint structure"), None, "Røntgen af håndled",
                      (("PA", 1), ("Lateral", 1)), "Ingen fraktur.", "Distal radiusfraktur med let dorsal vinkling."),
    "mammo": Study("MG", ("76752008", "Breast structure"), ("24606-6", "MG Breast Screening"), "Mammografi",
                   (("CC", 2), ("MLO", 2)), "Ingen tegn på malignitet.", "Stjerneformet fortætning på 14 mm, suspekt."),
    "echo": Study("US", ("80891009", "Heart structure"), None, "Ekkokardiografi", (("Ekko", (4, 8)),),
                  "Normal venstre ventrikelfunktion, EF 60 %.", "Nedsat venstre ventrikelfunktion, EF 35 %."),
}
# fmt: on
_RAD = [concept(DIAG_SERVICE, "RAD", "Radiology")]


def imaging(chart: Chart, visit: Visit, key: str, minute: int, reason_id: str | None, abnormal: bool) -> None:
    study = STUDIES[key]
    rng = chart.rng
    rad = chart.site_department("rad")
    started = instant(visit.day, minute)
    modality: dict[str, Any] = {"system": DICOM, "code": study.modality, "display": _MODALITIES[study.modality]}
    body_site = {"system": SNOMED, "code": study.body_site[0], "display": study.body_site[1]}
    sop_class = {"system": "urn:ietf:rfc:3986", "code": f"urn:oid:{SOP_CLASSES[study.modality]}"}
    series, instances_in_study = [], 0
    for n, (description, count) in enumerate(study.series, start=1):
        uid = dicom_uid(rng)
        instances = [
            {"uid": instance_uid(uid, number), "sopClass": sop_class, "number": number}
            for number in range(1, _count(uid, count) + 1)
        ]
        instances_in_study += len(instances)
        series.append(
            {
                "uid": uid,
                "number": n,
                "modality": modality,
                "description": description,
                "numberOfInstances": len(instances),
                "bodySite": body_site,
                "started": started,
                "instance": instances,
            }
        )
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
        "numberOfInstances": instances_in_study,
        "endpoint": [ref("Endpoint", ENDPOINT_ID)],
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


def instance_uid(series_uid: str, number: int) -> str:
    """The n-th instance's SOP Instance UID: a hash of its series UID under the root 2.25, so that
    it is the same in every run and draws nothing from the chart's random stream."""
    digest = hashlib.blake2b(f"{series_uid}/{number}".encode(), digest_size=16).digest()
    return f"2.25.{int.from_bytes(digest, 'big') >> 6}"


def _count(series_uid: str, count: int | tuple[int, int]) -> int:
    """A fixed count, or one in the range chosen by the series UID (ultrasound keeps 4-8 frames)."""
    if isinstance(count, int):
        return count
    low, high = count
    return low + hashlib.blake2b(series_uid.encode(), digest_size=2).digest()[0] % (high - low + 1)


# The region's images are served by every Lifeline node at the same path, a proxy to the PACS
# (Orthanc) in front of which it checks the reader's access: so one Endpoint, at the demo node's
# address, serves the whole region. https://hl7.org/fhir/R4/endpoint.html
ENDPOINT_ID = keyed_id("lifeline-region-1", "Endpoint", "dicomweb")
ENDPOINT_ADDRESS = "http://127.0.0.1:8080/imaging"


def imaging_endpoint() -> dict[str, Any]:
    """The region's one DICOMweb (WADO-RS) Endpoint, which every ImagingStudy names."""
    return {
        "resourceType": "Endpoint",
        "id": ENDPOINT_ID,
        "meta": SYNTHETIC_META,
        "status": "active",
        "connectionType": {
            "system": "http://terminology.hl7.org/CodeSystem/endpoint-connection-type",
            "code": "dicom-wado-rs",
            "display": "DICOM WADO-RS",
        },
        "name": "Lifeline billeder (DICOMweb)",
        "payloadType": [{"text": "DICOM"}],
        "payloadMimeType": ["application/dicom"],
        "address": ENDPOINT_ADDRESS,
    }
