"""The theatre plan and its actions (logistics/theatres.py) through the core acting as a person, on
both backends: the plan's cases with priority, duration, people, checklist and state; conflicts
shown; cases the person may not see shown only as taken time; a move that updates the Appointment,
its theatre and its Slot together or nothing; started, finished, the checklist."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from lifeline.errors import BadRequest, PreconditionFailed, Unprocessable
from lifeline.fhir.acting import Acting
from lifeline.fhir.found import searched
from lifeline.fhir.rules.theatres import instant
from lifeline.fhir.service import FhirService
from lifeline.identity.principal import STAFF, Principal
from lifeline.identity.scopes import ScopeSet
from lifeline.logistics import theatre_actions as actions
from lifeline.logistics import theatres
from tests.fhir.rules.test_theatres import PHYSICAL, ROLE_CODE, Site, book, case, put, ref, theatre_site


def person(service: FhirService, practitioner: str) -> Acting:
    principal = Principal(
        kind=STAFF,
        subject=f"u-{practitioner}",
        client_id="lifeline-web",
        scopes=ScopeSet.parse("user/*.cruds"),
        fhir_user=f"Practitioner/{practitioner}",
    )
    return service.as_user(principal)


def stored(service: FhirService, res_type: str, res_id: str) -> dict[str, Any]:
    with service.repo.reading() as session:
        found = session.read(res_type, res_id)
    assert found is not None and found.content
    return orjson.loads(found.content)  # type: ignore[no-any-return]


def cases_by_name(plan: theatres.Plan, site: Site) -> dict[str, theatres.Case]:
    return {c.id.removeprefix("app-").removesuffix(f"-{site.tag}"): c for c in plan.cases}


@pytest.fixture(scope="module")
def site(service: FhirService) -> Site:
    site = theatre_site(service)
    book(service, case(site, "a", 1, 1, site.at(8), 90, priority="stat"))
    book(service, case(site, "b", 2, 1, site.at(10), 120, surgeon="surgeon2", priority="urgent"))
    elective = case(site, "c", 3, 2, site.at(12, 30), 60, surgeon="surgeon2")
    del elective[0]["priority"]  # no priority on the order: Appointment.priority (5) says elective
    book(service, elective)
    # A conflict that stood before the room became a theatre (the rules refuse a new one).
    put(service, {"resourceType": "Location", "id": site.id("or3"), "name": "Operationsstue 3"})
    put(
        service,
        {
            "resourceType": "Schedule",
            "id": site.id("sch3"),
            "active": True,
            "actor": [ref(f"Location/{site.id('or3')}")],
        },
    )
    for name, patient, hour in (("d", 4, 9), ("e", 3, 9)):
        clash = case(site, name, patient, 3, site.at(hour, 30), 60, surgeon="surgeon2")
        clash[2]["participant"] = clash[2]["participant"][:2] + clash[2]["participant"][3:]
        book(service, clash)
    put(
        service,
        {
            "resourceType": "Location",
            "id": site.id("or3"),
            "name": f"Operationsstue 3, Hospital {site.tag}",
            "type": [{"coding": [{"system": ROLE_CODE, "code": "OR"}]}],
            "partOf": ref(f"Location/{site.id('dept')}"),
            "managingOrganization": ref(f"Organization/{site.id('anae')}"),
        },
    )
    return site


def test_the_plan_of_a_site_and_day(service: FhirService, site: Site) -> None:
    plan = theatres.plan(person(service, site.id("anaesthetist")), site.day, site.id("site"))
    assert plan.site == site.id("site") and (site.id("site"), f"Hospital {site.tag}") in plan.sites
    assert [t.name for t in plan.theatres] == ["Operationsstue 1", "Operationsstue 2", "Operationsstue 3"]
    assert plan.theatres[0].schedule == site.id("sch1")
    shown = cases_by_name(plan, site)
    assert sorted(shown) == ["a", "b", "c", "d", "e"]
    a = shown["a"]
    assert (a.priority, a.minutes, a.state, a.checklist, a.procedure) == (
        "acute",
        90,
        "planned",
        "not-started",
        "Operation a",
    )
    assert (a.surgeon, a.anaesthetist, a.theatre) == ("Dr Surgeon", "Dr Anaesthetist", site.id("or1"))
    assert a.patient is not None and a.patient["id"] == site.id("pat1")
    assert (shown["b"].priority, shown["c"].priority) == ("urgent", "elective")
    assert not a.conflicts and not shown["c"].conflicts
    assert {"kind": "theatre", "with": "Operationsstue 3", "time": "09:30-10:30"} in shown["d"].conflicts
    # Surgeon 2 operates b in theatre 1 10:00-12:00 and d, e in theatre 3 until 10:30.
    assert {"kind": "person", "who": "Dr Surgeon2", "with": "Operationsstue 1", "time": "10:00-12:00"} in shown[
        "e"
    ].conflicts
    assert (
        theatres.plan(person(service, site.id("anaesthetist")), site.at(8, days=1).date(), site.id("site")).cases == []
    )
    # No site named: the one whose theatres the person's department runs.
    own = theatres.plan(person(service, site.id("anaesthetist")), site.day, "", site.id("anaesthetist"))
    assert own.site == site.id("site")


def test_a_surgeon_whose_department_runs_no_theatre_gets_the_hospital_of_their_ward(
    service: FhirService, site: Site
) -> None:
    # Another hospital with theatres comes first by name; the surgeon works on a ward of this one.
    other = theatre_site(service)
    put(service, {"resourceType": "Location", "id": other.id("site"), "name": "Aaa Hospital",
                  "physicalType": {"coding": [{"system": PHYSICAL, "code": "si"}]}})  # fmt: skip
    put(service, {"resourceType": "Organization", "id": site.id("kir"), "name": "Kirurgisk"})
    put(service, {"resourceType": "Location", "id": site.id("wing"), "name": "Kirurgisk fløj",
                  "partOf": ref(f"Location/{site.id('site')}")})  # fmt: skip
    put(service, {"resourceType": "Location", "id": site.id("ward"), "name": "Sengeafsnit, Kirurgisk",
                  "partOf": ref(f"Location/{site.id('wing')}")})  # fmt: skip
    put(service, {"resourceType": "Practitioner", "id": site.id("kirurg"), "name": [{"family": "Kirurg"}]})
    put(
        service,
        {
            "resourceType": "PractitionerRole",
            "id": site.id("role-kirurg"),
            "active": True,
            "practitioner": ref(f"Practitioner/{site.id('kirurg')}"),
            "organization": ref(f"Organization/{site.id('kir')}"),
            "location": [ref(f"Location/{site.id('ward')}")],
        },
    )
    plan = theatres.plan(person(service, site.id("kirurg")), site.day, "", site.id("kirurg"))
    assert plan.site == site.id("site")


def test_cases_outside_care_are_shown_as_taken_time_only(service: FhirService, site: Site) -> None:
    put(service, {"resourceType": "Practitioner", "id": site.id("stranger"), "name": [{"family": "Stranger"}]})
    plan = theatres.plan(person(service, site.id("stranger")), site.day, site.id("site"))
    assert plan.cases == []
    taken = {(t, f"{s:%H:%M}-{e:%H:%M}") for t, s, e in plan.occupied}
    assert (site.id("or1"), "08:00-09:30") in taken and (site.id("or2"), "12:30-13:30") in taken


def test_a_move_updates_the_case_its_theatre_and_its_slot_together(service: FhirService, site: Site) -> None:
    core = person(service, site.id("anaesthetist"))
    c = cases_by_name(theatres.plan(core, site.day, site.id("site")), site)["c"]
    theatre = next(t for t in theatres.theatres_of(core) if t.id == site.id("or1"))
    actions.move(core, c.id, c.version, site.day, site.at(14).time(), theatre)
    appointment, slot = stored(service, "Appointment", c.id), stored(service, "Slot", site.id("slot-c"))
    assert (
        appointment["start"].startswith(f"{site.day.isoformat()}T13:00:00")
        or "T14:00:00+01:00" in site.at(14).isoformat()
    )
    assert {"reference": f"Location/{site.id('or1')}", "display": "Operationsstue 1"} in [
        p["actor"] for p in appointment["participant"]
    ]
    assert appointment["description"] == "Operation c, Operationsstue 1" and appointment["minutesDuration"] == 60
    assert slot["schedule"] == {"reference": f"Schedule/{site.id('sch1')}"} and slot["start"] == appointment["start"]
    moved = cases_by_name(theatres.plan(core, site.day, site.id("site")), site)["c"]
    assert (f"{moved.start:%H:%M}", moved.theatre) == ("14:00", site.id("or1"))


def test_a_refused_move_changes_nothing(service: FhirService, site: Site) -> None:
    core = person(service, site.id("anaesthetist"))
    a = cases_by_name(theatres.plan(core, site.day, site.id("site")), site)["a"]
    slot_before = stored(service, "Slot", site.id("slot-a"))
    or1 = next(t for t in theatres.theatres_of(core) if t.id == site.id("or1"))
    with pytest.raises(Unprocessable, match="Operationsstue 1 is taken 10:00-12:00 by another case"):
        actions.move(core, a.id, a.version, site.day, site.at(9).time(), or1)
    with pytest.raises(PreconditionFailed):
        actions.move(core, a.id, str(int(a.version) + 5), site.day, site.at(16).time(), or1)  # changed meanwhile
    assert stored(service, "Slot", site.id("slot-a")) == slot_before
    assert instant(stored(service, "Appointment", a.id)["start"]) == site.at(8)
    assert f"{cases_by_name(theatres.plan(core, site.day, site.id('site')), site)['a'].start:%H:%M}" == "08:00"


def test_started_finished_and_the_checklist(service: FhirService, site: Site) -> None:
    core = person(service, site.id("anaesthetist"))
    b = cases_by_name(theatres.plan(core, site.day, site.id("site")), site)["b"]
    actions.mark_checklist_done(core, b.id, service.clock())
    task = searched(core, "Task", [("focus", f"ServiceRequest/{site.id('sr-b')}")]).matches[0]
    assert task["status"] == "completed" and task["for"] == {"reference": f"Patient/{site.id('pat2')}"}
    actions.mark_started(core, b.id, b.version, service.clock())
    b = cases_by_name(theatres.plan(core, site.day, site.id("site")), site)["b"]
    assert (b.state, b.status, b.checklist) == ("started", "arrived", "done")
    procedure = searched(core, "Procedure", [("based-on", f"ServiceRequest/{site.id('sr-b')}")]).matches[0]
    assert procedure["status"] == "in-progress" and "start" in procedure["performedPeriod"]
    assert procedure["location"]["reference"] == f"Location/{site.id('or1')}"
    actions.mark_finished(core, b.id, b.version, service.clock())
    b = cases_by_name(theatres.plan(core, site.day, site.id("site")), site)["b"]
    assert (b.state, b.status) == ("finished", "fulfilled")
    procedures = searched(core, "Procedure", [("based-on", f"ServiceRequest/{site.id('sr-b')}")]).matches
    assert len(procedures) == 1 and procedures[0]["status"] == "completed" and "end" in procedures[0]["performedPeriod"]
    assert stored(service, "ServiceRequest", site.id("sr-b"))["status"] == "completed"
    with pytest.raises(BadRequest, match="already finished"):
        actions.mark_finished(core, b.id, b.version, service.clock())
