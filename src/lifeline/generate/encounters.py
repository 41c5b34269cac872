"""The clinical backbone of a chart: Encounters (outpatient, emergency, inpatient) at the right
Locations, Conditions, EpisodeOfCare and Procedures.
https://hl7.org/fhir/R4/encounter.html, https://hl7.org/fhir/R4/condition.html"""

from __future__ import annotations

from typing import Any

from lifeline.generate.chart import Chart, Visit
from lifeline.generate.codes import (
    ACT_CODE,
    ADMIT_SOURCE,
    CONDITION_CATEGORY,
    CONDITION_CLINICAL,
    CONDITION_VERIFICATION,
    DIAGNOSIS_ROLE,
    DISCHARGE,
    ICD10,
    PARTICIPATION,
    SNOMED,
    concept,
    ref,
)
from lifeline.generate.conditions import DIAGNOSES, PROCEDURES
from lifeline.generate.days import date_text, instant
from lifeline.generate.region import Department

CLASSES = {
    "AMB": {"system": ACT_CODE, "code": "AMB", "display": "ambulatory"},
    "EMER": {"system": ACT_CODE, "code": "EMER", "display": "emergency"},
    "IMP": {"system": ACT_CODE, "code": "IMP", "display": "inpatient encounter"},
}
_TYPES = {
    "AMB": {"text": "Ambulant besøg"},
    "EMER": {"text": "Akut besøg"},
    "IMP": {"text": "Indlæggelse"},
}
_PRIMARY = [concept(PARTICIPATION, "PPRF", "primary performer")]
_ADMITTING = [concept(PARTICIPATION, "ADM", "admitter")]
_CLINICAL = {s: concept(CONDITION_CLINICAL, s, s.capitalize()) for s in ("active", "resolved", "remission")}
_CONFIRMED = concept(CONDITION_VERIFICATION, "confirmed", "Confirmed")
_PROBLEM = [concept(CONDITION_CATEGORY, "problem-list-item", "Problem List Item")]
_ENCOUNTER_DX = [concept(CONDITION_CATEGORY, "encounter-diagnosis", "Encounter Diagnosis")]
_DIAGNOSIS_USE = {
    "AD": concept(DIAGNOSIS_ROLE, "AD", "Admission diagnosis"),
    "DD": concept(DIAGNOSIS_ROLE, "DD", "Discharge diagnosis"),
}
_FROM_ER = concept(ADMIT_SOURCE, "emd", "From accident/emergency department")
_HOME = concept(DISCHARGE, "home", "Home")
_DIED = concept(DISCHARGE, "exp", "Expired")


def encounter(
    chart: Chart,
    kind: str,
    department: Department,
    day: int,
    minute: int,
    minutes: int | None,
    *,
    condition_id: str | None = None,
    episode_id: str | None = None,
    bed: str | None = None,
    died: bool = False,
    res_id: str | None = None,
    part_of: str | None = None,
    fever: float = 0.0,
) -> Visit:
    """An Encounter of class `kind` (AMB, EMER, IMP) lasting `minutes` (None: still going on)."""
    rng = chart.rng
    physician = department.member("surgeon" if rng.random() < 0.3 else "physician", rng.randrange(8))
    period: dict[str, Any] = {"start": instant(day, minute)}
    if minutes is not None:
        period["end"] = instant(day, minute + minutes)
    place = (department.clinic_id if kind == "AMB" else department.ward_id if kind == "IMP" else None) or (
        department.location_id
    )
    status = "finished" if minutes is not None else "in-progress"
    body: dict[str, Any] = {
        "resourceType": "Encounter",
        "status": status,
        "class": CLASSES[kind],
        "type": [_TYPES[kind]],
        "subject": chart.subject,
    }
    if episode_id is not None:
        body["episodeOfCare"] = [ref("EpisodeOfCare", episode_id)]
    body["participant"] = [
        {
            "type": _ADMITTING if kind == "IMP" else _PRIMARY,
            "individual": ref("PractitionerRole", physician.role_id, physician.name),
        }
    ]
    body["period"] = period
    if condition_id is not None:
        body["reasonReference"] = [ref("Condition", condition_id)]
        if kind == "IMP":
            body["diagnosis"] = [{"condition": ref("Condition", condition_id), "use": _DIAGNOSIS_USE["AD"], "rank": 1}]
    if kind == "IMP":
        hospitalization: dict[str, Any] = {"admitSource": _FROM_ER}
        if minutes is not None:
            hospitalization["dischargeDisposition"] = _DIED if died else _HOME
        body["hospitalization"] = hospitalization
    location_status = "completed" if minutes is not None else "active"
    body["location"] = [{"location": ref("Location", place), "status": location_status, "period": period}]
    if bed is not None:
        body["location"].append({"location": ref("Location", bed), "status": location_status, "period": period})
    body["serviceProvider"] = ref("Organization", department.org_id, department.name)
    if part_of is not None:
        body["partOf"] = ref("Encounter", part_of)
    encounter_id = chart.add(body, res_id)
    return Visit(encounter_id, day, department, physician, fever)


