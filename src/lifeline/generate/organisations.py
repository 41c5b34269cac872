"""The region as FHIR resources: Organizations (region, hospital, department) and nested Locations
(site, department, ward, bed, clinic, theatre) with SOR identifiers, the staff as Practitioner and
PractitionerRole, the clinics' and theatres' Schedules, today's free Slots, and the Endpoint that
serves the region's images.

https://hl7.org/fhir/R4/organization.html, https://hl7.org/fhir/R4/location.html"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from lifeline.generate import grid
from lifeline.generate.codes import (
    BED_STATUS,
    LOCATION_PHYSICAL,
    ORG_TYPE,
    PRACTITIONER_ROLE,
    ROLE_CODE,
    SNOMED,
    SOR,
    SYNTHETIC_META,
    USERNAME,
    concept,
    ref,
)
from lifeline.generate.days import instant
from lifeline.generate.hospitals import KINDS, REGIONS
from lifeline.generate.ids import keyed_id
from lifeline.generate.imaging import imaging_endpoint
from lifeline.generate.region import Department, Plan, SitePlan, StaffMember

Resource = dict[str, Any]

# Staff roles: the Danish title, a code of our own (what the identity issue will map to
# permissions), and a SNOMED CT occupation where one fits.
ROLES: dict[str, tuple[str, tuple[str, str, str] | None]] = {
    "physician": ("Læge", (SNOMED, "309343006", "Physician")),
    "surgeon": ("Kirurg", (SNOMED, "304292004", "Surgeon")),
    "anaesthetist": ("Anæstesiolog", (SNOMED, "88189002", "Anesthesiologist")),
    "radiologist": ("Radiolog", (SNOMED, "66862007", "Radiologist")),
    "nurse": ("Sygeplejerske", (PRACTITIONER_ROLE, "nurse", "Nurse")),
    "midwife": ("Jordemoder", (SNOMED, "309453006", "Registered midwife")),
    "secretary": ("Lægesekretær", None),
    "radiographer": ("Radiograf", None),
    "lab-technologist": ("Bioanalytiker", None),
}
ROLE_SYSTEM = "urn:lifeline:staff-role"
SCHEDULE_DAYS = 90


def region_resources(plan: Plan, seed: int, patients: int, today: int) -> Iterator[Resource]:
    for region in REGIONS:
        org_id, sor = plan.region_orgs[region.key]
        yield _organization(org_id, sor, region.name, "govt", None)
    for site in plan.sites.values():
        hospital = site.hospital
        org_id, sor = plan.hospital_orgs[hospital.key]
        if site.site == hospital.sites[0]:
            yield _organization(org_id, sor, hospital.name, "prov", plan.region_orgs[hospital.region][0], site)
        yield from _site(plan, site)
    yield from _beds(plan, patients)
    yield from free_slots(plan, seed, patients, today)
    yield from _schedules(plan, today)
    yield imaging_endpoint()


def _site(plan: Plan, site: SitePlan) -> Iterator[Resource]:
    hospital_org = plan.hospital_orgs[site.hospital.key][0]
    yield _location(
        site.location_id, site.sor, site.site.name, "si", None, hospital_org, type_code=("HOSP", "Hospital"), site=site
    )
    for dept in site.departments.values():
        kind = KINDS[dept.kind]
        yield _organization(dept.org_id, dept.sor, dept.name, "dept", hospital_org)
        yield _location(dept.location_id, dept.sor, dept.name, "wi", site.location_id, dept.org_id)
        if dept.ward_id:
            yield _location(
                dept.ward_id,
                dept.ward_sor,
                f"Sengeafsnit, {dept.name}",
                "wa",
                dept.location_id,
                dept.org_id,
                type_code=("HU", "Hospital unit"),
            )
        if dept.clinic_id:
            yield _location(
                dept.clinic_id,
                dept.clinic_sor,
                f"Ambulatorium, {dept.name}",
                "ro",
                dept.location_id,
                dept.org_id,
                type_code=("OF", "Outpatient facility"),
            )
        for members in dept.staff.values():
            for member in members:
                yield from _staff(dept, member, kind.english)
    anae = site.departments.get("anae")
    for theatre in site.theatres:
        assert anae is not None
        yield _location(
            theatre.location_id,
            None,
            f"{theatre.name}, {site.site.name}",
            "ro",
            anae.location_id,
            anae.org_id,
            type_code=("OR", "Operating room"),
        )


def _beds(plan: Plan, patients: int) -> Iterator[Resource]:
    """Every bed, occupied when a generated current inpatient lies in it."""
    for number in range(len(plan.beds)):
        cell = grid.bed_cell(plan, number)
        assert cell is not None
        dept = cell.department
        bed = _location(cell.bed_id, None, f"Seng {cell.bed_number}, {dept.name}", "bd", dept.ward_id, dept.org_id)
        status = ("O", "Occupied") if grid.is_taken("bed", number, patients) else ("U", "Unoccupied")
        bed["operationalStatus"] = {"system": BED_STATUS, "code": status[0], "display": status[1]}
        yield bed


def _organization(
    org_id: str, sor: str, name: str, kind: str, part_of: str | None, site: SitePlan | None = None
) -> Resource:
    org: Resource = {
        "resourceType": "Organization",
        "id": org_id,
        "meta": SYNTHETIC_META,
        "identifier": [{"use": "official", "system": SOR, "value": sor}],
        "active": True,
        "type": [
            concept(
                ORG_TYPE,
                kind,
                {"govt": "Government", "prov": "Healthcare Provider", "dept": "Hospital Department"}[kind],
            )
        ],
        "name": name,
    }
    if site is not None:
        org["address"] = [_address(site)]
    if part_of is not None:
        org["partOf"] = ref("Organization", part_of)
    return org


def _location(
    loc_id: str,
    sor: str | None,
    name: str,
    physical: str,
    part_of: str | None,
    organization: str | None,
    *,
    type_code: tuple[str, str] | None = None,
    site: SitePlan | None = None,
) -> Resource:
    location: Resource = {"resourceType": "Location", "id": loc_id, "meta": SYNTHETIC_META}
    if sor is not None:
        location["identifier"] = [{"use": "official", "system": SOR, "value": sor}]
    location.update({"status": "active", "name": name, "mode": "instance"})
    if type_code is not None:
        location["type"] = [concept(ROLE_CODE, *type_code)]
    location["physicalType"] = concept(LOCATION_PHYSICAL, physical, _PHYSICAL[physical])
    if site is not None:
        location["address"] = _address(site)
    if organization is not None:
        location["managingOrganization"] = ref("Organization", organization)
    if part_of is not None:
        location["partOf"] = ref("Location", part_of)
    return location


_PHYSICAL = {"si": "Site", "wi": "Wing", "wa": "Ward", "bd": "Bed", "ro": "Room"}


def _address(site: SitePlan) -> Resource:
    return {
        "use": "work",
        "type": "physical",
        "line": [site.site.street],
        "city": site.site.city,
        "postalCode": site.site.postcode,
        "country": "DK",
    }


def _staff(dept: Department, member: StaffMember, specialty: str) -> Iterator[Resource]:
    title, coding = ROLES[member.role]
    yield {
        "resourceType": "Practitioner",
        "id": member.practitioner_id,
        "meta": SYNTHETIC_META,
        "identifier": [{"use": "usual", "system": USERNAME, "value": member.key}],
        "active": True,
        "name": [{"use": "official", "text": member.name, "family": member.family, "given": [member.given]}],
        "gender": member.gender,
    }
    codings = [{"system": ROLE_SYSTEM, "code": member.role, "display": title}]
    if coding is not None:
        codings.append({"system": coding[0], "code": coding[1], "display": coding[2]})
    role: Resource = {
        "resourceType": "PractitionerRole",
        "id": member.role_id,
        "meta": SYNTHETIC_META,
        "active": True,
        "practitioner": ref("Practitioner", member.practitioner_id, member.name),
        "organization": ref("Organization", dept.org_id, dept.name),
        "code": [{"coding": codings, "text": title}],
        "specialty": [{"text": specialty}],
        "location": [ref("Location", dept.ward_id or dept.clinic_id or dept.location_id)],
    }
    yield role


def _schedules(plan: Plan, today: int) -> Iterator[Resource]:
    horizon = {"start": instant(today, 0), "end": instant(today + SCHEDULE_DAYS, 0)}
    for dept in plan.clinics:
        assert dept.clinic_id and dept.clinic_schedule_id
        yield _schedule(dept.clinic_schedule_id, dept.clinic_id, f"Ambulatorium, {dept.name}", horizon)
    for theatre in plan.theatres:
        yield _schedule(theatre.schedule_id, theatre.location_id, f"{theatre.name}, {theatre.site.site.name}", horizon)


def _schedule(schedule_id: str, location_id: str, name: str, horizon: Resource) -> Resource:
    return {
        "resourceType": "Schedule",
        "id": schedule_id,
        "meta": SYNTHETIC_META,
        "active": True,
        "actor": [ref("Location", location_id, name)],
        "planningHorizon": horizon,
        "comment": name,
    }


def slot_id(seed: int, role: str, number: int) -> str:
    return keyed_id(seed, "Slot", role, number)


def free_slots(plan: Plan, seed: int, patients: int, today: int) -> Iterator[Resource]:
    """Today's clinic times and theatre slots that no generated patient has taken."""
    for number in range(len(grid.CLINIC_TIMES) * len(plan.clinics)):
        if not grid.is_taken("clinic", number, patients):
            cell = grid.clinic_cell(plan, number, today)
            assert cell.department.clinic_schedule_id
            yield slot(
                slot_id(seed, "clinic", number),
                cell.department.clinic_schedule_id,
                cell.day,
                cell.minute,
                grid.CLINIC_MINUTES,
                "free",
            )
    for number in range(len(grid.THEATRE_TIMES) * len(plan.theatres)):
        if not grid.is_taken("theatre", number, patients):
            tcell = grid.theatre_cell(plan, number, today)
            yield slot(
                slot_id(seed, "theatre", number),
                tcell.theatre.schedule_id,
                tcell.day,
                tcell.minute,
                grid.THEATRE_MINUTES,
                "free",
            )


def slot(slot_id_: str, schedule_id: str, day: int, minute: int, minutes: int, status: str) -> Resource:
    return {
        "resourceType": "Slot",
        "id": slot_id_,
        "meta": SYNTHETIC_META,
        "schedule": ref("Schedule", schedule_id),
        "status": status,
        "start": instant(day, minute),
        "end": instant(day, minute + minutes),
    }
