"""`/portal`: the patient's own record in plain language: contact details, allergies, diagnoses
(with the code system's own words beside the clinic's where they differ), current medication with
its dose, and vaccinations. Read through the core as the patient (the chart's Reader over the
patient's own id, page.py), so the access rule decides what comes back and each read is on the
audit trail as the patient's. https://hl7.org/fhir/R4/patient.html#compartment
"""

from __future__ import annotations

from datetime import date
from typing import Any

from lifeline.errors import Forbidden
from lifeline.fhir.acting import Acting
from lifeline.web.layout import PageUser
from lifeline.web.pages.chart import header, summary, words
from lifeline.web.pages.chart.page import Reader

READ = 200  # diagnoses, drugs or vaccinations on the page; more are said to exist
VACCINATIONS_SHOWN = ("completed",)  # not-done and entered-in-error are no vaccination given
NOT_A_DIAGNOSIS = ("entered-in-error", "refuted")


def own_id(user: PageUser) -> str:
    """The logged-in patient's own Patient id, from the session (never from the address)."""
    reference = user.fhir_user or ""
    if user.kind != "patient" or not reference.startswith("Patient/"):
        raise Forbidden("This page is for patients.")
    return reference.split("/", 1)[1]


def reader(core: Acting, patient_id: str) -> tuple[Reader, dict[str, Any]]:
    """The reader over the patient's own record, and the Patient read first (through the core)."""
    read = Reader(core, patient_id)
    return read, read.read_patient()


def contact(patient: dict[str, Any]) -> dict[str, Any]:
    """The patient's contact details as recorded: phones, e-mails and addresses."""
    telecom = [t for t in patient.get("telecom") or [] if isinstance(t, dict) and t.get("value")]
    addresses = []
    for address in patient.get("address") or []:
        lines = [*address.get("line", []), " ".join(p for p in (address.get("postalCode"), address.get("city")) if p)]
        addresses.append(address.get("text") or ", ".join(line for line in lines if line))
    return {
        "phones": [str(t["value"]) for t in telecom if t.get("system") == "phone"],
        "emails": [str(t["value"]) for t in telecom if t.get("system") == "email"],
        "addresses": [a for a in addresses if a],
    }


def diagnoses(conditions: list[dict[str, Any]], language: str) -> list[dict[str, Any]]:
    """Current diagnoses, newest first, each with the code system's own words ("explained") where
    they say more than the clinic's text (the clinic writes Danish, the code's display is the code
    system's name for it); resolved ones are left to a later phase's history."""
    shown: list[dict[str, Any]] = []
    for condition in conditions:
        if set(words.codes(condition.get("verificationStatus"))) & set(NOT_A_DIAGNOSIS):
            continue
        code = condition.get("code") or {}
        text = words.concept(code) or "?"
        displays = [str(c["display"]) for c in code.get("coding") or [] if c.get("display")]
        explained = next((d for d in displays if d.lower() != text.lower()), None)
        onset = condition.get("onsetDateTime") or (condition.get("onsetPeriod") or {}).get("start")
        shown.append(
            {
                "id": condition.get("id"),
                "text": text,
                "explained": explained,
                "since": words.when(onset or condition.get("recordedDate"), language, day=True),
            }
        )
    shown.sort(key=lambda d: words.in_order(d["since"]), reverse=True)
    return shown


def vaccinations(immunizations: list[dict[str, Any]], language: str) -> list[dict[str, Any]]:
    """Vaccinations given, newest first."""
    shown: list[dict[str, Any]] = []
    for immunization in immunizations:
        if immunization.get("status") not in VACCINATIONS_SHOWN:
            continue
        given = immunization.get("occurrenceDateTime") or immunization.get("occurrenceString")
        shown.append(
            {
                "id": immunization.get("id"),
                "vaccine": words.concept(immunization.get("vaccineCode")) or "?",
                "when": words.when(given, language, day=True),
                "dose": (immunization.get("protocolApplied") or [{}])[0].get("doseNumberPositiveInt"),
            }
        )
    shown.sort(key=lambda v: words.in_order(v["when"]), reverse=True)
    return shown


def record(core: Acting, patient_id: str, today_: date, language: str) -> dict[str, Any]:
    """What `/portal` shows the patient `core` acts as, about themself, on `today_`."""
    read, patient = reader(core, patient_id)
    allergies, _ = read.search("AllergyIntolerance")
    conditions, _ = read.search("Condition", ("clinical-status", "active"), ("_count", str(READ)))
    more = read.more
    requests, drugs = read.search(
        "MedicationRequest", ("status", "active"), ("_include", "MedicationRequest:medication"), ("_count", str(READ))
    )
    statements, more_drugs = read.search(
        "MedicationStatement",
        ("status", "active"),
        ("_include", "MedicationStatement:medication"),
        ("_count", str(READ)),
    )
    immunizations, _ = read.search("Immunization", ("_sort", "-date"), ("_count", str(READ)))
    return {
        "patient": header.person(patient, today_, language),
        "contact": contact(patient),
        "allergies": header.allergies(allergies),
        "diagnoses": diagnoses(conditions, language),
        "moreDiagnoses": more,
        "medication": summary.medication(requests, statements, {**drugs, **more_drugs}, language),
        "vaccinations": vaccinations(immunizations, language),
        "language": language,
    }