def condition(
    chart: Chart,
    key: str,
    onset: int,
    recorded: int,
    *,
    visit: Visit | None = None,
    resolved: int | None = None,
) -> str:
    """A diagnosis: on the problem list when chronic, an encounter diagnosis when acute."""
    diagnosis = DIAGNOSES[key]
    return add_condition(
        chart, (diagnosis.code, diagnosis.display, diagnosis.danish), diagnosis.chronic, onset, recorded, visit,
        resolved,
    )  # fmt: skip


def add_condition(
    chart: Chart,
    code: tuple[str, str, str],
    chronic: bool,
    onset: int,
    recorded: int,
    visit: Visit | None,
    resolved: int | None,
) -> str:
    if resolved is not None and resolved > chart.end:
        resolved = None
    body: dict[str, Any] = {
        "resourceType": "Condition",
        "clinicalStatus": _CLINICAL["resolved" if resolved is not None else "active"],
        "verificationStatus": _CONFIRMED,
        "category": _PROBLEM if chronic else _ENCOUNTER_DX,
        "code": concept(ICD10, code[0], code[1], code[2]),
        "subject": chart.subject,
    }
    if visit is not None:
        body["encounter"] = ref("Encounter", visit.encounter_id)
    body["onsetDateTime"] = date_text(onset)
    if resolved is not None:
        body["abatementDateTime"] = date_text(resolved)
    body["recordedDate"] = date_text(recorded)
    if visit is not None:
        body["recorder"] = chart.physician(visit)
    return chart.add(body)


def episode(chart: Chart, department: Department, condition_id: str, start: int, end: int | None) -> str:
    physician = department.member("physician", chart.rng.randrange(8))
    period = {"start": date_text(start)}
    if end is not None:
        period["end"] = date_text(end)
    return chart.add(
        {
            "resourceType": "EpisodeOfCare",
            "status": "finished" if end is not None else "active",
            "diagnosis": [{"condition": ref("Condition", condition_id), "rank": 1}],
            "patient": chart.subject,
            "managingOrganization": ref("Organization", department.org_id, department.name),
            "period": period,
            "careManager": ref("Practitioner", physician.practitioner_id, physician.name),
        }
    )


def procedure(
    chart: Chart, key: str, visit: Visit, minute: int, condition_id: str | None, theatre_id: str | None
) -> str:
    spec = PROCEDURES[key]
    rng = chart.rng
    surgeon = visit.department.member("surgeon", rng.randrange(8))
    body: dict[str, Any] = {
        "resourceType": "Procedure",
        "status": "completed",
        "code": concept(SNOMED, spec.code, spec.display, spec.danish),
        "subject": chart.subject,
        "encounter": ref("Encounter", visit.encounter_id),
        "performedPeriod": {"start": instant(visit.day, minute), "end": instant(visit.day, minute + spec.minutes)},
        "performer": [{"actor": ref("PractitionerRole", surgeon.role_id, surgeon.name)}],
    }
    if theatre_id is not None:
        body["location"] = ref("Location", theatre_id)
    if condition_id is not None:
        body["reasonReference"] = [ref("Condition", condition_id)]
    if spec.body_site is not None:
        body["bodySite"] = [concept(SNOMED, spec.body_site[0], spec.body_site[1])]
    return chart.add(body)


def theatre_for(chart: Chart, department: Department) -> str | None:
    """An operating theatre of the department's site where its surgeons operate, if any."""
    theatres = [t for t in department.site.theatres if t.specialty == department.kind] or department.site.theatres
    return chart.rng.choice(theatres).location_id if theatres else None
