"""Beds and patient flow (logistics/beds.py) on both backends, through the core acting as a ward
nurse: admission, transfer and discharge each one transaction (the Encounter's location history
and the beds' statuses together), marking beds clean and blocked, and a ward's census now and at
a past instant from the stays' location periods."""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson
import pytest

from lifeline.cpr import CPR_SYSTEM
from lifeline.errors import Conflict, FhirError, Forbidden, Unprocessable
from lifeline.fhir.acting import Acting
from lifeline.fhir.request import FhirRequest
from lifeline.fhir.service import FhirService
from lifeline.identity.principal import OPERATOR
from lifeline.logistics import beds
from lifeline.web.layout import STAFF as STAFF_PAGE
from lifeline.web.layout import PageUser
from tests.web.test_login_pages import add_user

PHYSICAL = "http://terminology.hl7.org/CodeSystem/location-physical-type"
ROLE_CODE = "http://terminology.hl7.org/CodeSystem/v3-RoleCode"
BED_STATUS = "http://terminology.hl7.org/CodeSystem/v2-0116"


def put(service: FhirService, resource: dict[str, Any]) -> None:
    request = FhirRequest("update", resource["resourceType"], resource["id"], body=resource, principal=OPERATOR)
    assert service.handle(request).status in (200, 201)


def read(service: FhirService, res_type: str, res_id: str) -> dict[str, Any]:
    answer = service.handle(FhirRequest("read", res_type, res_id, principal=OPERATOR))
    return orjson.loads(answer.raw) if answer.raw is not None else answer.resource or {}  # type: ignore[no-any-return]


def ref(reference: str) -> dict[str, str]:
    return {"reference": reference}


def place(id_: str, name: str, kind: str, part_of: str | None, org: str, status: str | None = None) -> dict[str, Any]:
    location: dict[str, Any] = {
        "resourceType": "Location",
        "id": id_,
        "status": "active",
        "name": name,
        "physicalType": {"coding": [{"system": PHYSICAL, "code": kind}]},
        "managingOrganization": ref(f"Organization/{org}"),
    }
    if kind == "si":
        location["type"] = [{"coding": [{"system": ROLE_CODE, "code": "HOSP", "display": "Hospital"}]}]
    if part_of:
        location["partOf"] = ref(f"Location/{part_of}")
    if status:
        location["operationalStatus"] = {"system": BED_STATUS, "code": status}
    return location


def random_cpr() -> str:
    """A CPR number no other test uses (born in the 1900s: 7th digit 0-3)."""
    born = f"{random.randint(1, 28):02d}{random.randint(1, 12):02d}{random.randint(30, 99):02d}"
    return f"{born}{random.randint(0, 3)}{random.randint(0, 999):03d}"


@dataclass
class Hospital:
    """A site with a department of two wards: A with four beds (A3 blocked), B with two; a nurse of
    the department; four patients referred to it (in its care), with CPR numbers."""

    tag: str
    nurse: str  # Practitioner id
    username: str
    cprs: dict[str, str]

    def id(self, name: str) -> str:
        return f"{name}-{self.tag}"


def hospital(service: FhirService) -> Hospital:
    tag = uuid.uuid4().hex[:8]
    i = lambda name: f"{name}-{tag}"  # noqa: E731
    put(service, {"resourceType": "Organization", "id": i("dep"), "name": f"Kardiologisk Afdeling {tag}"})
    put(service, place(i("site"), f"Hospital {tag}", "si", None, i("dep")))
    put(service, place(i("wing"), f"Kardiologisk Afdeling {tag}", "wi", i("site"), i("dep")))
    for ward, count in (("A", 4), ("B", 2)):
        put(service, place(i(f"ward{ward}"), f"Sengeafsnit {ward}{tag}", "wa", i("wing"), i("dep")))
        for n in range(1, count + 1):
            status = "C" if (ward, n) == ("A", 3) else "U"
            put(
                service,
                place(
                    i(f"bed{ward}{n}"), f"Seng {n}, Sengeafsnit {ward}{tag}", "bd", i(f"ward{ward}"), i("dep"), status
                ),
            )
    put(service, {"resourceType": "Practitioner", "id": i("nurse"), "name": [{"family": "Sygeplejerske"}]})
    put(
        service,
        {
            "resourceType": "PractitionerRole",
            "id": i("role"),
            "active": True,
            "practitioner": ref(f"Practitioner/{i('nurse')}"),
            "organization": ref(f"Organization/{i('dep')}"),
        },
    )
    cprs = {}
    for n in range(1, 5):
        cprs[i(f"pat{n}")] = cpr = random_cpr()
        put(
            service,
            {
                "resourceType": "Patient",
                "id": i(f"pat{n}"),
                "birthDate": "1950-03-04",
                "identifier": [{"system": CPR_SYSTEM, "value": cpr}],
                "name": [{"family": f"Patient{n}", "given": [f"Ib{tag}"]}],
            },
        )
        # Referred to the department: the care that lets its nurse see and admit them.
        put(
            service,
            {
                "resourceType": "EpisodeOfCare",
                "id": i(f"episode{n}"),
                "status": "active",
                "patient": ref(f"Patient/{i(f'pat{n}')}"),
                "managingOrganization": ref(f"Organization/{i('dep')}"),
            },
        )
    # A plain ward nurse: a bed's operational status is the one Location change staff make
    # without being administrators (access/deciding.py `daily_location_change`).
    staff = add_user(service, practitioner=i("nurse"))
    return Hospital(tag, i("nurse"), staff.username, cprs)


