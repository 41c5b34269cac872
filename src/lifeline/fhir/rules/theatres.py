"""Rules for operating theatres (issue 24): see fhir/rules/__init__.py.

A theatre case is an Appointment (https://hl7.org/fhir/R4/appointment.html) with a participant
that is a theatre: a Location typed OR, "Operating room"
(http://terminology.hl7.org/CodeSystem/v3-RoleCode). It is active while its status is proposed,
pending, booked, arrived or checked-in. For an active case with a start and an end:

- the case fits the theatre day: it starts at 07:00 or later and ends by 23:00, Danish time, on
  the day it starts (so it never crosses midnight and never runs longer than the day, 16 hours).
  The day is the board's (logistics/theatres.py); an emergency at night is operated outside the plan;
- no other active case overlaps it in the same theatre;
- none of its practitioners (any Practitioner or PractitionerRole participant who has not declined:
  the surgeon, the anaesthetist) is in another theatre's active case at an overlapping time.

A refusal is 422 Unprocessable with issue code `business-rule` and the element named, as the
scheduling rules' (rules/scheduling.py). Each theatre and each practitioner is locked
(`session.lock`, in one order) before looking, so two
racing moves into the same hour see each other. A refusal names the theatre, the time and the
practitioner, never the other case's patient ("Operationsstue 3 is taken 09:00-11:00 by another
case"). A write that changes neither the case's time, its participants nor brings it back to an
active status is not checked again, so marking a case started is never refused for a conflict
that already stood; the board shows such conflicts (logistics/theatres.py).
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any

from lifeline.clock import COPENHAGEN
from lifeline.fhir.rules import Checker, Written, refused

ACTIVE = ("proposed", "pending", "booked", "arrived", "checked-in")
THEATRE_TYPE = "http://terminology.hl7.org/CodeSystem/v3-RoleCode|OR"
DAY_OPENS, DAY_CLOSES = time(7, 0), time(23, 0)  # the theatre day, Danish time
LONGEST = timedelta(hours=16)  # the theatre day: no case starting earlier the same day reaches back further
MOST = 500  # a theatre's or a practitioner's cases in a window: a day holds a few dozen


def instant(value: str) -> datetime:
    """A FHIR instant with its offset."""
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def clock(moment: datetime) -> str:
    return moment.astimezone(COPENHAGEN).strftime("%H:%M")


def actors(appointment: dict[str, Any], prefix: tuple[str, ...]) -> list[tuple[str, str]]:
    """The (reference, display) of the participants whose reference starts with `prefix`, who have
    not declined."""
    found = []
    for participant in appointment.get("participant") or []:
        actor = participant.get("actor") or {}
        reference = str(actor.get("reference") or "")
        if reference.startswith(prefix) and participant.get("status") != "declined":
            found.append((reference, str(actor.get("display") or "")))
    return found


def practitioners(appointment: dict[str, Any]) -> list[tuple[str, str]]:
    return actors(appointment, ("Practitioner/", "PractitionerRole/"))


def theatres(written: Written, locations: list[str]) -> dict[str, str]:
    """Those of `locations` (Location/id) that are theatres, with their names."""
    ids = sorted({ref.removeprefix("Location/") for ref in locations})
    if not ids:
        return {}
    found = written.matching("Location", [("_id", ",".join(ids)), ("type", THEATRE_TYPE)], limit=len(ids))
    return {f"Location/{loc['id']}": str(loc.get("name") or loc["id"]).split(",")[0] for loc in found}


def _shape(appointment: dict[str, Any] | None) -> tuple[Any, ...] | None:
    """What the rules decide on: whether active, the times, the places and people taking part."""
    if appointment is None or appointment.get("status") not in ACTIVE:
        return None
    taking_part = sorted(ref for ref, _ in actors(appointment, ("Location/", "Practitioner/", "PractitionerRole/")))
    return appointment.get("start"), appointment.get("end"), tuple(taking_part)


def check_theatre_case(written: Written) -> None:
    case = written.resource
    if _shape(case) is None or _shape(case) == _shape(written.before):
        return
    own = theatres(written, [ref for ref, _ in actors(case, ("Location/",))])
    if not own or not case.get("start") or not case.get("end"):
        return
    start, end = instant(case["start"]), instant(case["end"])
    _fits_the_day(start, end)
    people = practitioners(case)
    for key in sorted({*(f"theatre:{ref}" for ref in own), *(f"practitioner:{ref}" for ref, _ in people)}):
        written.session.lock(key)
    for theatre, name in own.items():
        for other in _overlapping(written, theatre, start, end):
            raise refused(
                f"{name} is taken {_span(other)} by another case: choose another time or theatre", "Appointment.start"
            )
    for person, display in people:
        others = _overlapping(written, person, start, end)
        places = theatres(written, [ref for other in others for ref, _ in actors(other, ("Location/",))])
        for other in others:
            elsewhere = [places[ref] for ref, _ in actors(other, ("Location/",)) if ref in places and ref not in own]
            if elsewhere:
                who = display or person
                raise refused(
                    f"{who} is in {elsewhere[0]} {_span(other)}: one person cannot be in two theatres at once",
                    "Appointment.participant",
                )


def _fits_the_day(start: datetime, end: datetime) -> None:
    if end <= start:
        raise refused("The case must end after it starts", "Appointment.end")
    local_start, local_end = start.astimezone(COPENHAGEN), end.astimezone(COPENHAGEN)
    opens = datetime.combine(local_start.date(), DAY_OPENS, COPENHAGEN)
    closes = datetime.combine(local_start.date(), DAY_CLOSES, COPENHAGEN)
    if local_start < opens or local_end > closes:
        midnight = " and crosses midnight" if local_end.date() != local_start.date() else ""
        raise refused(
            f"A theatre case must lie within the theatre day, {DAY_OPENS:%H:%M}-{DAY_CLOSES:%H:%M} on one day;"
            f" this one is {clock(start)}-{clock(end)}{midnight}",
            "Appointment.end",
        )


def _overlapping(written: Written, actor: str, start: datetime, end: datetime) -> list[dict[str, Any]]:
    """The active cases of `actor` (a theatre or a practitioner) that overlap start-end. The date
    parameter is Appointment.start, so the window reaches back by the longest case."""
    found = written.matching(
        "Appointment",
        [
            ("actor", actor),
            ("status", ",".join(ACTIVE)),
            ("date", f"lt{end.isoformat()}"),
            ("date", f"gt{(start - LONGEST).isoformat()}"),
        ],
        limit=MOST,
    )
    return [
        other
        for other in found
        if other.get("start") and other.get("end") and instant(other["start"]) < end and instant(other["end"]) > start
    ]


def _span(other: dict[str, Any]) -> str:
    return f"{clock(instant(other['start']))}-{clock(instant(other['end']))}"


CHECKS: dict[str, list[Checker]] = {"Appointment": [check_theatre_case]}
