"""The whole record as a readable PDF (issue 25), drawn with ReportLab in the downtime reports' way
(downtime/pdf.py: its styles, tables and sections, and its "page x of y" canvas) from the Bundle
the patient downloads (download.py), so the paper holds what the JSON holds: name and date of
birth, contact details, allergies, diagnoses, medication, vaccinations, results with their
reference range, reports on scans and samples, signed notes, and appointments, in plain words in
the page's language (English or Danish).
https://docs.reportlab.com/reportlab/userguide/
"""

from __future__ import annotations

import io
from collections.abc import Callable
from datetime import datetime
from typing import Any
from xml.sax.saxutils import escape

from babel.dates import format_datetime
from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer
from reportlab.platypus.flowables import Flowable

from lifeline.clock import COPENHAGEN
from lifeline.downtime import pdf
from lifeline.fhir.concepts import concept
from lifeline.web import i18n
from lifeline.web.pages.chart import header, summary, words
from lifeline.web.pages.chart.notes import text_of
from lifeline.web.pages.portal.download import resources
from lifeline.web.pages.portal.notes import RELEASED

Say = Callable[[str], str]
NOT_A_DIAGNOSIS = ("entered-in-error", "refuted")
NOT_GIVEN = ("not-done", "entered-in-error")
NOT_A_RESULT = ("entered-in-error", "cancelled", "registered")
VITAL_SIGNS = "vital-signs"
MADE = {"en": "d MMMM y, HH:mm", "da": "d. MMMM y 'kl.' HH:mm"}  # when the copy was made


def record_pdf(bundle: dict[str, Any], language: str, made: datetime) -> bytes:
    """The PDF of `bundle` (a patient's `$everything`), made at `made`, in `language`."""
    say = i18n.translations(language).gettext
    found = resources(bundle)
    patient = (found.get("Patient") or [{}])[0]
    person = header.person(patient, made.astimezone(COPENHAGEN).date(), language)
    when_made = str(format_datetime(made.astimezone(COPENHAGEN), MADE.get(language, MADE["en"]), locale=language))
    story: list[Flowable] = [
        pdf.text(person["name"] or say("Name not recorded"), pdf.HEAD),
        pdf.text(f"{say('Date of birth')}: {(person['birthDate'] or {}).get('text') or say('not recorded')}"),
        pdf.text(say("Your health record as it stood on %(when)s.") % {"when": when_made}, pdf.SMALL),
        Spacer(1, 4 * mm),
    ]
    included = {f"{r.get('resourceType')}/{r.get('id')}": r for rs in found.values() for r in rs}
    for title, parts in (
        (say("Contact details"), _contact(patient, say)),
        (say("Allergies"), _allergies(found.get("AllergyIntolerance") or [], say)),
        (say("Diagnoses"), _diagnoses(found.get("Condition") or [], language, say)),
        (say("Medication"), _medication(found, included, language, say)),
        (say("Vaccinations"), _vaccinations(found.get("Immunization") or [], language, say)),
        (say("Test results"), _results(found.get("Observation") or [], language, say)),
        (say("Scans and reports"), _reports(found.get("DiagnosticReport") or [], language, say)),
        (say("Notes from the hospital"), _notes(found.get("DocumentReference") or [], included, language, say)),
        (say("Appointments"), _appointments(found.get("Appointment") or [], included, language, say)),
    ):
        story += pdf.section(title, parts)
    title = f"{say('Health record')}: {person['name']}"
    return _render(title, when_made, story, say)


def _none(say: Say, text: str) -> list[Flowable]:
    return [pdf.text(say(text), pdf.SMALL)]


