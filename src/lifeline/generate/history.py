"""A patient's years in the record: chronic diseases followed in a clinic, and acute illnesses
seen in the emergency department and often admitted, each with the vital signs, blood tests,
imaging, operations, medicines and notes that go with it."""

from __future__ import annotations

from lifeline.generate.care import care_team
from lifeline.generate.chart import Chart, Visit
from lifeline.generate.conditions import DIAGNOSES, PROCEDURES
from lifeline.generate.days import working_day_on_or_after
from lifeline.generate.documents import admission_text, discharge_text, emergency_text, follow_up_text, note
from lifeline.generate.encounters import condition, encounter, episode, procedure, theatre_for
from lifeline.generate.imaging import imaging
from lifeline.generate.labs import lab_panel, vital_signs
from lifeline.generate.logistics import cancelled_appointment
from lifeline.generate.medication import prescribe
from lifeline.generate.region import Department

VISIT_GAP = (110, 300)  # days between clinic visits
DOWNTIME_CANCELLED = 0.03  # share of clinic visits cancelled in an IT breakdown


def chronic_course(chart: Chart, key: str, onset: int, *, operated: bool = True) -> str:
    """A chronic disease from `onset`: on the problem list, an episode of care at its department,
    clinic visits every several months while the record lasts, medicines from the first visit."""
    diagnosis = DIAGNOSES[key]
    rng = chart.rng
    department = chart.site_department(diagnosis.kind)
    if diagnosis.effects:
        chart.lab_effects.append((onset, False, diagnosis.effects))
    if key == "hypertension":
        chart.hypertension_from = onset
    condition_id = condition(chart, key, onset, onset)
    first = working_day_on_or_after(max(onset, chart.first_day))
    episode_id = episode(chart, department, condition_id, first, chart.deceased_day)
    if rng.random() < 0.3:
        members = [department.member("physician", rng.randrange(8)), department.member("nurse", rng.randrange(8))]
        care_team(chart, department, f"{diagnosis.danish}, {department.name}", first, chart.deceased_day, members)
    day = first
    number = 0
    while day < chart.end:
        if rng.random() < DOWNTIME_CANCELLED and day < chart.today:
            cancelled_appointment(chart, department, day, condition_id)
        else:
            clinic_visit(chart, key, department, day, condition_id, episode_id, first_visit=number == 0)
            number += 1
        day = working_day_on_or_after(day + rng.randint(*VISIT_GAP))
    spec = PROCEDURES.get(diagnosis.procedure or "")
    if operated and spec is not None and spec.theatre and rng.random() < 0.35:
        surgery_day = working_day_on_or_after(first + rng.randint(30, 120))
        if surgery_day < chart.end - 10:
            admission(chart, key, department, surgery_day, rng.randint(7 * 60, 8 * 60), condition_id, elective=True)
    return condition_id


def clinic_visit(
    chart: Chart, key: str, department: Department, day: int, condition_id: str, episode_id: str, *, first_visit: bool
) -> Visit:
    diagnosis = DIAGNOSES[key]
    rng = chart.rng
    minute = 8 * 60 + 30 * rng.randrange(16)
    visit = encounter(chart, "AMB", department, day, minute, 30, condition_id=condition_id, episode_id=episode_id)
    vital_signs(chart, visit, minute + 5, full=False)
    if diagnosis.labs and rng.random() < 0.6:
        lab_panel(chart, visit, diagnosis.labs, minute - 45)
    if first_visit:
        for medicine in diagnosis.medicines:
            prescribe(chart, medicine, day, encounter_id=visit.encounter_id, requester=chart.physician(visit),
                      reason_id=condition_id)  # fmt: skip
        if diagnosis.imaging:
            imaging(chart, visit, diagnosis.imaging[0], minute - 120, condition_id, abnormal=rng.random() < 0.6)
        spec = PROCEDURES.get(diagnosis.procedure or "")
        if spec is not None and not spec.theatre:
            procedure(chart, diagnosis.procedure or "", visit, minute + 30, condition_id, None)
    if rng.random() < 0.4:
        note(chart, visit, "progress", minute + 25, follow_up_text(chart, diagnosis.danish, rng.choice((3, 6, 12))))
    return visit


