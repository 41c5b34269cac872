"""The staff to log in as in the demo region: the people of the ward, clinic and theatre that the
generator fills first (grid.py), so each has a full day today. Logins themselves come with the
identity issue; until then these are the user names the staff's Practitioner records carry.

Run as `python -m lifeline.generate.demo_users` (make demo does)."""

from __future__ import annotations

from lifeline.generate.organisations import ROLES
from lifeline.generate.region import Department, StaffMember, region_plan


def demo_users() -> list[tuple[StaffMember, Department, str]]:
    """(staff member, department, what they see) for the busiest places of the demo day."""
    plan = region_plan()
    ward = plan.beds[0][0]
    clinic = plan.clinics[0]
    theatre = plan.theatres[0]
    surgical = theatre.site.departments[theatre.specialty]
    anaesthesia = theatre.site.departments["anae"]
    radiology = theatre.site.departments["rad"]
    lab = theatre.site.departments["kba"]
    return [
        (ward.member("nurse", 0), ward, "the ward's inpatients, today"),
        (ward.member("physician", 0), ward, "ward round"),
        (clinic.member("secretary", 0), clinic, "today's clinic list"),
        (surgical.member("surgeon", 0), surgical, f"today's operations in {theatre.name}"),
        (anaesthesia.member("anaesthetist", 0), anaesthesia, f"{theatre.name}"),
        (radiology.member("radiographer", 0), radiology, "imaging"),
        (lab.member("lab-technologist", 0), lab, "laboratory results"),
    ]


def main() -> None:
    print("Demo users (user names; logins come with the identity issue):")
    for member, department, sees in demo_users():
        print(f"  {member.key:<30} {member.name}, {ROLES[member.role][0]}, {department.name}: {sees}")


if __name__ == "__main__":
    main()
