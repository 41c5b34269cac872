"""The plan of the region: every organisation, place and staff member with its id, built the same
way in every process from the fixed shape in hospitals.py. Charts refer to it (a patient's
department, ward, bed, clinic, theatre, doctor); organisations.py turns it into resources.

The plan does not depend on the seed: populations drawn with different seeds share one region."""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache

from lifeline.generate import names
from lifeline.generate.hospitals import HOSPITALS, KINDS, REGIONS, SURGICAL, Hospital, Site
from lifeline.generate.ids import keyed_id
from lifeline.generate.sor import sor_code

_ROOT = "lifeline-region-1"  # the key of every id in the plan


@dataclass(frozen=True)
class StaffMember:
    key: str  # also the login user name, e.g. "rh.kard.nurse1"
    role: str
    given: str
    family: str
    gender: str
    practitioner_id: str
    role_id: str

    @property
    def name(self) -> str:
        return f"{self.given} {self.family}"


@dataclass
class Department:
    key: str  # "rh.kard"
    kind: str
    site: SitePlan
    org_id: str
    location_id: str
    sor: str
    ward_id: str | None = None
    ward_sor: str | None = None
    beds: list[str] = field(default_factory=list)
    clinic_id: str | None = None
    clinic_sor: str | None = None
    clinic_schedule_id: str | None = None
    staff: dict[str, list[StaffMember]] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return f"{KINDS[self.kind].name}, {self.site.site.name}"

    def member(self, role: str, n: int) -> StaffMember:
        """The n-th (wrapping) staff member in a role, falling back to the physicians."""
        people = self.staff.get(role) or self.staff.get("physician") or next(iter(self.staff.values()))
        return people[n % len(people)]


@dataclass
class Theatre:
    key: str
    name: str
    site: SitePlan
    specialty: str  # the department kind that operates here
    location_id: str
    schedule_id: str


@dataclass
class SitePlan:
    site: Site
    hospital: Hospital
    location_id: str
    sor: str
    departments: dict[str, Department] = field(default_factory=dict)
    theatres: list[Theatre] = field(default_factory=list)


@dataclass
class Plan:
    region_orgs: dict[str, tuple[str, str]]  # region key -> (Organization id, SOR)
    hospital_orgs: dict[str, tuple[str, str]]  # hospital key -> (Organization id, SOR)
    sites: dict[str, SitePlan]
    clinics: list[Department]  # in plan order: the order the clinic day grid fills them
    theatres: list[Theatre]
    beds: list[tuple[Department, str]]  # (ward's department, bed Location id), ward by ward

    def department(self, site_key: str, kind: str) -> Department:
        """Where a patient of `site_key`'s catchment is seen for `kind`: the own site, else another
        site of the same hospital, else the region's university hospital, else any site."""
        home = self.sites[site_key]
        if kind in home.departments:
            return home.departments[kind]
        for other in home.hospital.sites:
            if kind in self.sites[other.key].departments:
                return self.sites[other.key].departments[kind]
        region = next(r for r in REGIONS if r.key == home.hospital.region)
        same_region = [s.site.key for s in self.sites.values() if s.hospital.region == region.key]
        candidates = [region.university_site, *same_region, *self.sites]
        for key in candidates:
            if kind in self.sites[key].departments:
                return self.sites[key].departments[kind]
        raise KeyError(kind)


@cache
def region_plan() -> Plan:
    """The plan, built once per process."""
    items = iter(range(811000, 10**7))  # SOR item numbers, handed out in plan order
    region_orgs = {r.key: (keyed_id(_ROOT, "Organization", r.key), sor_code(next(items))) for r in REGIONS}
    hospital_orgs: dict[str, tuple[str, str]] = {}
    sites: dict[str, SitePlan] = {}
    for hospital in HOSPITALS:
        hospital_orgs[hospital.key] = (keyed_id(_ROOT, "Organization", hospital.key), sor_code(next(items)))
        for site in hospital.sites:
            plan = SitePlan(site, hospital, keyed_id(_ROOT, "Location", site.key), sor_code(next(items)))
            sites[site.key] = plan
            for kind in site.kinds:
                plan.departments[kind] = _department(plan, kind, items)
            _add_theatres(plan)
    clinics = [d for s in sites.values() for d in s.departments.values() if d.clinic_id]
    theatres = [t for s in sites.values() for t in s.theatres]
    beds = [(d, bed) for s in sites.values() for d in s.departments.values() for bed in d.beds]
    return Plan(region_orgs, hospital_orgs, sites, clinics, theatres, beds)


def _department(site: SitePlan, kind: str, items: Iterator[int]) -> Department:
    key = f"{site.site.key}.{kind}"
    spec = KINDS[kind]
    sor = sor_code(next(items))
    dept = Department(key, kind, site, keyed_id(_ROOT, "Organization", key), keyed_id(_ROOT, "Location", key), sor)
    if spec.ward_beds:
        dept.ward_id = keyed_id(_ROOT, "Location", key, "ward")
        dept.ward_sor = sor_code(next(items))
        dept.beds = [keyed_id(_ROOT, "Location", key, "bed", n) for n in range(1, spec.ward_beds + 1)]
    if spec.clinic:
        dept.clinic_id = keyed_id(_ROOT, "Location", key, "clinic")
        dept.clinic_sor = sor_code(next(items))
        dept.clinic_schedule_id = keyed_id(_ROOT, "Schedule", key, "clinic")
    rng = random.Random(f"{_ROOT}:{key}")
    for role, count in spec.staff:
        dept.staff[role] = [_staff_member(rng, f"{key}.{role}{n}", role) for n in range(1, count + 1)]
    return dept


def _staff_member(rng: random.Random, key: str, role: str) -> StaffMember:
    female = rng.random() < (0.85 if role in ("nurse", "midwife", "secretary", "lab-technologist") else 0.5)
    era = rng.choice((1, 1, 2))  # staff are born 1960-2000, mostly
    given = rng.choice(names.FEMALE[era] if female else names.MALE[era])
    family = rng.choice(names.SURNAMES)
    return StaffMember(
        key,
        role,
        given,
        family,
        "female" if female else "male",
        keyed_id(_ROOT, "Practitioner", key),
        keyed_id(_ROOT, "PractitionerRole", key),
    )


def _add_theatres(site: SitePlan) -> None:
    specialties = [k for k in SURGICAL if k in site.departments]
    if not specialties or "anae" not in site.departments:
        return
    for n in range(1, site.site.theatres + 1):
        key = f"{site.site.key}.or{n}"
        site.theatres.append(
            Theatre(
                key,
                f"Operationsstue {n}",
                site,
                specialties[(n - 1) % len(specialties)],
                keyed_id(_ROOT, "Location", key),
                keyed_id(_ROOT, "Schedule", key),
            )
        )
