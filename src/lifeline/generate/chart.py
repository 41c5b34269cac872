"""One patient's chart as it is being made: the patient's own random stream, who they are, the
window of their record, and the resources made so far (written out as soon as the chart is done).

The random stream is seeded from (seed, patient number) alone, so a chart comes out the same
whichever process makes it and in whatever order."""

from __future__ import annotations

import datetime
import random
from dataclasses import dataclass, field
from typing import Any

from lifeline.generate.codes import SYNTHETIC_META, ref
from lifeline.generate.days import years_between
from lifeline.generate.ids import drawn_id, keyed_id
from lifeline.generate.people import Person
from lifeline.generate.region import Department, Plan, SitePlan, StaffMember

Resource = dict[str, Any]


@dataclass(frozen=True)
class Context:
    """What every chart of one run shares."""

    seed: int
    patients: int
    today: int  # day ordinal of "today"
    start: int  # day ordinal where the record begins
    plan: Plan


def patient_id(seed: int, index: int) -> str:
    return keyed_id(seed, "Patient", index)


@dataclass
class Visit:
    """An encounter being filled in: what labs, vital signs, notes and imaging attach to."""

    encounter_id: str
    day: int
    department: Department
    physician: StaffMember
    fever: float = 0.0  # 0 .. 1, how ill: moves pulse, temperature, saturation


@dataclass
class Chart:
    context: Context
    index: int
    rng: random.Random = field(init=False)
    resources: list[Resource] = field(default_factory=list)
    person: Person = field(init=False)
    site: SitePlan = field(init=False)  # the hospital site of the patient's catchment
    end: int = field(init=False)  # the last day of the record: today, or the day of death
    deceased_day: int | None = None
    weight: float = 70.0
    lab_levels: dict[str, float] = field(default_factory=dict)
    lab_effects: list[tuple[int, bool, dict[str, tuple[float, float]]]] = field(default_factory=list)
    hypertension_from: int | None = None

    def __post_init__(self) -> None:
        self.rng = random.Random(f"{self.context.seed}:{self.index}")
        self.end = self.context.today
        self.patient_id = patient_id(self.context.seed, self.index)
        self.subject = ref("Patient", self.patient_id)

    @property
    def plan(self) -> Plan:
        return self.context.plan

    @property
    def today(self) -> int:
        return self.context.today

    @property
    def first_day(self) -> int:
        """The first day of the record: its start, or birth if later."""
        return max(self.context.start, self.person.born.toordinal())

    def add(self, resource: Resource, res_id: str | None = None) -> str:
        """Give the resource its id and the synthetic-data label, and keep it; returns the id."""
        res_id = res_id or drawn_id(self.rng)
        stamped = {"resourceType": resource["resourceType"], "id": res_id, "meta": SYNTHETIC_META}
        stamped.update(resource)
        self.resources.append(stamped)
        return res_id

    def age_on(self, day: int) -> int:
        return years_between(self.person.born, day)

    def birthday(self, years: int) -> int:
        born = self.person.born
        try:
            return born.replace(year=born.year + years).toordinal()
        except ValueError:  # 29 February
            return datetime.date(born.year + years, 3, 1).toordinal()

    def site_department(self, kind: str) -> Department:
        return self.plan.department(self.site.site.key, kind)

    def physician(self, visit: Visit) -> dict[str, Any]:
        return ref("PractitionerRole", visit.physician.role_id, visit.physician.name)

    def bp_shift(self, day: int) -> float:
        """Systolic pressure above the age norm: high when hypertension is found, lower as treated."""
        if self.hypertension_from is None or day < self.hypertension_from:
            return 0.0
        years = (day - self.hypertension_from) / 365.25
        return max(28.0 - 10.0 * years, 8.0)
