"""One patient's whole chart: who they are, their chronic and acute illnesses over the years,
and, by their grid role (grid.py), their booked clinic time, planned operation or current bed."""

from __future__ import annotations

from typing import Any

from lifeline.generate import grid
from lifeline.generate.care import allergies, care_team, consents
from lifeline.generate.chart import Chart, Context
from lifeline.generate.conditions import ACUTE, CHRONIC, DIAGNOSES, by_kind, fits
from lifeline.generate.days import date_text, working_day_on_or_after, years_between
from lifeline.generate.documents import emergency_text, note
from lifeline.generate.encounters import condition, encounter
from lifeline.generate.family import birth, delivery, newborn_chart, newborn_person
from lifeline.generate.history import acute_illness, admission, chronic_course
from lifeline.generate.imaging import imaging
from lifeline.generate.labs import lab_panel, vital_signs
from lifeline.generate.logistics import clinic_appointment, planned_operation
from lifeline.generate.medication import statement
from lifeline.generate.people import Person, birth_day, draw_age, draw_municipality, draw_person, patient_resource

Resource = dict[str, Any]

# Mean number of chronic diseases and of acute illnesses in the record, by age band.
CHRONIC_BY_AGE = ((18, 0.15), (40, 0.35), (60, 0.95), (75, 1.8), (200, 2.4))
ACUTE_BY_AGE = ((18, 0.45), (60, 0.4), (75, 0.8), (200, 1.2))
ACUTE_OPERATIONS = ("appendicitis", "hip-fracture")


def make_chart(context: Context, index: int) -> list[Resource]:
    chart = Chart(context, index)
    family = grid.family_role(index, context.patients)
    if family == "newborn":
        facts = birth(context, index)
        _start(chart, newborn_person(chart, facts))
        newborn_chart(chart, facts)
        _random_history(chart, chronic=0.0, acute=0.5)
        return chart.resources
    if family == "mother":
        facts = birth(context, index - 1)
        _start(chart, facts.mother, links=[facts.mother_id])
        delivery(chart, facts)
        _random_history(chart)
        return chart.resources
    role = grid.grid_role(index, context.patients)
    if role is not None and role[0] == "clinic":
        _clinic_patient(chart, grid.clinic_cell(chart.plan, role[1], context.today))
    elif role is not None and role[0] == "theatre":
        _surgical_patient(chart, grid.theatre_cell(chart.plan, role[1], context.today))
    elif role is not None and (bed := grid.bed_cell(chart.plan, role[1])) is not None:
        _inpatient(chart, bed)
    else:
        _ordinary_patient(chart)
    return chart.resources


def _start(chart: Chart, person: Person, links: list[str] | None = None, death: int | None = None) -> None:
    """Settle who the patient is and write the Patient first, then what every chart has."""
    chart.person = person
    chart.site = chart.plan.sites[person.municipality.site]
    chart.deceased_day = death
    if death is not None:
        chart.end = death
    age = chart.age_on(chart.today)
    chart.weight = chart.rng.gauss(82 if person.male else 68, 12) if age >= 18 else 3.5 + 3.2 * age
    organization = chart.plan.hospital_orgs[chart.site.hospital.key][0]
    deceased = date_text(death) if death is not None else None
    chart.add(patient_resource(chart.patient_id, person, organization, deceased, links), chart.patient_id)
    allergies(chart)
    consents(chart)


def _draw(chart: Chart, site: str | None = None) -> Person:
    """A person from the population pyramid, living in the catchment of `site` if given."""
    rng = chart.rng
    age, male = draw_age(rng), rng.random() < 0.497
    return draw_person(rng, male, birth_day(rng, age, chart.today), draw_municipality(rng, site))