def nurse(service: FhirService, place_: Hospital) -> Acting:
    principal = PageUser(kind=STAFF_PAGE, username=place_.username, fhir_user=f"Practitioner/{place_.nurse}").principal
    return service.as_user(principal, "127.0.0.1", "TREAT")


def bed_code(service: FhirService, bed_id: str) -> str:
    return str(read(service, "Location", bed_id)["operationalStatus"]["code"])


@pytest.fixture
def place_(service: FhirService) -> Hospital:
    return hospital(service)


def test_admit_transfer_discharge_keep_the_beds_and_the_history(service: FhirService, place_: Hospital) -> None:
    core, i = nurse(service, place_), place_.id
    start = service.clock()
    stay_id = beds.admit(core, i("pat1"), beds.bed(core, i("bedA1")), start)
    stay = read(service, "Encounter", stay_id)
    assert (stay["status"], stay["class"]["code"], stay["subject"]["reference"]) == (
        "in-progress",
        "IMP",
        f"Patient/{i('pat1')}",
    )
    assert stay["serviceProvider"]["reference"] == f"Organization/{i('dep')}"
    assert [p["location"]["reference"] for p in stay["location"]] == [
        f"Location/{i('wardA')}",
        f"Location/{i('bedA1')}",
    ]
    assert bed_code(service, i("bedA1")) == "O"

    moved = start + timedelta(hours=5)
    beds.transfer(core, stay_id, beds.bed(core, i("bedB2")), moved)
    stay = read(service, "Encounter", stay_id)
    history = [
        (p["location"]["reference"].split("/")[1], p["status"], "end" in p.get("period", {})) for p in stay["location"]
    ]
    assert history == [
        (i("wardA"), "completed", True),
        (i("bedA1"), "completed", True),
        (i("wardB"), "active", False),
        (i("bedB2"), "active", False),
    ]
    assert (bed_code(service, i("bedA1")), bed_code(service, i("bedB2"))) == ("H", "O")

    beds.transfer(core, stay_id, beds.bed(core, i("bedB1")), moved + timedelta(hours=1))  # within ward B
    stay = read(service, "Encounter", stay_id)
    assert [(p["location"]["reference"].split("/")[1], p["status"]) for p in stay["location"]][2:] == [
        (i("wardB"), "active"),
        (i("bedB2"), "completed"),
        (i("bedB1"), "active"),
    ]

    beds.discharge(core, stay_id, moved + timedelta(days=1))
    stay = read(service, "Encounter", stay_id)
    assert stay["status"] == "finished" and stay["period"]["end"]
    assert all(p["status"] == "completed" and p["period"]["end"] for p in stay["location"])
    assert bed_code(service, i("bedB1")) == "H"
    beds.mark(core, beds.bed(core, i("bedB1")), "clean")
    assert bed_code(service, i("bedB1")) == "U"


def test_a_transfer_to_an_occupied_bed_is_refused_and_nothing_changes(service: FhirService, place_: Hospital) -> None:
    core, i = nurse(service, place_), place_.id
    now = service.clock()
    first = beds.admit(core, i("pat1"), beds.bed(core, i("bedA1")), now)
    second = beds.admit(core, i("pat2"), beds.bed(core, i("bedA2")), now)
    before = read(service, "Encounter", second)
    with pytest.raises(Unprocessable, match=r"^Seng 1 .*is occupied") as refused:
        beds.transfer(core, second, beds.bed(core, i("bedA1")), now + timedelta(hours=1))
    assert "Patient1" not in str(refused.value) and i("pat1") not in str(refused.value)
    assert read(service, "Encounter", second)["meta"] == before["meta"]
    assert (bed_code(service, i("bedA1")), bed_code(service, i("bedA2"))) == ("O", "O")
    # The same with a stale bed (read as free before the other patient came): the core's rule refuses.
    stale = beds.bed(core, i("bedA4"))
    beds.transfer(core, first, beds.bed(core, i("bedA4")), now + timedelta(hours=2))
    with pytest.raises(FhirError, match="occupied|changed"):
        beds.transfer(core, second, stale, now + timedelta(hours=3))
    assert read(service, "Encounter", second)["meta"] == before["meta"]


