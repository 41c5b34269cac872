"""Today's and the coming days' logistics, shared out by patient number so that charts made
independently (and in parallel) never double-book a bed, a clinic time or a theatre slot.

Patient number i has at most one *grid role*, from i mod 16: 1 and 9 an outpatient clinic time,
3 a bed (a current inpatient), 6 a theatre slot (a planned operation); the other three in four
patients have none. The k-th patient of a role
takes the k-th cell of that role's grid, which fills today first, place by place in plan order,
then the following working days: so even a small region has a full ward, clinic and theatre
today. Mothers and newborns (i mod 100 = 8 and 7) take no grid role; their cells stay free."""

from __future__ import annotations

from typing import Literal, NamedTuple

from lifeline.generate.days import add_working_days
from lifeline.generate.region import Department, Plan, Theatre

Role = Literal["clinic", "bed", "theatre"]

CLINIC_TIMES = tuple(8 * 60 + 30 * n for n in range(16))  # 08:00 .. 15:30, 30 minutes each
CLINIC_MINUTES = 30
THEATRE_TIMES = tuple(8 * 60 + 90 * n for n in range(5))  # 08:00 .. 14:00, 90 minutes each
THEATRE_MINUTES = 90


class ClinicCell(NamedTuple):
    number: int
    department: Department
    day: int
    minute: int


class TheatreCell(NamedTuple):
    number: int
    theatre: Theatre
    day: int
    minute: int
    position: int  # 0 for the day's first operation in this theatre


class BedCell(NamedTuple):
    number: int
    department: Department
    bed_id: str
    bed_number: int


def family_role(index: int, patients: int) -> Literal["newborn", "mother"] | None:
    """About 1 in 100 patients is a newborn; the next patient is the mother."""
    remainder = index % 100
    if remainder == 7 and index + 1 < patients:
        return "newborn"
    if remainder == 8:
        return "mother"
    return None


def grid_role(index: int, patients: int) -> tuple[Role, int] | None:
    """(role, cell number) of patient `index`, or None."""
    if family_role(index, patients):
        return None
    remainder = index % 16
    if remainder in (1, 9):
        return "clinic", 2 * (index // 16) + (remainder == 9)
    if remainder == 3:
        return "bed", index // 16
    if remainder == 6:
        return "theatre", index // 16
    return None


def patient_of(role: Role, number: int) -> int:
    """The patient number that would hold cell `number` of `role` (the inverse of grid_role)."""
    if role == "clinic":
        return 16 * (number // 2) + (1 if number % 2 == 0 else 9)
    return 16 * number + (3 if role == "bed" else 6)


def is_taken(role: Role, number: int, patients: int) -> bool:
    index = patient_of(role, number)
    return index < patients and grid_role(index, patients) == (role, number)


def clinic_cell(plan: Plan, number: int, today: int) -> ClinicCell:
    per_day = len(CLINIC_TIMES) * len(plan.clinics)
    days, rest = divmod(number, per_day)
    place, time = divmod(rest, len(CLINIC_TIMES))
    return ClinicCell(number, plan.clinics[place], add_working_days(today, days), CLINIC_TIMES[time])


def theatre_cell(plan: Plan, number: int, today: int) -> TheatreCell:
    per_day = len(THEATRE_TIMES) * len(plan.theatres)
    days, rest = divmod(number, per_day)
    place, time = divmod(rest, len(THEATRE_TIMES))
    return TheatreCell(number, plan.theatres[place], add_working_days(today, days), THEATRE_TIMES[time], time)


def bed_cell(plan: Plan, number: int) -> BedCell | None:
    """The number-th bed of the region, or None when every bed is taken."""
    if number >= len(plan.beds):
        return None
    department, bed_id = plan.beds[number]
    return BedCell(number, department, bed_id, department.beds.index(bed_id) + 1)