def _draw_for(chart: Chart, keys: tuple[str, ...], site: str) -> tuple[Person, str]:
    """A person with one of the diagnoses `keys`: drawn from the pyramid, and only when none of
    the diagnoses fits them, drawn again at an age and sex that one does (so the patients with
    a booking keep the population's shape as far as their diseases allow)."""
    rng = chart.rng
    person = _draw(chart, site)
    age = years_between(person.born, chart.today)
    fitting = tuple(k for k in keys if fits(k, age, person.male))
    if fitting:
        return person, _pick(chart, fitting)
    key = _pick(chart, keys)
    low, high = DIAGNOSES[key].ages
    sex = DIAGNOSES[key].sex
    male = sex == "male" if sex else rng.random() < 0.497
    born = birth_day(rng, draw_age(rng, low, high), chart.today)
    return draw_person(rng, male, born, draw_municipality(rng, site)), key


def _pick(chart: Chart, keys: tuple[str, ...]) -> str:
    return chart.rng.choices(keys, [DIAGNOSES[k].weight for k in keys])[0]


def _count(chart: Chart, table: tuple[tuple[int, float], ...], scale: float = 1.0) -> int:
    """A Poisson-like count with the table's mean for the patient's age."""
    age = chart.age_on(chart.end)
    mean = next(m for limit, m in table if age < limit) * scale
    count = 0
    threshold = chart.rng.random()
    term = total = pow(2.718281828459045, -mean)
    while threshold > total and count < 8:
        count += 1
        term *= mean / count
        total += term
    return count


def _random_history(chart: Chart, *, chronic: float = 1.0, acute: float = 1.0, skip: str | None = None) -> None:
    rng = chart.rng
    age = chart.age_on(chart.end)
    male = chart.person.male
    have = {skip}
    for _ in range(_count(chart, CHRONIC_BY_AGE, chronic)):
        choices = tuple(k for k in CHRONIC if k not in have and fits(k, age, male))
        if not choices:
            break
        key = _pick(chart, choices)
        have.add(key)
        earliest = max(chart.birthday(DIAGNOSES[key].ages[0]), chart.today - 20 * 365)
        if earliest < chart.end - 60:
            chronic_course(chart, key, rng.randint(earliest, chart.end - 60))
    last = chart.end - 12
    for _ in range(_count(chart, ACUTE_BY_AGE, acute)):
        if last <= chart.first_day:
            break
        day = rng.randint(chart.first_day, last)
        choices = tuple(k for k in ACUTE if fits(k, chart.age_on(day), male))
        if choices:
            acute_illness(chart, _pick(chart, choices), day)
    if age >= 60 and rng.random() < 0.3:
        statement(chart, "vitamin-d", rng.randint(chart.first_day, chart.end))


def _ordinary_patient(chart: Chart) -> None:
    rng = chart.rng
    person = _draw(chart)
    age = (chart.today - person.born.toordinal()) / 365.25
    dies = rng.random() < (0.12 if age >= 80 else 0.04 if age >= 65 else 0.004)
    death = rng.randint(max(chart.context.start, chart.today - 5 * 365), chart.today - 1) if dies else None
    if death is not None and death <= person.born.toordinal() + 30:
        death = None
    _start(chart, person, death=death)
    _random_history(chart)
    if death is not None:
        fatal = tuple(
            k for k in ("pneumonia", "stroke", "nstemi", "hip-fracture") if fits(k, chart.age_on(death), person.male)
        )
        stay = rng.randint(1, 8)
        if fatal and death - stay > chart.first_day:
            acute_illness(chart, _pick(chart, fatal), death - stay, died=True, stay=stay)


def _clinic_patient(chart: Chart, cell: grid.ClinicCell) -> None:
    """Booked in a clinic today or soon, for a disease that department treats."""
    rng = chart.rng
    person, key = _draw_for(chart, by_kind(cell.department.kind), cell.department.site.site.key)
    _start(chart, person)
    diagnosis = DIAGNOSES[key]
    if diagnosis.chronic:
        earliest = max(chart.birthday(diagnosis.ages[0]), chart.today - 15 * 365)
        condition_id = chronic_course(chart, key, rng.randint(earliest, max(earliest, chart.today - 30)))
        follow_up = True
    else:
        referred = chart.today - rng.randint(10, 60)
        condition_id = condition(chart, key, max(referred, chart.first_day), max(referred, chart.first_day))
        follow_up = False
    _random_history(chart, skip=key)
    clinic_appointment(chart, cell, condition_id, follow_up)