def test_a_blocked_or_uncleaned_bed_takes_nobody_and_an_occupied_bed_cannot_be_blocked(
    service: FhirService, place_: Hospital
) -> None:
    core, i = nurse(service, place_), place_.id
    now = service.clock()
    with pytest.raises(Unprocessable, match="is closed"):
        beds.admit(core, i("pat1"), beds.bed(core, i("bedA3")), now)
    assert beds.stay(core, i("pat1")) is None
    stay_id = beds.admit(core, i("pat1"), beds.bed(core, i("bedA1")), now)
    with pytest.raises(FhirError, match="has a patient in it"):
        beds.mark(core, beds.bed(core, i("bedA1")), "block")
    beds.transfer(core, stay_id, beds.bed(core, i("bedA2")), now + timedelta(minutes=30))
    with pytest.raises(Unprocessable, match="being cleaned"):
        beds.admit(core, i("pat2"), beds.bed(core, i("bedA1")), now + timedelta(hours=1))
    with pytest.raises(Conflict, match="already admitted"):
        beds.admit(core, i("pat1"), beds.bed(core, i("bedA4")), now + timedelta(hours=1))
    beds.mark(core, beds.bed(core, i("bedA3")), "unblock")
    beds.mark(core, beds.bed(core, i("bedA4")), "block")
    assert (bed_code(service, i("bedA3")), bed_code(service, i("bedA4"))) == ("U", "C")


def test_the_census_now_and_at_a_past_instant(service: FhirService, place_: Hospital) -> None:
    core, i = nurse(service, place_), place_.id
    t0 = service.clock() - timedelta(hours=6)  # the stays began this morning
    one = beds.admit(core, i("pat1"), beds.bed(core, i("bedA1")), t0)
    beds.admit(core, i("pat2"), beds.bed(core, i("bedA2")), t0 + timedelta(hours=1))
    beds.transfer(core, one, beds.bed(core, i("bedB1")), t0 + timedelta(hours=2))
    ward_a = beds.beds(core, i("wardA"))
    assert [b.id for b in sorted(ward_a, key=lambda b: b.name)] == [i(f"bedA{n}") for n in range(1, 5)]

    def who(at: datetime) -> set[tuple[str, str]]:
        return {(lying.bed, str((lying.patient or {}).get("id"))) for lying in beds.census(core, ward_a, at)}

    assert who(t0 - timedelta(minutes=1)) == set()
    assert who(t0 + timedelta(minutes=30)) == {(i("bedA1"), i("pat1"))}
    assert who(t0 + timedelta(minutes=90)) == {(i("bedA1"), i("pat1")), (i("bedA2"), i("pat2"))}
    assert who(t0 + timedelta(hours=3)) == {(i("bedA2"), i("pat2"))}
    assert who(service.clock()) == {(i("bedA2"), i("pat2"))}
    ward_b = beds.beds(core, i("wardB"))
    assert {(lying.bed, lying.until) for lying in beds.census(core, ward_b, t0 + timedelta(hours=3))} == {
        (i("bedB1"), None)
    }


def test_the_wards_of_a_department_and_of_a_site(service: FhirService, place_: Hospital) -> None:
    core, i = nurse(service, place_), place_.id
    mine = {w["id"] for w in beds.wards_of_departments(core, [f"Organization/{i('dep')}"])}
    assert mine == {i("wardA"), i("wardB")}
    assert {w["id"] for w in beds.wards_of_site(core, i("site"))} == {i("wardA"), i("wardB")}
    assert i("site") in {s["id"] for s in beds.sites(core)}


def test_the_nurse_changes_a_beds_state_but_not_what_decides_access(service: FhirService, place_: Hospital) -> None:
    core, i = nurse(service, place_), place_.id
    bed = read(service, "Location", i("bedA1"))
    closed = {**bed, "operationalStatus": {**bed["operationalStatus"], "code": "C", "display": "Closed"}}
    answer = core.handle(FhirRequest("update", "Location", i("bedA1"), body=closed))
    assert answer.status == 200 and bed_code(service, i("bedA1")) == "C"
    moved = {**read(service, "Location", i("bedA1")), "partOf": {"reference": f"Location/{i('wardB')}"}}
    with pytest.raises(Forbidden, match="only an administrator"):
        core.handle(FhirRequest("update", "Location", i("bedA1"), body=moved))
    assert read(service, "Location", i("bedA1"))["partOf"]["reference"] == f"Location/{i('wardA')}"
