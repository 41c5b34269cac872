"""Laboratory results and vital signs as Observations, lab results grouped by a DiagnosticReport.

Lab analytes carry their Danish NPU code and a LOINC code, the unit, the reference range (by sex
where it differs) and, for some, critical limits. A patient's value for an analyte is a series:
their own steady level inside the reference range, moved by their diseases (conditions.py
effects: a shift at onset that changes year by year as treatment works or the disease goes on),
plus noise per sample. So most values are in range and the outliers are the sick patients'.
https://hl7.org/fhir/R4/observation.html, https://hl7.org/fhir/R4/diagnosticreport.html"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple

from lifeline.generate.codes import (
    DIAG_SERVICE,
    INTERPRETATION,
    LOINC,
    NPU,
    OBS_CATEGORY,
    UCUM,
    concept,
    quantity,
    ref,
)
from lifeline.generate.days import instant

if TYPE_CHECKING:
    from lifeline.generate.chart import Chart, Visit


class Analyte(NamedTuple):
    npu: str
    npu_display: str
    loinc: str
    loinc_display: str
    danish: str
    unit: str  # as shown
    ucum: str
    female: tuple[float, float]  # reference range (low, high); low 0 means "below high"
    male: tuple[float, float]
    decimals: int
    critical: tuple[float, float] | None = None  # (low, high) limits beyond which the flag is LL/HH


# fmt: off
ANALYTES = {
    "hb": Analyte("NPU02319", "B—Haemoglobin; subst.c.", "59260-0", "Hemoglobin [Moles/volume] in Blood",
                  "Hæmoglobin", "mmol/L", "mmol/L", (7.3, 9.5), (8.3, 10.5), 1, (4.5, 13.0)),
    "leuk": Analyte("NPU02593", "B—Leukocytes; num.c.", "6690-2",
                    "Leukocytes [#/volume] in Blood by Automated count", "Leukocytter", "10^9/L", "10*9/L",
                    (3.5, 8.8), (3.5, 8.8), 1, (1.0, 30.0)),
    "trombo": Analyte("NPU03568", "B—Platelets; num.c.", "777-3",
                      "Platelets [#/volume] in Blood by Automated count", "Trombocytter", "10^9/L", "10*9/L",
                      (165, 400), (145, 350), 0, (30, 1000)),
    "na": Analyte("NPU03429", "P—Sodium ion; subst.c.", "2951-2", "Sodium [Moles/volume] in Serum or Plasma",
                  "Natrium", "mmol/L", "mmol/L", (137, 144), (137, 144), 0, (125, 155)),
    "k": Analyte("NPU03230", "P—Potassium ion; subst.c.", "2823-3", "Potassium [Moles/volume] in Serum or Plasma",
                 "Kalium", "mmol/L", "mmol/L", (3.5, 4.4), (3.5, 4.4), 1, (2.8, 6.0)),
    "creat": Analyte("NPU18016", "P—Creatininium; subst.c.", "14682-9",
                     "Creatinine [Moles/volume] in Serum or Plasma", "Kreatinin", "µmol/L", "umol/L", (45, 90),
                     (60, 105), 0, (0, 500)),
    "crp": Analyte("NPU19748", "P—C-reactive protein; mass c.", "1988-5",
                   "C reactive protein [Mass/volume] in Serum or Plasma", "C-reaktivt protein", "mg/L", "mg/L", (0, 10),
                   (0, 10), 0),
    "hba1c": Analyte("NPU27300", "B—Haemoglobin A1c(IFCC); subst.fr.", "59261-8",
                     "Hemoglobin A1c/Hemoglobin.total in Blood by IFCC protocol", "HbA1c", "mmol/mol", "mmol/mol",
                     (31, 44), (31, 44), 0),
    "glucose": Analyte("NPU02192", "P—Glucose; subst.c.", "14749-6", "Glucose [Moles/volume] in Serum or Plasma",
                       "Glukose", "mmol/L", "mmol/L", (4.2, 6.3), (4.2, 6.3), 1, (2.5, 25.0)),
    "alat": Analyte("NPU19651", "P—Alanine transaminase; cat.c.", "1742-6",
                    "Alanine aminotransferase [Enzymatic activity/volume] in Serum or Plasma", "ALAT", "U/L", "U/L",
                    (10, 45), (10, 70), 0),
    "bili": Analyte("NPU01370", "P—Bilirubins; subst.c.", "14631-6",
                    "Bilirubin.total [Moles/volume] in Serum or Plasma", "Bilirubin", "µmol/L", "umol/L", (5, 25),
                    (5, 25), 0),
    "alb": Analyte("NPU19673", "P—Albumin; mass c.", "1751-7", "Albumin [Mass/volume] in Serum or Plasma", "Albumin",
                   "g/L", "g/L", (36, 48), (36, 48), 0),
    "chol": Analyte("NPU01566", "P—Cholesterol; subst.c.", "14647-2", "Cholesterol [Moles/volume] in Serum or Plasma",
                    "Kolesterol", "mmol/L", "mmol/L", (2.9, 6.1), (2.9, 6.1), 1),
    "tsh": Analyte("NPU03577", "P—Thyrotropin; arb.subst.c.", "3016-3",
                   "Thyrotropin [Units/volume] in Serum or Plasma", "TSH", "mIU/L", "m[IU]/L", (0.3, 4.0), (0.3, 4.0),
                   2),
    "ferritin": Analyte("NPU19763", "P—Ferritin; mass c.", "2276-4", "Ferritin [Mass/volume] in Serum or Plasma",
                        "Ferritin", "µg/L", "ug/L", (15, 300), (30, 400), 0),
}
# fmt: on
INDIVIDUAL_SD = 0.12  # a person's own steady level, in range widths around the middle of the range
SAMPLE_SD = 0.17  # one sample's noise, in range widths

_LAB = [concept(OBS_CATEGORY, "laboratory", "Laboratory")]
_VITAL = [concept(OBS_CATEGORY, "vital-signs", "Vital Signs")]
_FLAGS = {
    "N": concept(INTERPRETATION, "N", "Normal"),
    "H": concept(INTERPRETATION, "H", "High"),
    "L": concept(INTERPRETATION, "L", "Low"),
    "HH": concept(INTERPRETATION, "HH", "Critical high"),
    "LL": concept(INTERPRETATION, "LL", "Critical low"),
}
_CODES = {
    key: {
        "coding": [
            {"system": NPU, "code": a.npu, "display": a.npu_display},
            {"system": LOINC, "code": a.loinc, "display": a.loinc_display},
        ],
        "text": a.danish,
    }
    for key, a in ANALYTES.items()
}
_RANGES = {
    (key, male): [
        {
            **({"low": quantity(low, a.unit, a.ucum)} if low else {}),
            "high": quantity(high, a.unit, a.ucum),
        }
    ]
    for key, a in ANALYTES.items()
    for male, (low, high) in ((False, a.female), (True, a.male))
}
_LAB_REPORT = concept(LOINC, "11502-2", "Laboratory report", "Blodprøvesvar")
_LAB_SERVICE = [concept(DIAG_SERVICE, "LAB", "Laboratory")]


def value(chart: Chart, key: str, day: int) -> float | int:
    """The patient's value of analyte `key` on `day`: own level + disease effects + noise."""
    analyte = ANALYTES[key]
    low, high = analyte.male if chart.person.male else analyte.female
    width = high - low
    level = chart.lab_levels.get(key)
    if level is None:
        level = chart.lab_levels[key] = chart.rng.gauss(0.0, INDIVIDUAL_SD)
    shift = level + chart.rng.gauss(0.0, SAMPLE_SD)
    for onset, acute, effects in chart.lab_effects:
        effect = effects.get(key)
        if effect is None or day < onset:
            continue
        at_onset, per_year = effect
        if acute:  # an acute illness peaks at onset and halves every two days as it is treated
            shift += at_onset * 0.5 ** ((day - onset) / 2) if day - onset < 30 else 0.0
        else:  # a chronic one drifts year by year; treatment brings it back towards normal, not past it
            drifted = at_onset + per_year * (day - onset) / 365.25
            shift += (
                min(drifted, 0.0)
                if at_onset < 0 < per_year
                else max(drifted, 0.0)
                if per_year < 0 < at_onset
                else drifted
            )
    middle = (low + high) / 2 if low else high * 0.25
    result = max(middle + shift * width, low * 0.3 if low else high * 0.05)
    return round(result, analyte.decimals) if analyte.decimals else round(result)