def _contact(patient: dict[str, Any], say: Say) -> list[Flowable]:
    rows = []
    for telecom in patient.get("telecom") or []:
        if telecom.get("value"):
            kind = {"phone": say("Phone"), "email": say("E-mail")}.get(str(telecom.get("system")), say("Other"))
            rows.append([kind, str(telecom["value"])])
    for address in patient.get("address") or []:
        lines = [*address.get("line", []), " ".join(p for p in (address.get("postalCode"), address.get("city")) if p)]
        text = address.get("text") or ", ".join(line for line in lines if line)
        if text:
            rows.append([say("Address"), text])
    if not rows:
        return _none(say, "No contact details recorded.")
    return [pdf.table([say("Kind"), say("Details")], rows, [40, 140])]


def _allergies(found: list[dict[str, Any]], say: Say) -> list[Flowable]:
    shown = header.allergies(found)
    if shown["status"] == "none-known":
        return _none(say, "No known allergies.")
    if not shown["items"]:
        return _none(say, "No allergies recorded.")
    rows = [
        [item["substance"], ", ".join(item["reactions"]), say("High risk") if item["criticality"] == "high" else ""]
        for item in shown["items"]
    ]
    return [pdf.table([say("Allergic to"), say("Reaction"), say("Risk")], rows, [70, 80, 30])]


def _diagnoses(found: list[dict[str, Any]], language: str, say: Say) -> list[Flowable]:
    kept = [c for c in found if not set(words.codes(c.get("verificationStatus"))) & set(NOT_A_DIAGNOSIS)]
    if not kept:
        return _none(say, "No diagnoses recorded.")
    statuses = {c.get("id"): set(words.codes(c.get("clinicalStatus"))) for c in kept}
    rows = []
    for problem in summary.problems(kept, language):
        current = bool(statuses.get(problem["id"], set()) & {"active", "recurrence", "relapse"})
        since = (problem["onset"] or {}).get("text", "")
        rows.append([problem["text"], since, say("Current") if current else say("Earlier")])
    return [pdf.table([say("Diagnosis"), say("Since"), say("Status")], rows, [110, 40, 30])]


def _medication(
    found: dict[str, list[dict[str, Any]]], included: dict[str, dict[str, Any]], language: str, say: Say
) -> list[Flowable]:
    requests = [r for r in found.get("MedicationRequest") or [] if r.get("status") == "active"]
    statements = [s for s in found.get("MedicationStatement") or [] if s.get("status") == "active"]
    drugs = {key: value for key, value in included.items() if key.startswith("Medication/")}
    shown = summary.medication(requests, statements, drugs, language)
    if not shown:
        return _none(say, "No current medication recorded.")
    rows = [[drug["name"], _dose(drug["dose"], say), (drug["since"] or {}).get("text", "")] for drug in shown]
    return [pdf.table([say("Medicine"), say("Dose"), say("Since")], rows, [60, 85, 35])]


def _dose(dose: dict[str, Any], say: Say) -> str:
    if dose.get("text"):
        return str(dose["text"])
    parts = [str(dose.get("amount") or "")]
    if dose.get("frequency"):
        unit = {"d": say("day"), "wk": say("week"), "h": say("hour"), "mo": say("month")}
        per = unit.get(str(dose.get("periodUnit")), str(dose.get("periodUnit")))
        if dose["frequency"] == 1 and dose.get("period", 1) == 1:
            parts.append(say("once per %(unit)s") % {"unit": per})
        else:
            parts.append(say("%(times)s times per %(unit)s") % {"times": dose["frequency"], "unit": per})
    if dose.get("asNeeded"):
        parts.append(say("when needed"))
    return ", ".join(p for p in parts if p)


def _vaccinations(found: list[dict[str, Any]], language: str, say: Say) -> list[Flowable]:
    given = [i for i in found if i.get("status") not in NOT_GIVEN]
    if not given:
        return _none(say, "No vaccinations recorded.")
    rows: list[tuple[str, list[str]]] = []
    for immunization in given:
        given_at = immunization.get("occurrenceDateTime") or immunization.get("occurrenceString")
        when = words.when(given_at, language, day=True)
        rows.append((words.in_order(when), [concept(immunization.get("vaccineCode")) or "?", _text(when)]))
    return [pdf.table([say("Vaccine"), say("Given")], _newest_first(rows), [120, 60])]


