"""What surrounds the treatment: allergies, consents and care teams.
https://hl7.org/fhir/R4/allergyintolerance.html, https://hl7.org/fhir/R4/consent.html,
https://hl7.org/fhir/R4/careteam.html"""

from __future__ import annotations

from typing import Any, NamedTuple

from lifeline.generate.chart import Chart
from lifeline.generate.codes import (
    ACT_CODE,
    ALLERGY_CLINICAL,
    ALLERGY_VERIFICATION,
    CONSENT_SCOPE,
    LOINC,
    SNOMED,
    concept,
    ref,
)
from lifeline.generate.days import date_text, instant
from lifeline.generate.region import Department, StaffMember


class Allergen(NamedTuple):
    code: str  # SNOMED CT substance
    display: str
    danish: str
    category: str
    kind: str  # allergy or intolerance
    reaction: tuple[str, str]  # SNOMED CT clinical finding
    criticality: str


# fmt: off
ALLERGENS = (
    Allergen("764146007", "Penicillin", "Penicillin", "medication", "allergy", ("126485001", "Urticaria"), "high"),
    Allergen("387207008", "Ibuprofen", "Ibuprofen", "medication", "allergy", ("267036007", "Dyspnea"), "high"),
    Allergen("762952008", "Peanut", "Jordnødder", "food", "allergy", ("39579001", "Anaphylaxis"), "high"),
    Allergen("256259004", "Pollen", "Pollen", "environment", "allergy", ("61582004", "Allergic rhinitis"), "low"),
    Allergen("260147004", "House dust mite", "Husstøvmider", "environment", "allergy",
             ("61582004", "Allergic rhinitis"), "low"),
    Allergen("111088007", "Latex", "Latex", "environment", "allergy", ("271807003", "Eruption of skin"), "high"),
    Allergen("102263004", "Eggs", "Æg", "food", "allergy", ("271807003", "Eruption of skin"), "low"),
    Allergen("3718001", "Cow's milk", "Komælk", "food", "intolerance", ("62315008", "Diarrhea"), "low"),
)
# fmt: on
_ACTIVE = concept(ALLERGY_CLINICAL, "active", "Active")
_CONFIRMED = concept(ALLERGY_VERIFICATION, "confirmed", "Confirmed")


def allergies(chart: Chart) -> None:
    rng = chart.rng
    draw = rng.random()
    count = 2 if draw < 0.03 else 1 if draw < 0.18 else 0
    for allergen in rng.sample(ALLERGENS, count):
        recorded = rng.randint(chart.first_day, chart.end)
        chart.add(
            {
                "resourceType": "AllergyIntolerance",
                "clinicalStatus": _ACTIVE,
                "verificationStatus": _CONFIRMED,
                "type": allergen.kind,
                "category": [allergen.category],
                "criticality": allergen.criticality,
                "code": concept(SNOMED, allergen.code, allergen.display, allergen.danish),
                "patient": chart.subject,
                "recordedDate": instant(recorded, 11 * 60),
                "reaction": [{"manifestation": [concept(SNOMED, *allergen.reaction)], "severity": "moderate"}],
            }
        )


_SHARING = concept(CONSENT_SCOPE, "patient-privacy", "Privacy Consent")
_CONSENT = [concept(LOINC, "59284-0", "Patient Consent", "Samtykke")]
_RULES = {
    "permit": concept(ACT_CODE, "OPTIN", "opt-in", "Samtykke til indhentning af helbredsoplysninger"),
    "deny": concept(ACT_CODE, "OPTOUT", "opt-out", "Frabedt videregivelse af helbredsoplysninger"),
}


def consents(chart: Chart) -> None:
    """Most adults have said yes or no to their record being shared between hospitals."""
    rng = chart.rng
    if chart.age_on(chart.end) < 15 or rng.random() < 0.4:
        return
    day = rng.randint(chart.first_day, chart.end)
    kind = "deny" if rng.random() < 0.08 else "permit"
    chart.add(
        {
            "resourceType": "Consent",
            "status": "active" if chart.deceased_day is None else "inactive",
            "scope": _SHARING,
            "category": _CONSENT,
            "patient": chart.subject,
            "dateTime": instant(day, 10 * 60),
            "organization": [ref("Organization", chart.plan.hospital_orgs[chart.site.hospital.key][0])],
            "policyRule": _RULES[kind],
            "provision": {"type": kind, "period": {"start": date_text(day)}},
        }
    )


_ROLES = {
    "physician": {"text": "Ansvarlig læge"},
    "surgeon": {"text": "Ansvarlig kirurg"},
    "nurse": {"text": "Kontaktsygeplejerske"},
    "midwife": {"text": "Jordemoder"},
}


def care_team(
    chart: Chart, department: Department, name: str, start: int, end: int | None, members: list[StaffMember]
) -> str:
    period: dict[str, Any] = {"start": date_text(start)}
    if end is not None:
        period["end"] = date_text(end)
    return chart.add(
        {
            "resourceType": "CareTeam",
            "status": "active" if end is None else "inactive",
            "name": name,
            "subject": chart.subject,
            "period": period,
            "participant": [
                {
                    "role": [_ROLES.get(m.role, {"text": m.role})],
                    "member": ref("PractitionerRole", m.role_id, m.name),
                }
                for m in members
            ],
            "managingOrganization": [ref("Organization", department.org_id, department.name)],
        }
    )