def flag(key: str, male: bool, result: float | int) -> str:
    analyte = ANALYTES[key]
    low, high = analyte.male if male else analyte.female
    if analyte.critical and result <= analyte.critical[0]:
        return "LL"
    if analyte.critical and result >= analyte.critical[1]:
        return "HH"
    if result > high:
        return "H"
    if low and result < low:
        return "L"
    return "N"


def lab_panel(chart: Chart, visit: Visit, keys: tuple[str, ...], minute: int) -> None:
    """Blood samples taken at `minute` of a visit's day: one Observation each, and their report."""
    if not keys:
        return
    day = visit.day
    taken = instant(day, minute)
    issued = instant(day, minute + 90)
    subject = chart.subject
    encounter = ref("Encounter", visit.encounter_id)
    kba = chart.site_department("kba")
    performer = [ref("Organization", kba.org_id, kba.name)]
    results = []
    male = chart.person.male
    for key in keys:
        analyte = ANALYTES[key]
        result = value(chart, key, day)
        obs_id = chart.add(
            {
                "resourceType": "Observation",
                "status": "final",
                "category": _LAB,
                "code": _CODES[key],
                "subject": subject,
                "encounter": encounter,
                "effectiveDateTime": taken,
                "issued": issued,
                "performer": performer,
                "valueQuantity": {"value": result, "unit": analyte.unit, "system": UCUM, "code": analyte.ucum},
                "interpretation": [_FLAGS[flag(key, male, result)]],
                "referenceRange": _RANGES[(key, male)],
            }
        )
        results.append(ref("Observation", obs_id))
    chart.add(
        {
            "resourceType": "DiagnosticReport",
            "status": "final",
            "category": _LAB_SERVICE,
            "code": _LAB_REPORT,
            "subject": subject,
            "encounter": encounter,
            "effectiveDateTime": taken,
            "issued": issued,
            "performer": performer,
            "result": results,
        }
    )