def _results(found: list[dict[str, Any]], language: str, say: Say) -> list[Flowable]:
    meaning = {
        "normal": say("normal"),
        "above": say("above the normal range"),
        "below": say("below the normal range"),
        "outside": say("outside the normal range"),
    }
    rows: list[tuple[str, list[str]]] = []
    for observation in found:
        categories = {c for cat in observation.get("category") or [] for c in words.codes(cat)}
        if observation.get("status") in NOT_A_RESULT or VITAL_SIGNS in categories:
            continue
        value, unit = summary.value_of(observation, language)
        flag = summary.abnormal_flag(observation)
        direction = {"H": "above", "HH": "above", "L": "below", "LL": "below"}.get(flag or "", "outside")
        said = meaning[direction] if flag else meaning["normal"] if observation.get("referenceRange") else ""
        when = words.when(summary.effective(observation), language)
        name = concept(observation.get("code")) or "?"
        shown = [name, f"{value} {unit}".strip(), words.reference_range(observation.get("referenceRange"), language)]
        rows.append((words.in_order(when), [*shown, said, _text(when)]))
    if not rows:
        return _none(say, "No test results recorded.")
    head = [say("Test"), say("Result"), say("Normal range"), say("Meaning"), say("Taken")]
    return [pdf.table(head, _newest_first(rows), [34, 25, 31, 52, 38])]


def _reports(found: list[dict[str, Any]], language: str, say: Say) -> list[Flowable]:
    """Reports other than the laboratory's (their values are the results above): what was done,
    when, the conclusion and the report's own text."""
    rows: list[tuple[str, list[Flowable]]] = []
    for report in found:
        categories = {c for category in report.get("category") or [] for c in words.codes(category)}
        if report.get("status") in NOT_A_RESULT or "LAB" in categories:
            continue
        when = words.when(report.get("effectiveDateTime") or report.get("issued"), language)
        parts = [pdf.text(" · ".join(p for p in (concept(report.get("code")) or "?", _text(when)) if p), pdf.LABEL)]
        if report.get("conclusion"):
            parts.append(pdf.text(f"{say('Conclusion:')} {report['conclusion']}", pdf.SMALL))
        for form in report.get("presentedForm") or []:
            written = text_of(form).get("text") if isinstance(form, dict) else None
            if written:
                parts.append(_lines(written))
        rows.append((words.in_order(when), parts))
    if not rows:
        return _none(say, "No reports on scans or samples recorded.")
    return [part for _, parts in sorted(rows, key=lambda keyed: keyed[0], reverse=True) for part in parts]


def _notes(found: list[dict[str, Any]], included: dict[str, dict[str, Any]], language: str, say: Say) -> list[Flowable]:
    """The signed, current notes, newest first: kind, when, department, and the whole text."""
    rows: list[tuple[str, list[Flowable]]] = []
    for document in found:
        if document.get("status") != "current" or document.get("docStatus") not in RELEASED:
            continue
        attachment = next((c.get("attachment") or {} for c in document.get("content") or []), {})
        when = words.when(document.get("date") or attachment.get("creation"), language)
        custodian = document.get("custodian") or {}
        department = included.get(str(custodian.get("reference", "")), {}).get("name") or custodian.get("display")
        heading = [concept(document.get("type")) or say("Note"), _text(when), str(department or "")]
        written = text_of(attachment).get("text")
        parts = [pdf.text(" · ".join(p for p in heading if p), pdf.LABEL)]
        parts.append(_lines(written) if written else pdf.text(say("The text cannot be shown here."), pdf.SMALL))
        rows.append((words.in_order(when), parts))
    if not rows:
        return _none(say, "No notes recorded.")
    return [part for _, parts in sorted(rows, key=lambda keyed: keyed[0], reverse=True) for part in parts]


