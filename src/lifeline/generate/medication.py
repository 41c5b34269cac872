"""Medicines (ATC codes) as MedicationRequest (prescribed in hospital) and MedicationStatement
(what the patient takes, as told), with a Danish dosage text and a structured dose.
https://hl7.org/fhir/R4/medicationrequest.html"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple

from lifeline.generate.codes import ATC, MEDICATION_CATEGORY, SNOMED, concept, ref
from lifeline.generate.days import date_text, instant

if TYPE_CHECKING:
    from lifeline.generate.chart import Chart


class Medicine(NamedTuple):
    atc: str
    name: str  # the substance, as on the Danish medicine card
    dose: float
    unit: str
    per_day: int  # doses a day (0: as needed)
    route: str  # key of ROUTES
    days: int  # length of a course (0: until stopped)


# fmt: off
MEDICINES = {
    "metformin": Medicine("A10BA02", "Metformin", 500, "mg", 2, "oral", 0),
    "atorvastatin": Medicine("C10AA05", "Atorvastatin", 40, "mg", 1, "oral", 0),
    "glargine": Medicine("A10AE04", "Insulin glargin", 20, "[iU]", 1, "sc", 0),
    "aspart": Medicine("A10AB05", "Insulin aspart", 6, "[iU]", 3, "sc", 0),
    "ramipril": Medicine("C09AA05", "Ramipril", 5, "mg", 1, "oral", 0),
    "amlodipine": Medicine("C08CA01", "Amlodipin", 5, "mg", 1, "oral", 0),
    "apixaban": Medicine("B01AF02", "Apixaban", 5, "mg", 2, "oral", 0),
    "metoprolol": Medicine("C07AB02", "Metoprolol", 50, "mg", 1, "oral", 0),
    "furosemide": Medicine("C03CA01", "Furosemid", 40, "mg", 1, "oral", 0),
    "spironolactone": Medicine("C03DA01", "Spironolacton", 25, "mg", 1, "oral", 0),
    "asa": Medicine("B01AC06", "Acetylsalicylsyre", 75, "mg", 1, "oral", 0),
    "tiotropium": Medicine("R03BB04", "Tiotropium", 18, "ug", 1, "inhaled", 0),
    "salbutamol": Medicine("R03AC02", "Salbutamol", 0.2, "mg", 0, "inhaled", 0),
    "budesonide": Medicine("R03BA02", "Budesonid", 200, "ug", 2, "inhaled", 0),
    "calcium": Medicine("A12AX", "Calcium og colecalciferol", 400, "mg", 2, "oral", 0),
    "levothyroxine": Medicine("H03AA01", "Levothyroxin", 100, "ug", 1, "oral", 0),
    "paracetamol": Medicine("N02BE01", "Paracetamol", 1000, "mg", 4, "oral", 14),
    "ibuprofen": Medicine("M01AE01", "Ibuprofen", 400, "mg", 3, "oral", 10),
    "morphine": Medicine("N02AA01", "Morfin", 10, "mg", 0, "oral", 7),
    "levetiracetam": Medicine("N03AX14", "Levetiracetam", 500, "mg", 2, "oral", 0),
    "levodopa": Medicine("N04BA02", "Levodopa og decarboxylasehæmmer", 100, "mg", 3, "oral", 0),
    "sertraline": Medicine("N06AB06", "Sertralin", 50, "mg", 1, "oral", 0),
    "olanzapine": Medicine("N05AH03", "Olanzapin", 10, "mg", 1, "oral", 0),
    "tamoxifen": Medicine("L02BA01", "Tamoxifen", 20, "mg", 1, "oral", 0),
    "mesalazine": Medicine("A07EC02", "Mesalazin", 1000, "mg", 2, "oral", 0),
    "cefuroxime": Medicine("J01DC02", "Cefuroxim", 1500, "mg", 3, "iv", 5),
    "pivmecillinam": Medicine("J01CA08", "Pivmecillinam", 400, "mg", 3, "oral", 3),
    "penicillin": Medicine("J01CE02", "Phenoxymethylpenicillin", 1000, "mg", 3, "oral", 7),
    "vitamin-d": Medicine("A11CC05", "Colecalciferol", 20, "ug", 1, "oral", 0),
}
# fmt: on
ROUTES = {
    "oral": concept(SNOMED, "26643006", "Oral route", "Gennem munden"),
    "sc": concept(SNOMED, "34206005", "Subcutaneous route", "Under huden"),
    "iv": concept(SNOMED, "47625008", "Intravenous route", "I en blodåre"),
    "inhaled": concept(SNOMED, "447694001", "Respiratory tract route", "Til inhalation"),
}
_UNITS = {"[iU]": "IE", "ug": "mikrogram"}
_TIMES = {1: "1 gang dagligt", 2: "2 gange dagligt", 3: "3 gange dagligt", 4: "4 gange dagligt"}
_INPATIENT = [concept(MEDICATION_CATEGORY, "inpatient", "Inpatient")]
_OUTPATIENT = [concept(MEDICATION_CATEGORY, "outpatient", "Outpatient")]
_CODES = {key: concept(ATC, m.atc, m.name, m.name) for key, m in MEDICINES.items()}


def dosage(medicine: Medicine) -> dict[str, Any]:
    unit = _UNITS.get(medicine.unit, medicine.unit)
    dose = f"{medicine.dose:g} {unit}"
    result: dict[str, Any] = {
        "text": f"{dose} {_TIMES[medicine.per_day]}" if medicine.per_day else f"{dose} efter behov",
        "route": ROUTES[medicine.route],
        "doseAndRate": [
            {
                "doseQuantity": {
                    "value": medicine.dose,
                    "unit": unit,
                    "system": "http://unitsofmeasure.org",
                    "code": medicine.unit,
                }
            }
        ],
    }
    if medicine.per_day:
        result["timing"] = {"repeat": {"frequency": medicine.per_day, "period": 1, "periodUnit": "d"}}
    else:
        result["asNeededBoolean"] = True
    return result


def prescribe(
    chart: Chart,
    key: str,
    day: int,
    *,
    encounter_id: str | None,
    requester: dict[str, Any],
    reason_id: str | None,
    inpatient: bool = False,
    stopped: int | None = None,
) -> str:
    """A MedicationRequest from `day`: active until `stopped` (or the end of its course)."""
    medicine = MEDICINES[key]
    end = stopped if stopped is not None else (day + medicine.days if medicine.days else None)
    request: dict[str, Any] = {
        "resourceType": "MedicationRequest",
        "status": "active" if end is None or end > chart.end else "completed",
        "intent": "order",
        "category": _INPATIENT if inpatient else _OUTPATIENT,
        "medicationCodeableConcept": _CODES[key],
        "subject": chart.subject,
    }
    if encounter_id is not None:
        request["encounter"] = ref("Encounter", encounter_id)
    request["authoredOn"] = instant(day, 9 * 60 + 30)
    request["requester"] = requester
    if reason_id is not None:
        request["reasonReference"] = [ref("Condition", reason_id)]
    request["dosageInstruction"] = [dosage(medicine)]
    period: dict[str, Any] = {"start": date_text(day)}
    if end is not None:
        period["end"] = date_text(end)
    request["dispenseRequest"] = {"validityPeriod": period}
    if chart.deceased_day is not None and request["status"] == "active":
        request["status"] = "stopped"
    return chart.add(request)


def statement(chart: Chart, key: str, day: int) -> str:
    """Something the patient takes that a hospital did not prescribe (from the GP, over the counter)."""
    return chart.add(
        {
            "resourceType": "MedicationStatement",
            "status": "active" if chart.deceased_day is None else "stopped",
            "medicationCodeableConcept": _CODES[key],
            "subject": chart.subject,
            "effectivePeriod": {"start": date_text(day)},
            "dateAsserted": instant(day, 10 * 60),
            "informationSource": chart.subject,
            "dosage": [dosage(MEDICINES[key])],
        }
    )