def acute_illness(chart: Chart, key: str, day: int, *, died: bool = False, stay: int | None = None) -> str:
    """An emergency visit for an acute illness, with an admission if the illness needs one."""
    diagnosis = DIAGNOSES[key]
    rng = chart.rng
    minute = rng.randrange(24 * 60)
    fever = min(1.0, diagnosis.effects.get("crp", (0.0, 0.0))[0] / 8)
    emergency = chart.site_department("akut")
    chart.lab_effects.append((day, True, diagnosis.effects))
    hours = rng.randint(2, 6)
    visit = encounter(chart, "EMER", emergency, day, minute, hours * 60, fever=fever)
    if stay is None:
        stay = rng.randint(2, 9) if diagnosis.admitted else 0
    resolved = None if died else day + stay + rng.randint(7, 30)
    condition_id = condition(chart, key, day, day, visit=visit, resolved=resolved)
    vital_signs(chart, visit, minute + 10, full=True)
    if diagnosis.labs:
        lab_panel(chart, visit, diagnosis.labs, minute + 20)
    if diagnosis.imaging and rng.random() < 0.8:
        imaging(chart, visit, diagnosis.imaging[0], minute + 60, condition_id, abnormal=rng.random() < 0.7)
    note(chart, visit, "emergency", minute + hours * 60 - 15, emergency_text(diagnosis.danish, diagnosis.admitted))
    if not diagnosis.admitted:
        for medicine in diagnosis.medicines[:1]:
            prescribe(chart, medicine, day, encounter_id=visit.encounter_id, requester=chart.physician(visit),
                      reason_id=condition_id)  # fmt: skip
        return condition_id
    department = chart.site_department(diagnosis.kind)
    admission(chart, key, department, day, minute + hours * 60, condition_id, stay=stay, died=died, fever=fever)
    return condition_id


def admission(
    chart: Chart,
    key: str,
    department: Department,
    day: int,
    minute: int,
    condition_id: str,
    *,
    stay: int | None = None,
    died: bool = False,
    elective: bool = False,
    fever: float = 0.0,
    bed: str | None = None,
) -> Visit:
    """A stay in the department's ward from `day`; `stay` None with a bed: still admitted today."""
    diagnosis = DIAGNOSES[key]
    rng = chart.rng
    ongoing = bed is not None
    if stay is None:
        stay = rng.randint(1, 6)
    discharge_minute = 11 * 60 + rng.randrange(180)
    minutes = None if ongoing else stay * 24 * 60 + discharge_minute - minute
    visit = encounter(
        chart, "IMP", department, day, minute, minutes, condition_id=condition_id, bed=bed, died=died, fever=fever
    )
    note(chart, visit, "admission", minute + 60, admission_text(diagnosis.danish))
    for medicine in diagnosis.medicines:
        prescribe(chart, medicine, day, encounter_id=visit.encounter_id, requester=chart.physician(visit),
                  reason_id=condition_id, inpatient=True, stopped=None if ongoing else day + stay)  # fmt: skip
    spec = PROCEDURES.get(diagnosis.procedure or "")
    operation_day = day if elective else day + 1
    if spec is not None and spec.theatre and operation_day <= chart.today - (0 if elective else 1):
        theatre = theatre_for(chart, department)
        at = Visit(visit.encounter_id, operation_day, department, visit.physician)
        procedure(chart, diagnosis.procedure or "", at, 9 * 60 if elective else 13 * 60, condition_id, theatre)
    last = chart.today if ongoing else day + stay
    for ward_day in sorted({day + 1, last} if last > day else set()):
        if ward_day > chart.today:
            continue
        rounds = Visit(visit.encounter_id, ward_day, department, visit.physician, fever * 0.4)
        vital_signs(chart, rounds, 7 * 60 + 30, full=True)
        if diagnosis.labs:
            lab_panel(chart, rounds, diagnosis.labs[:5], 7 * 60)
    if not ongoing:
        end = Visit(visit.encounter_id, day + stay, department, visit.physician)
        note(chart, end, "discharge", discharge_minute - 30, discharge_text(diagnosis.danish, stay, died))
    return visit
