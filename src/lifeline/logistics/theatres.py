"""The theatre plan (issue 24): a day's operations in the theatres of a site, and the few things a
theatre coordinator does with them, all through the core acting as the person (fhir/acting.py).

How an operation is held (as generate/logistics.py writes it):

- the surgeon's order is a ServiceRequest (what, its priority: stat = acute, urgent = urgent within
  24 hours, routine = elective; https://hl7.org/fhir/R4/valueset-request-priority.html);
- the booking is an Appointment based on it, with the patient, the surgeon, the anaesthetist
  (PractitionerRoles, coded `surgeon` / `anaesthetist` in urn:lifeline:staff-role) and the theatre
  (a Location typed OR) as participants, and a busy Slot on the theatre's Schedule. Without an
  order, Appointment.priority gives the priority (1 acute, 2-4 urgent, 5 and over elective);
- the pre-operative checklist is a Task (https://hl7.org/fhir/R4/task.html) with the code
  `preoperative-checklist` of urn:lifeline:task, focused on the order and for the patient: no Task
  is "not started", an open one "in progress", a completed one "done".

A case's state is its Appointment's status (https://hl7.org/fhir/R4/valueset-appointmentstatus.html):
proposed, pending or booked is planned; arrived or checked-in is started; fulfilled is finished.
Marking it started also writes the Procedure (in-progress, based on the order); marking it finished
completes the Procedure and the order (theatre_actions.py). Conflicts (two active cases overlapping
in one theatre, one practitioner in two theatres at once) are shown here and refused on write by
the record's rules (fhir/rules/theatres.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from lifeline.clock import COPENHAGEN
from lifeline.fhir.acting import Acting
from lifeline.fhir.found import searched
from lifeline.fhir.rules.theatres import ACTIVE, DAY_CLOSES, DAY_OPENS, THEATRE_TYPE, instant

STAFF_ROLE = "urn:lifeline:staff-role"
TASK_SYSTEM = "urn:lifeline:task"
CHECKLIST = {"system": TASK_SYSTEM, "code": "preoperative-checklist", "display": "Præoperativ tjekliste"}
SHOWN = (*ACTIVE, "fulfilled")  # a day's cases: the cancelled and no-shows are not on the board
STATE = {
    "proposed": "planned",
    "pending": "planned",
    "booked": "planned",
    "arrived": "started",
    "checked-in": "started",
    "fulfilled": "finished",
}
REQUEST_PRIORITY = {"stat": "acute", "asap": "acute", "urgent": "urgent", "routine": "elective"}
OPEN_TASK = ("draft", "requested", "received", "accepted", "ready", "in-progress", "on-hold")
MOST = 500  # theatres, or cases of a day at a site


@dataclass
class Theatre:
    id: str
    name: str  # "Operationsstue 3"
    site: str  # the site's Location id, or ""
    site_name: str
    schedule: str  # its Schedule's id, or ""
    department: str = ""  # the Organization that runs it (managingOrganization), Organization/id


@dataclass
class Case:
    id: str
    version: str
    theatre: str  # the theatre's Location id
    start: datetime
    end: datetime
    status: str
    state: str  # planned, started, finished
    priority: str  # acute, urgent, elective
    procedure: str
    patient: dict[str, Any] | None  # the Patient, if the person may see them
    surgeon: str
    anaesthetist: str
    checklist: str  # not-started, in-progress, done
    request: str  # the order's id, or ""
    conflicts: list[dict[str, str]] = field(default_factory=list)  # {"kind": theatre|person, "with": ...}

    @property
    def minutes(self) -> int:
        return int((self.end - self.start).total_seconds() // 60)


@dataclass
class Plan:
    day: date
    site: str
    sites: list[tuple[str, str]]  # (id, name) of every site with theatres
    theatres: list[Theatre]
    cases: list[Case]
    occupied: list[tuple[str, datetime, datetime]]  # busy Slots of cases the person may not see


def theatres_of(core: Acting) -> list[Theatre]:
    """Every theatre, with its site (the first ancestor that is a site, else the topmost) and Schedule."""
    found = searched(core, "Location", [("type", THEATRE_TYPE), ("_include", "Location:partof"), ("_count", str(MOST))])
    places = dict(found.included)
    parents = {reference(p.get("partOf")) for p in places.values()} - set(places) - {""}
    if parents:
        ids = ",".join(sorted(r.removeprefix("Location/") for r in parents))
        places |= {f"Location/{p['id']}": p for p in searched(core, "Location", [("_id", ids)]).matches}
    refs = ",".join(f"Location/{t['id']}" for t in found.matches)
    schedules = searched(core, "Schedule", [("actor", refs), ("_count", str(MOST))]).matches if refs else []
    schedule_of = {reference(a): s["id"] for s in schedules for a in s.get("actor") or [] if s.get("active", True)}
    shown = []
    for location in found.matches:
        site = _site(location, places)
        shown.append(
            Theatre(
                location["id"],
                _short(location),
                site.get("id", ""),
                _short(site, whole=True),
                schedule_of.get(f"Location/{location['id']}", ""),
                reference(location.get("managingOrganization")),
            )
        )
    return sorted(shown, key=lambda t: (t.site_name, _natural(t.name)))


def plan(core: Acting, day: date, site: str = "", practitioner: str | None = None) -> Plan:
    """The cases of `day` (a Danish date) in the theatres of `site` (a Location id), as the person
    may see them, with their conflicts. Without a site: the site whose theatres a department of
    `practitioner` (a Practitioner id) runs, else the first by name."""
    every = theatres_of(core)
    # A theatre in no site (no partOf) is left out: a board is a hospital's.
    sites = sorted({(t.site, t.site_name) for t in every if t.site}, key=lambda s: s[1])
    if not site or not any(s[0] == site for s in sites):
        site = _own_site(core, every, practitioner) or (sites[0][0] if sites else "")
    theatres = [t for t in every if t.site == site]
    result = Plan(day, site, sites, theatres, [], [])
    if not theatres:
        return result
    opens = datetime.combine(day, time(), COPENHAGEN)
    window = [("date", f"ge{opens.isoformat()}"), ("date", f"lt{(opens + timedelta(days=1)).isoformat()}")]
    found = searched(
        core,
        "Appointment",
        [
            ("actor", ",".join(f"Location/{t.id}" for t in theatres)),
            *window,
            ("status", ",".join(SHOWN)),
            ("_include", "Appointment:actor"),
            ("_include", "Appointment:based-on"),
            ("_count", str(MOST)),
        ],
    )
    ids = {t.id for t in theatres}
    requests = [r for r in found.included if r.startswith("ServiceRequest/")]
    checklists = _checklists(core, requests)
    for appointment in found.matches:
        case = _case(appointment, found.included, ids, checklists)
        if case is not None:
            result.cases.append(case)
    result.cases.sort(key=lambda c: (c.start, c.theatre))
    _mark_conflicts(result.cases, {t.id: t.name for t in theatres})
    result.occupied = _occupied(core, theatres, opens, result.cases)
    return result


def _own_site(core: Acting, theatres: list[Theatre], practitioner: str | None) -> str:
    if not practitioner:
        return ""
    roles = searched(core, "PractitionerRole", [("practitioner", practitioner), ("active", "true")]).matches
    departments = {reference(role.get("organization")) for role in roles} - {""}
    own = next((t.site for t in theatres if t.site and t.department in departments), "")
    if own:
        return own
    # A surgeon's department rarely runs the theatres (the anaesthetists' does): the hospital of
    # the places the person works (their wards and clinics) then, with theatres there.
    places = sorted({reference(p) for role in roles for p in role.get("location") or []} - {""})
    if not places:
        return ""
    ids = ",".join(p.removeprefix("Location/") for p in places)
    found = searched(core, "Location", [("_id", ids), ("_include:iterate", "Location:partof"), ("_count", str(MOST))])
    known = {f"Location/{p['id']}": p for p in found.matches} | dict(found.included)
    with_theatres = {t.site for t in theatres if t.site}
    sites = (_site(place, known).get("id") or place.get("id") for place in found.matches)
    return next((site for site in sites if site in with_theatres), "")


def _case(
    appointment: dict[str, Any], included: dict[str, dict[str, Any]], theatres: set[str], checklists: dict[str, str]
) -> Case | None:
    if not appointment.get("start") or not appointment.get("end"):
        return None
    refs = [reference(p.get("actor")) for p in appointment.get("participant") or []]
    theatre = next((r.removeprefix("Location/") for r in refs if r.removeprefix("Location/") in theatres), None)
    if theatre is None:
        return None
    request_ref = next(
        (reference(b) for b in appointment.get("basedOn") or [] if reference(b).startswith("ServiceRequest/")), ""
    )
    request = included.get(request_ref) or {}
    people = [p for p in appointment.get("participant") or [] if reference(p.get("actor")).startswith("Practitioner")]
    roles = {reference(p.get("actor")): _role(included.get(reference(p.get("actor"))) or {}) for p in people}
    surgeon = next((p for p in people if roles[reference(p.get("actor"))] == "surgeon"), people[0] if people else None)
    rest = [p for p in people if p is not surgeon]
    anaesthetist = next(
        (p for p in rest if roles[reference(p.get("actor"))] == "anaesthetist"), rest[0] if rest else None
    )
    patient_ref = next((r for r in refs if r.startswith("Patient/")), "")
    return Case(
        id=appointment["id"],
        version=str((appointment.get("meta") or {}).get("versionId") or ""),
        theatre=theatre,
        start=instant(appointment["start"]).astimezone(COPENHAGEN),
        end=instant(appointment["end"]).astimezone(COPENHAGEN),
        status=appointment.get("status", ""),
        state=STATE.get(appointment.get("status", ""), "planned"),
        priority=_priority(request, appointment),
        procedure=_words(request.get("code"))
        or _words((appointment.get("serviceType") or [None])[0])
        or str(appointment.get("description") or ""),
        patient=included.get(patient_ref),
        surgeon=_display(surgeon, included),
        anaesthetist=_display(anaesthetist, included),
        checklist=checklists.get(request_ref, "not-started"),
        request=request_ref.removeprefix("ServiceRequest/"),
    )


def _mark_conflicts(cases: list[Case], names: dict[str, str]) -> None:
    """Two active cases overlapping in one theatre; one practitioner in two theatres at once."""
    active = [c for c in cases if c.status in ACTIVE]
    for n, one in enumerate(active):
        for other in active[n + 1 :]:
            if other.start >= one.end or other.end <= one.start:
                continue
            if one.theatre == other.theatre:
                for a, b in ((one, other), (other, one)):
                    a.conflicts.append({"kind": "theatre", "with": names[b.theatre], "time": _span(b)})
            else:
                shared = {one.surgeon, one.anaesthetist} & {other.surgeon, other.anaesthetist} - {""}
                for person in sorted(shared):
                    for a, b in ((one, other), (other, one)):
                        a.conflicts.append(
                            {"kind": "person", "who": person, "with": names[b.theatre], "time": _span(b)}
                        )


def _occupied(
    core: Acting, theatres: list[Theatre], opens: datetime, cases: list[Case]
) -> list[tuple[str, datetime, datetime]]:
    """Busy Slots in the theatres that no case shown holds: cases of patients the person may not
    see, shown as taken (by whom is not theirs to know)."""
    by_schedule = {t.schedule: t.id for t in theatres if t.schedule}
    if not by_schedule:
        return []
    slots = searched(
        core,
        "Slot",
        [
            ("schedule", ",".join(f"Schedule/{s}" for s in sorted(by_schedule))),
            ("status", "busy"),
            ("start", f"ge{opens.isoformat()}"),
            ("start", f"lt{(opens + timedelta(days=1)).isoformat()}"),
            ("_count", str(MOST)),
        ],
    ).matches
    seen = {(c.theatre, c.start, c.end) for c in cases}
    taken = []
    for slot in slots:
        theatre = by_schedule.get(reference(slot.get("schedule")).removeprefix("Schedule/"), "")
        start, end = instant(slot["start"]).astimezone(COPENHAGEN), instant(slot["end"]).astimezone(COPENHAGEN)
        if theatre and (theatre, start, end) not in seen:
            taken.append((theatre, start, end))
    return taken


def _checklists(core: Acting, requests: list[str]) -> dict[str, str]:
    if not requests:
        return {}
    tasks = searched(
        core,
        "Task",
        [("focus", ",".join(sorted(requests))), ("code", f"{TASK_SYSTEM}|{CHECKLIST['code']}"), ("_count", str(MOST))],
    ).matches
    shown: dict[str, str] = {}
    for task in sorted(tasks, key=lambda t: str((t.get("meta") or {}).get("lastUpdated") or "")):
        status = task.get("status")
        shown[reference(task.get("focus"))] = (
            "done" if status == "completed" else "in-progress" if status in OPEN_TASK else "not-started"
        )
    return shown


def _priority(request: dict[str, Any], appointment: dict[str, Any]) -> str:
    if request.get("priority") in REQUEST_PRIORITY:
        return REQUEST_PRIORITY[request["priority"]]
    number = appointment.get("priority")
    if isinstance(number, int) and number > 0:
        return "acute" if number == 1 else "urgent" if number < 5 else "elective"
    return "elective"


def _role(role: dict[str, Any]) -> str:
    return next(
        (
            c.get("code", "")
            for concept in role.get("code") or []
            for c in concept.get("coding") or []
            if c.get("system") == STAFF_ROLE
        ),
        "",
    )


def _display(participant: dict[str, Any] | None, included: dict[str, dict[str, Any]]) -> str:
    actor = (participant or {}).get("actor") or {}
    if actor.get("display"):
        return str(actor["display"])
    found = included.get(reference(actor)) or {}
    return str((found.get("practitioner") or {}).get("display") or "")


def _words(concept: dict[str, Any] | None) -> str:
    concept = concept or {}
    return str(
        concept.get("text") or next((c.get("display") for c in concept.get("coding") or [] if c.get("display")), "")
    )


def reference(reference: Any) -> str:
    return str((reference or {}).get("reference") or "") if isinstance(reference, dict) else ""


def _short(location: dict[str, Any], whole: bool = False) -> str:
    """A theatre's name without its site ("Operationsstue 3"); a site's whole."""
    name = str(location.get("name") or location.get("id") or "")
    return name if whole else name.split(",")[0]


def _site(location: dict[str, Any], places: dict[str, dict[str, Any]]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    current = location
    for _ in range(4):
        parent = places.get(reference(current.get("partOf")))
        if parent is None:
            break
        found = current = parent
        if any(c.get("code") == "si" for c in (parent.get("physicalType") or {}).get("coding") or []):
            break
    return found


def _span(case: Case) -> str:
    return f"{case.start:%H:%M}-{case.end:%H:%M}"


def _natural(text: str) -> list[Any]:
    return [int(part) if part.isdecimal() else part for part in re.split(r"(\d+)", text)]


def within_day(start: time, minutes: int) -> bool:
    """Whether a case of `minutes` starting at `start` fits the theatre day (the page checks first)."""
    begins = datetime.combine(date(2000, 1, 1), start)
    return start >= DAY_OPENS and begins + timedelta(minutes=minutes) <= datetime.combine(begins.date(), DAY_CLOSES)
