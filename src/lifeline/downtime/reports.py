"""The three reports as page content: a ward's census and each patient's section, a clinic's
day, and the label sheet. Built from what read.py returned; nothing here reads anything."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from reportlab.lib.units import mm
from reportlab.platypus import Paragraph, Spacer, Table, TableStyle
from reportlab.platypus.flowables import Flowable

from lifeline.downtime import pdf, text
from lifeline.downtime.read import Operation, Patient

INACTIVE = {"inactive", "resolved", "refuted", "entered-in-error"}
ABNORMAL = ("HH", "LL", "AA", "H", "L", "A", "HU", "LU", ">", "<")
SEVERITY = {"severe": 3, "moderate": 2, "mild": 1}
RESULTS = 8  # key results per patient: the abnormal ones first, then the newest
FLAGS = {"H": "HIGH", "L": "LOW", "HH": "VERY HIGH", "LL": "VERY LOW", "A": "ABNORMAL", "AA": "CRITICAL"}
# Vital signs in the order of an observation chart (LOINC): BP, pulse, respiration, SpO2, temperature, weight.
VITALS = {"85354-9": 0, "8480-6": 1, "8867-4": 2, "9279-1": 3, "59408-5": 4, "2708-6": 5, "8310-5": 6, "29463-7": 7}
SEX = {"female": "F", "male": "M", "other": "other", "unknown": "?"}


def ward(name: str, patients: list[Patient], today: date, now: datetime) -> list[Flowable]:
    """The census with beds, then one section per patient."""
    rows = [
        [p.bed, text.name(p.resource), text.cpr(p.resource), text.age(p.resource, today),
         SEX.get(p.resource.get("gender") or "unknown", "?"), text.moment(p.since)]
        for p in patients
    ]  # fmt: skip
    count = f"{len(patients)} inpatient" + ("" if len(patients) == 1 else "s")
    story: list[Flowable] = [pdf.text(f"Census: {count} on {name}", pdf.HEAD)]
    if rows:
        story.append(
            pdf.table(["Bed", "Patient", "CPR", "Age", "Sex", "Admitted since"], rows, [22, 58, 26, 14, 12, 38])
        )
    else:
        story.append(pdf.text("No inpatients recorded on this ward."))
    story.append(Spacer(1, 4 * mm))
    for patient in patients:
        story += patient_section(patient, now)
    return story


def patient_section(patient: Patient, now: datetime) -> list[Flowable]:
    who = patient.resource
    sex = SEX.get(who.get("gender") or "unknown", "?")
    title = f"{patient.bed} — {text.name(who)}, {text.cpr(who)}, {text.age(who, now.date())} {sex}".strip()
    parts: list[Flowable] = [pdf.text("Allergies", pdf.LABEL), *allergies(patient.allergies)]
    parts += [pdf.text("Active medication", pdf.LABEL), *medication(patient, now)]
    vitals = latest(patient.vitals)
    vitals.sort(key=lambda o: min((VITALS.get(c, len(VITALS)) for c in text.codes(o.get("code"))), default=99))
    parts.append(pdf.text("Latest vital signs", pdf.LABEL))
    parts.append(
        pdf.table(
            ["Measurement", "Value", "When"],
            [[text.concept(o.get("code")), value(o), when(o)] for o in vitals],
            [80, 50, 50],
        )  # fmt: skip
        if vitals
        else pdf.text("No vital signs recorded.")
    )
    results = key_results(patient.results)
    parts.append(pdf.text("Latest key results (abnormal first)", pdf.LABEL))
    parts.append(
        pdf.table(
            ["Test", "Result", "Flag", "Reference", "When"],
            [
                [
                    text.concept(o.get("code")),
                    value(o),
                    pdf.text(FLAGS.get(flag(o) or "", flag(o) or ""), pdf.STRONG),
                    reference(o),
                    when(o),
                ]
                for o in results
            ],
            [58, 32, 14, 38, 38],
        )  # fmt: skip
        if results
        else pdf.text("No results recorded.")
    )
    parts.append(pdf.text("Pending orders", pdf.LABEL))
    orders = [[text.concept(o.get("code")) or "?", text.moment(o.get("occurrenceDateTime") or o.get("authoredOn")),
               (o.get("requester") or {}).get("display") or ""] for o in patient.orders]  # fmt: skip
    parts.append(pdf.table(["Order", "Due / ordered", "By"], orders, [90, 45, 45]) if orders
                 else pdf.text("No pending orders."))  # fmt: skip
    return pdf.section(title, parts)


def allergies(found: list[dict[str, Any]]) -> list[Flowable]:
    rows = []
    none_known = False
    for allergy in found:
        if (text.codes(allergy.get("clinicalStatus")) | text.codes(allergy.get("verificationStatus"))) & INACTIVE:
            continue
        if "716186003" in text.codes(allergy.get("code")):
            none_known = True
            continue
        reactions = allergy.get("reaction") or []
        severities = [r["severity"] for r in reactions if r.get("severity") in SEVERITY]
        severity = max(severities, key=SEVERITY.__getitem__) if severities else "not recorded"
        what = ", ".join(text.concept(m) for r in reactions for m in r.get("manifestation") or [])
        shown = pdf.text(severity.upper(), pdf.STRONG) if severity == "severe" else severity
        rows.append([text.concept(allergy.get("code")) or "?", shown, allergy.get("criticality") or "", what])
    if rows:
        return [pdf.table(["Substance", "Severity", "Criticality", "Reaction"], rows, [55, 30, 30, 65])]
    said = "NO KNOWN ALLERGIES (recorded)." if none_known else "No allergies recorded — ask the patient."
    return [pdf.text(said, pdf.WARNING)]


def medication(patient: Patient, now: datetime) -> list[Flowable]:
    rows: list[list[str]] = []
    for request in patient.medication:
        drug = request.get("medicationCodeableConcept")
        if drug is None:
            reference = request.get("medicationReference") or {}
            drug = (patient.medicines.get(reference.get("reference", "")) or {}).get("code")
            drug = drug or {"text": reference.get("display")}
        dosage = (request.get("dosageInstruction") or [None])[0]
        rows.append([text.concept(drug) or "?", text.dose(dosage), text.next_due(dosage, now)])
    # The same drug and dose prescribed twice is printed once, counted: never read as a double dose.
    same: dict[tuple[str, str, str], int] = {}
    for row in rows:
        same[(row[0], row[1], row[2])] = same.get((row[0], row[1], row[2]), 0) + 1
    rows = [[drug, dose + (f" (recorded {n}×, same dose)" if n > 1 else ""), due]
            for (drug, dose, due), n in sorted(same.items(), key=lambda item: item[0][0].lower())]  # fmt: skip
    if not rows:
        return [pdf.text("No active medication recorded.")]
    return [pdf.table(["Medicine", "Dose", "Next due"], rows, [60, 85, 35])]


def clinic(name: str, day: date, booked: list[tuple[dict[str, Any], dict[str, Any]]]) -> list[Flowable]:
    """Today's appointments with time, patient, CPR, reason and phone."""
    rows = []
    for appointment, patient in booked:
        reason = (appointment.get("description") or ", ".join(map(text.concept, appointment.get("reasonCode") or []))
                  or text.concept(appointment.get("appointmentType")))  # fmt: skip
        start = text.moment(appointment.get("start"))
        rows.append([start[-5:], text.name(patient), text.cpr(patient), reason, text.phone(patient)])
    story: list[Flowable] = [pdf.text(f"Appointments {day.strftime('%d.%m.%Y')}: {len(rows)}", pdf.HEAD)]
    headers = ["Time", "Patient", "CPR", "Reason", "Phone"]
    story.append(pdf.table(headers, rows, [14, 45, 26, 65, 30]) if rows else pdf.text("No appointments today."))
    return story


