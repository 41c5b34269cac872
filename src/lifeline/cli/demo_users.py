"""The staff to log in as in the demo region: the people of the ward, clinic and theatre that the
generator fills first (generate/grid.py), so each has a full day today.

Run as `python -m lifeline.cli.demo_users` (make demo does): it gives each of them a login
(once; their Practitioner must be loaded) with the demo password below, and registers the
`demo-scripts` app that the README's `lifeline token issue` example uses. Demo only: the data
and these passwords are for a laptop, never for a server with real patients."""

from __future__ import annotations

from lifeline.cli.common import open_service, settings
from lifeline.generate.organisations import ROLES
from lifeline.generate.region import Department, StaffMember, region_plan
from lifeline.identity import records
from lifeline.identity.passwords import hash_password

DEMO_PASSWORD = "lifeline-demo-2026"  # noqa: S105 - synthetic demo region only
DEMO_APP = "demo-scripts"
LEADS = ("surgeon",)  # the surgical department's lead: may reduce it to acute care (issue 24)


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
        (ward.member("nurse", 0), ward, "the ward's inpatients, today; the bed board (/wards)"),
        (ward.member("physician", 0), ward, "ward round"),
        (clinic.member("secretary", 0), clinic, "today's clinic list and booking (/clinics)"),
        (
            surgical.member("surgeon", 0),
            surgical,
            f"today's operations in {theatre.name}, the theatre board (/theatres); leads the department:"
            " reduce it to acute care (/logistics/reduce)",
        ),
        (anaesthesia.member("anaesthetist", 0), anaesthesia, f"{theatre.name}"),
        (radiology.member("radiographer", 0), radiology, "imaging"),
        (lab.member("lab-technologist", 0), lab, "laboratory results"),
    ]


def main() -> None:
    service = open_service(settings())
    repo = service.repo
    try:
        people = demo_users()
        for member, _, _ in people:
            if records.get_user(repo, member.key) is None and repo.read("Practitioner", member.practitioner_id):
                lead = ["lead"] if member.role in LEADS else []
                user = records.User(member.key, member.practitioner_id, hash_password(DEMO_PASSWORD), extra_roles=lead)
                records.put_user(repo, user)
        if records.get_client(repo, DEMO_APP) is None:
            records.put_client(repo, records.Client(DEMO_APP, "backend", "system/*.cruds", name="README examples"))
    finally:
        repo.close()
    print("Lifeline will serve the FHIR API at http://127.0.0.1:8080/fhir; staff log in at http://127.0.0.1:8080/login")
    print(f"Demo users (password {DEMO_PASSWORD}; a TOTP app is enrolled at the first login):")
    for member, department, sees in people:
        print(f"  {member.key:<30} {member.name}, {ROLES[member.role][0]}, {department.name}: {sees}")
    print(f"API token for scripts: .venv/bin/lifeline token issue --client {DEMO_APP} --scope 'system/*.rs'")
    print("Scans and X-rays: a patient's chart, Imaging, then a study's images (the PACS is Orthanc on 127.0.0.1:8142)")


if __name__ == "__main__":
    main()