# Vital signs: LOINC codes of the FHIR vital signs profile (https://hl7.org/fhir/R4/observation-vitalsigns.html)
_BP = concept(LOINC, "85354-9", "Blood pressure panel with all children optional", "Blodtryk")
_SYSTOLIC = concept(LOINC, "8480-6", "Systolic blood pressure")
_DIASTOLIC = concept(LOINC, "8462-4", "Diastolic blood pressure")
_VITALS = {
    "pulse": (concept(LOINC, "8867-4", "Heart rate", "Puls"), "/min", "/min"),
    "resp": (concept(LOINC, "9279-1", "Respiratory rate", "Respirationsfrekvens"), "/min", "/min"),
    "temp": (concept(LOINC, "8310-5", "Body temperature", "Temperatur"), "°C", "Cel"),
    "spo2": (
        concept(LOINC, "59408-5", "Oxygen saturation in Arterial blood by Pulse oximetry", "Saturation"),
        "%",
        "%",
    ),
    "weight": (concept(LOINC, "29463-7", "Body weight", "Vægt"), "kg", "kg"),
}


def vital_signs(chart: Chart, visit: Visit, minute: int, *, full: bool) -> None:
    """Blood pressure and pulse; with `full`, the early-warning set (respiration, temperature,
    saturation) too. Blood pressure follows the patient's hypertension and its treatment."""
    rng = chart.rng
    when = instant(visit.day, minute)
    age = chart.age_on(visit.day)
    if age >= 12:
        systolic = round(rng.gauss(118 + 0.45 * max(age - 30, 0) + chart.bp_shift(visit.day), 9))
        diastolic = round(rng.gauss(76 + 0.1 * max(age - 30, 0) + chart.bp_shift(visit.day) / 3, 6))
        chart.add(
            {
                **_vital(chart, visit, _BP, when),
                "component": [
                    {"code": _SYSTOLIC, "valueQuantity": quantity(systolic, "mmHg", "mm[Hg]")},
                    {"code": _DIASTOLIC, "valueQuantity": quantity(diastolic, "mmHg", "mm[Hg]")},
                ],
            }
        )
    fever = visit.fever
    pulse = rng.gauss(75 + (40 if age < 2 else 15 if age < 12 else 0) + 12 * fever, 8)
    readings: list[tuple[str, float]] = [("pulse", round(pulse))]
    if full:
        readings += [
            ("resp", round(rng.gauss(15 + 5 * fever + (15 if age < 2 else 0), 2))),
            ("temp", round(rng.gauss(37.0 + 1.4 * fever, 0.3), 1)),
            ("spo2", min(100, round(rng.gauss(97 - 3 * fever, 1.2)))),
        ]
    elif age >= 18 and rng.random() < 0.5:
        readings.append(("weight", round(chart.weight + rng.gauss(0, 1.2), 1)))
    for key, reading in readings:
        code, unit, ucum = _VITALS[key]
        chart.add({**_vital(chart, visit, code, when), "valueQuantity": quantity(reading, unit, ucum)})


def _vital(chart: Chart, visit: Visit, code: dict[str, Any], when: str) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "status": "final",
        "category": _VITAL,
        "code": code,
        "subject": chart.subject,
        "encounter": ref("Encounter", visit.encounter_id),
        "effectiveDateTime": when,
    }