# Appointment.priority is a number, 1 the most urgent (generate/logistics.py PRIORITIES);
# ServiceRequest.priority a code (https://hl7.org/fhir/R4/valueset-request-priority.html).
PRIORITY_NUMBER = {1: "ACUTE", 2: "ACUTE", 3: "Urgent", 4: "Urgent"}
PRIORITY_CODE = {"stat": "ACUTE", "asap": "ACUTE", "urgent": "Urgent", "routine": "Elective"}


def theatre(name: str, day: date, planned: list[Operation]) -> list[Flowable]:
    """Today's planned operations: time, patient, CPR, phone, the operation, priority, surgeon."""
    rows = []
    for each in planned:
        appointment, order = each.appointment, each.order or {}
        booked = ", ".join(map(text.concept, appointment.get("serviceType") or []))
        operation = text.concept(order.get("code")) or booked or appointment.get("description") or "?"
        rows.append([
            f"{text.moment(appointment.get('start'))[-5:]}–{text.moment(appointment.get('end'))[-5:]}".strip("–"),
            text.name(each.patient), text.cpr(each.patient), text.phone(each.patient), operation,
            priority(appointment, order), surgeon(appointment, order),
        ])  # fmt: skip
    story: list[Flowable] = [pdf.text(f"Planned operations {day.strftime('%d.%m.%Y')}: {len(rows)}", pdf.HEAD)]
    headers = ["Time", "Patient", "CPR", "Phone", "Operation", "Priority", "Surgeon"]
    story.append(pdf.table(headers, rows, [25, 26, 26, 30, 31, 18, 24]) if rows
                 else pdf.text("No operations planned today."))  # fmt: skip
    return story


