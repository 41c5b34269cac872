"""The reports' small pieces without a database: the next due time from a timing that names its
times, a dose in words, the same prescription recorded twice printed once, and the identifiers'
check digit."""

from __future__ import annotations

from datetime import datetime

from lifeline.clock import COPENHAGEN
from lifeline.downtime import labels, reports, text
from lifeline.downtime.read import Patient

NOON = datetime(2026, 11, 22, 12, 0, tzinfo=COPENHAGEN)


def test_next_due_from_the_times_of_day_else_as_prescribed() -> None:
    timed = {"timing": {"repeat": {"timeOfDay": ["08:00:00", "14:00:00", "20:00:00"]}}}
    assert text.next_due(timed, NOON) == "14:00"
    assert text.next_due(timed, NOON.replace(hour=21)) == "08:00 tomorrow"
    assert (
        text.next_due({"timing": {"repeat": {"frequency": 2, "period": 1, "periodUnit": "d"}}}, NOON) == "as prescribed"
    )
    assert text.next_due({"asNeededBoolean": True}, NOON) == "as needed"
    assert text.next_due(None, NOON) == "as prescribed"


def test_a_dose_in_words() -> None:
    dosage = {"doseAndRate": [{"doseQuantity": {"value": 2.5, "unit": "mg"}}], "route": {"text": "oralt"},
              "timing": {"repeat": {"frequency": 2, "period": 1, "periodUnit": "d"}}}  # fmt: skip
    assert text.dose(dosage) == "2,5 mg, 2 times per day, oralt"
    assert text.dose({"text": "1 tablet efter behov", "asNeededBoolean": True}) == "1 tablet efter behov"
    assert text.dose(None) == "(no dose recorded)"


def test_the_same_prescription_twice_is_printed_once_and_counted() -> None:
    drug = {"resourceType": "MedicationRequest", "status": "active", "medicationCodeableConcept": {"text": "Furosemid"},
            "dosageInstruction": [{"text": "40 mg 1 gang dagligt"}]}  # fmt: skip
    patient = Patient({"id": "p"}, "Seng 1", None, medication=[drug, dict(drug)])
    table = reports.medication(patient, NOON)[0]
    cells = [[str(getattr(c, "text", c)) for c in row] for row in table._cellvalues[1:]]  # type: ignore[attr-defined]
    assert cells == [["Furosemid", "40 mg 1 gang dagligt (recorded 2×, same dose)", "as prescribed"]]


def test_identifiers_and_their_check_digit() -> None:
    found = labels.identifiers("Herlev Hospital", NOON, 24)
    assert found[0] == f"DT-HERLEVHOSPITAL-20261122-120001-{labels.luhn('20261122120001')}"
    assert len(set(found)) == 24 and all(labels.valid(i) for i in found)
    assert labels.luhn("7992739871") == 3  # the textbook example
    assert not labels.valid("DT-HERLEV-20261122-120001-0" if labels.luhn("20261122120001") else "DT-X-1-2-3")
