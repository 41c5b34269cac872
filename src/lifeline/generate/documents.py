"""Clinical notes as DocumentReference with a short Danish text (plain text, base64 in the
attachment as R4 requires). https://hl7.org/fhir/R4/documentreference.html"""

from __future__ import annotations

import base64

from lifeline.generate.chart import Chart, Visit
from lifeline.generate.codes import LOINC, concept, ref
from lifeline.generate.days import instant

NOTE_TYPES = {
    "progress": concept(LOINC, "11506-3", "Progress note", "Ambulant notat"),
    "admission": concept(LOINC, "34117-2", "History and physical note", "Indlæggelsesnotat"),
    "discharge": concept(LOINC, "18842-5", "Discharge summary", "Epikrise"),
    "emergency": concept(LOINC, "34111-5", "Emergency department note", "Akutnotat"),
}
_TITLES = {
    "progress": "Ambulant notat",
    "admission": "Indlæggelsesnotat",
    "discharge": "Epikrise",
    "emergency": "Akutnotat",
}
_WELL = ("Har det godt.", "Har det nogenlunde.", "Lidt mere træt end sidst.", "Ingen nye symptomer.")


def note(chart: Chart, visit: Visit, kind: str, minute: int, text: str) -> str:
    when = instant(visit.day, minute)
    return chart.add(
        {
            "resourceType": "DocumentReference",
            "status": "current",
            "docStatus": "final",
            "type": NOTE_TYPES[kind],
            "subject": chart.subject,
            "date": when,
            "author": [chart.physician(visit)],
            "custodian": ref("Organization", visit.department.org_id, visit.department.name),
            "description": _TITLES[kind],
            "content": [
                {
                    "attachment": {
                        "contentType": "text/plain; charset=utf-8",
                        "language": "da",
                        "data": base64.b64encode(text.encode()).decode(),
                        "title": _TITLES[kind],
                        "creation": when,
                    }
                }
            ],
            "context": {"encounter": [ref("Encounter", visit.encounter_id)]},
        }
    )


def follow_up_text(chart: Chart, danish: str, months: int) -> str:
    return (
        f"Ambulant kontrol for {danish.lower()}. {chart.rng.choice(_WELL)} "
        f"Fortsætter vanlig behandling. Ny kontrol om {months} måneder."
    )


def emergency_text(danish: str, admitted: bool) -> str:
    plan = "Indlægges til videre behandling." if admitted else "Kan afsluttes til eget hjem."
    return f"Henvender sig i akutmodtagelsen. Vurderes at have {danish.lower()}. {plan}"


def discharge_text(danish: str, days: int, died: bool) -> str:
    if died:
        return f"Indlagt i {days} dage med {danish.lower()}. Forværring trods behandling. Død under indlæggelsen."
    return (
        f"Udskrives efter {days} dages indlæggelse for {danish.lower()}. Ukompliceret forløb. Opfølgning hos egen læge."
    )


def admission_text(danish: str) -> str:
    return f"Indlægges med {danish.lower()}. Stabile vitale parametre. Behandling opstartet. Tilses igen i morgen."