def priority(appointment: dict[str, Any], order: dict[str, Any]) -> Any:
    """The operation's priority, an acute one in bold: the order's code, else the booking's number."""
    number = appointment.get("priority")
    said = PRIORITY_CODE.get(str(order.get("priority") or "")) or (
        PRIORITY_NUMBER.get(number, "Elective") if isinstance(number, int) else ""
    )
    return pdf.text(said, pdf.STRONG) if said == "ACUTE" else said


def surgeon(appointment: dict[str, Any], order: dict[str, Any]) -> str:
    """The order's performer, else the first practitioner booked (the surgeon, then the anaesthetist)."""
    for reference in [*(order.get("performer") or []),
                      *((p.get("actor") or {}) for p in appointment.get("participant") or [])]:  # fmt: skip
        if str(reference.get("reference") or "").startswith(("Practitioner", "PractitionerRole")):
            return str(reference.get("display") or "")
    return ""


def label_sheet(identifiers: list[str]) -> list[Flowable]:
    """Three labels a row: the identifier large, lines for name and CPR written by hand."""
    cells = [
        [Paragraph(f"<b>{i}</b><br/><br/>Name: ____________________<br/><br/>CPR: _____________", pdf.SMALL)
         for i in identifiers[n:n + 3]]
        for n in range(0, len(identifiers), 3)
    ]  # fmt: skip
    cells[-1] += [""] * (3 - len(cells[-1]))
    grid = Table(cells, colWidths=[60 * mm] * 3, rowHeights=[26 * mm] * len(cells))
    grid.setStyle(TableStyle([("BOX", (0, 0), (-1, -1), 0.5, "black"), ("INNERGRID", (0, 0), (-1, -1), 0.5, "black"),
                              ("VALIGN", (0, 0), (-1, -1), "MIDDLE")]))  # fmt: skip
    note = (
        "Give one identifier to each patient who arrives while the record is down; write it on every paper"
        " note. Each is used once: cross it out here when given."
    )
    return [pdf.text(note, pdf.WARNING), Spacer(1, 3 * mm), grid]


def latest(observations: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The newest of each measurement (the search returns newest first)."""
    shown, seen = [], set()
    for observation in observations:
        key = text.concept(observation.get("code"))
        if key in seen or observation.get("status") in ("entered-in-error", "cancelled") or not value(observation):
            continue
        seen.add(key)
        shown.append(observation)
    return shown


def key_results(observations: list[dict[str, Any]]) -> list[dict[str, Any]]:
    newest = latest([o for o in observations if o.get("status") != "preliminary"])
    return sorted(newest, key=lambda o: flag(o) is None)[:RESULTS]


def flag(observation: dict[str, Any]) -> str | None:
    given = {c for i in observation.get("interpretation") or [] for c in text.codes(i)}
    found = next((code for code in ABNORMAL if code in given), None)
    if found or given:
        return found
    number = (observation.get("valueQuantity") or {}).get("value")
    limits = (observation.get("referenceRange") or [{}])[0]
    low, high = (limits.get("low") or {}).get("value"), (limits.get("high") or {}).get("value")
    if isinstance(number, int | float) and isinstance(high, int | float) and number > high:
        return "H"
    if isinstance(number, int | float) and isinstance(low, int | float) and number < low:
        return "L"
    return None


def value(observation: dict[str, Any]) -> str:
    if "valueQuantity" in observation:
        return text.quantity(observation["valueQuantity"])
    if "valueCodeableConcept" in observation:
        return text.concept(observation["valueCodeableConcept"])
    for kind in ("valueString", "valueInteger"):
        if kind in observation:
            return text.number(observation[kind])
    parts = [text.quantity(c.get("valueQuantity")) for c in observation.get("component") or []]
    parts = [p for p in parts if p]
    return (
        "/".join(p.split(" ")[0] for p in parts) + (" " + parts[0].split(" ", 1)[1] if " " in parts[0] else "")
        if parts
        else ""
    )


def reference(observation: dict[str, Any]) -> str:
    limits = (observation.get("referenceRange") or [{}])[0]
    if limits.get("text"):
        return str(limits["text"])
    low, high = text.quantity(limits.get("low")), text.quantity(limits.get("high"))
    if low and high:
        return f"{low.split(' ')[0]}–{high}"
    return f"up to {high}" if high else f"from {low}" if low else ""


def when(observation: dict[str, Any]) -> str:
    period = observation.get("effectivePeriod") or {}
    return text.moment(
        observation.get("effectiveDateTime") or observation.get("effectiveInstant") or period.get("start")
    )