def _surgical_patient(chart: Chart, cell: grid.TheatreCell) -> None:
    """Booked for an operation: acute (the first slot of today's theatre day), urgent or elective."""
    rng = chart.rng
    priority = "acute" if cell.day == chart.today and cell.position == 0 else "elective"
    if priority == "elective" and cell.day - chart.today <= 7 and rng.random() < 0.35:
        priority = "urgent"
    keys = by_kind(cell.theatre.specialty, surgical=True)
    preferred = tuple(k for k in keys if (k in ACUTE_OPERATIONS) == (priority == "acute")) or keys
    person, key = _draw_for(chart, preferred, cell.theatre.site.site.key)
    _start(chart, person)
    diagnosis = DIAGNOSES[key]
    department = cell.theatre.site.departments[cell.theatre.specialty]
    if diagnosis.chronic:
        earliest = max(chart.birthday(diagnosis.ages[0]), chart.today - 10 * 365)
        condition_id = chronic_course(
            chart, key, rng.randint(earliest, max(earliest, chart.today - 60)), operated=False
        )
    elif priority == "acute":
        minute = rng.randint(0, 5 * 60)
        emergency = chart.site_department("akut")
        visit = encounter(chart, "EMER", emergency, chart.today, minute, None, fever=0.6)
        chart.lab_effects.append((chart.today, True, diagnosis.effects))
        condition_id = condition(chart, key, chart.today, chart.today, visit=visit)
        vital_signs(chart, visit, minute + 10, full=True)
        lab_panel(chart, visit, diagnosis.labs, minute + 20)
        if diagnosis.imaging:
            imaging(chart, visit, diagnosis.imaging[0], minute + 60, condition_id, abnormal=True)
        note(chart, visit, "emergency", minute + 90, emergency_text(diagnosis.danish, True))
    else:
        onset = max(chart.first_day, chart.today - rng.randint(30, 200))
        condition_id = condition(chart, key, onset, onset)
        seen = working_day_on_or_after(onset + 7)
        if seen < chart.today:
            visit = encounter(chart, "AMB", department, seen, 10 * 60, 30, condition_id=condition_id)
            if diagnosis.imaging:
                imaging(chart, visit, diagnosis.imaging[0], 9 * 60, condition_id, abnormal=True)
            note(chart, visit, "progress", 10 * 60 + 25, f"Forundersøgelse. {diagnosis.danish}. Opereres.")
    _random_history(chart, skip=key)
    planned_operation(chart, cell, key, condition_id, priority)


def _inpatient(chart: Chart, cell: grid.BedCell) -> None:
    """In a bed today: came in through the emergency department a few days ago."""
    rng = chart.rng
    department = cell.department
    keys = by_kind(department.kind)
    admitted = tuple(k for k in keys if DIAGNOSES[k].admitted) or keys
    person, key = _draw_for(chart, admitted, department.site.site.key)
    _start(chart, person)
    _random_history(chart, skip=key)
    diagnosis = DIAGNOSES[key]
    day = max(chart.today - rng.randint(0, 8), chart.first_day)
    if diagnosis.chronic:
        condition_id = chronic_course(chart, key, max(chart.first_day, day - rng.randint(200, 3000)), operated=False)
    else:
        condition_id = ""
    minute = rng.randint(0, 10 * 60) if day == chart.today else rng.randrange(24 * 60)
    emergency = chart.site_department("akut")
    chart.lab_effects.append((day, True, diagnosis.effects))
    fever = min(1.0, diagnosis.effects.get("crp", (0.0, 0.0))[0] / 8)
    visit = encounter(chart, "EMER", emergency, day, minute, 180, fever=fever)
    if not condition_id:
        condition_id = condition(chart, key, day, day, visit=visit)
    vital_signs(chart, visit, minute + 10, full=True)
    lab_panel(chart, visit, diagnosis.labs, minute + 20)
    ward = admission(chart, key, department, day, minute + 180, condition_id, bed=cell.bed_id, fever=fever)
    nurses = [department.member("nurse", cell.bed_number + n) for n in range(2)]
    care_team(chart, department, f"Stuegang, {department.name}", day, None, [ward.physician, *nurses])