def _lines(written: str) -> Paragraph:
    """Recorded text with its line breaks, markup in it printed as text."""
    return Paragraph(escape(written).replace("\n", "<br/>"), pdf.SMALL)


def _appointments(
    found: list[dict[str, Any]], included: dict[str, dict[str, Any]], language: str, say: Say
) -> list[Flowable]:
    status = {
        "booked": say("booked"),
        "fulfilled": say("took place"),
        "cancelled": say("cancelled"),
        "noshow": say("not attended"),
        "arrived": say("arrived"),
        "checked-in": say("arrived"),
        "proposed": say("proposed"),
        "pending": say("pending"),
        "waitlist": say("on the waiting list"),
    }
    rows: list[tuple[str, list[str]]] = []
    for appointment in found:
        if appointment.get("status") == "entered-in-error":
            continue
        places = []
        for participant in appointment.get("participant") or []:
            reference = str((participant.get("actor") or {}).get("reference", ""))
            if reference.startswith("Location/"):
                place = included.get(reference) or {}
                places.append(str(place.get("name") or participant["actor"].get("display") or ""))
        what = appointment.get("description") or concept((appointment.get("serviceType") or [None])[0])
        when = words.when(appointment.get("start"), language)
        said = status.get(str(appointment.get("status")), str(appointment.get("status") or ""))
        rows.append((words.in_order(when), [_text(when), what or "", ", ".join(p for p in places if p), said]))
    if not rows:
        return _none(say, "No appointments recorded.")
    head = [say("When"), say("What"), say("Where"), say("Status")]
    return [pdf.table(head, _newest_first(rows), [42, 60, 48, 30])]


def _text(when: dict[str, str] | None) -> str:
    return (when or {}).get("text", "")


def _newest_first(rows: list[tuple[str, list[str]]]) -> list[list[str]]:
    return [row for _, row in sorted(rows, key=lambda keyed: keyed[0], reverse=True)]


def _render(title: str, made: str, story: list[Flowable], say: Say) -> bytes:
    """Like downtime/pdf.py `render`, with the portal's own header and footer."""
    out = io.BytesIO()
    document = SimpleDocTemplate(
        out,
        pagesize=A4,
        leftMargin=pdf.MARGIN,
        rightMargin=pdf.MARGIN,
        topMargin=pdf.MARGIN + 12 * mm,
        bottomMargin=pdf.MARGIN + 6 * mm,
        title=title,
        author="Lifeline",
        subject=say("Health record"),
    )

    class Pages(_Numbered):
        heading, when, page_word = title, made, say("Page %(number)s of %(total)s")
        footer = say("Made by Lifeline on %(when)s. Confidential: your health data.") % {"when": made}

    document.build(story, canvasmaker=Pages)
    return out.getvalue()


class _Numbered(pdf._Numbered):  # noqa: SLF001 (the downtime reports' page count, reused)
    page_word = "Page %(number)s of %(total)s"
    footer = ""

    def _decorate(self, number: int, total: int) -> None:
        width, height = A4
        top = height - pdf.MARGIN
        page = self.page_word % {"number": number, "total": total}
        self.setFont("Helvetica-Bold", 12)
        self.drawString(pdf.MARGIN, top - 5 * mm, self.heading[:80])
        self.setFont("Helvetica", 9)
        self.drawRightString(width - pdf.MARGIN, top - 5 * mm, page)
        self.setLineWidth(0.5)
        self.line(pdf.MARGIN, top - 8 * mm, width - pdf.MARGIN, top - 8 * mm)
        self.setFont("Helvetica", 8)
        self.drawString(pdf.MARGIN, pdf.MARGIN, self.footer)
        self.drawRightString(width - pdf.MARGIN, pdf.MARGIN - 4 * mm, page)
