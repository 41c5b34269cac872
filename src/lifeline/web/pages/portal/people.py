"""Whose record the portal shows (issue 25): the logged-in patient's own, or that of a child under
15 for whom they are a registered parent (access/family.py is the rule; docs/security.md, "The
patient portal").

The children are found through the core as the parent, on every request: the RelatedPersons with a
parent's role code that carry the parent's CPR number or that the parent's own Patient.link names,
then those children's Patients, which the core shows only while they are under 15. The choice is
kept in the session (never in the address) and checked against that list each time, so a changed
form field or a stale choice never reaches anyone else: it gives a clear refusal, and the choice
is forgotten. A child who has turned 15 owns their record: the page says so, with the day, and
shows nothing of them. Time is the service's clock.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date
from typing import Any

from starlette.requests import Request

from lifeline.access.family import CPR, PARENT_CODES, ROLE_CODE
from lifeline.clock import today
from lifeline.errors import FhirError, Forbidden
from lifeline.fhir.acting import Acting
from lifeline.fhir.found import searched
from lifeline.web import i18n
from lifeline.web.layout import PageUser
from lifeline.web.login import WebLogin
from lifeline.web.pages import acting
from lifeline.web.pages.chart import header, words
from lifeline.web.pages.chart.page import language
from lifeline.web.pages.portal.record import own_id, reader

CHOSEN = "portalChosen"  # the session's choice: {"id", "birthDate"} of a child, or absent for oneself
PEOPLE = "portalPeople"  # this request's people, for the switch and the banner (portal/_nav.html)
SELF = "self"
CHILD_AGE = 15
MOST_CHILDREN = 50  # RelatedPersons asked at a time; a parent has a handful
# What a parent may not do for a child, as the refusal says it (the page says it beforehand).
# The core lets a patient write only in their own compartment (access/enforce.py check_write).
REPLY, ACCESS_LOG, CONTACT = "reply", "access-log", "contact"
_REFUSED = {
    CONTACT: "You can see %(name)s's contact details but not change them: tell the department treating"
    " %(name)s instead.",
    REPLY: "You can read %(name)s's messages, but not reply for %(name)s: call the department instead.",
    ACCESS_LOG: "Who has looked at %(name)s's record is not shown to parents: the audit trail shows each"
    " person the accesses to their own record. Switch back to your own record to see who has looked at it.",
}
NOT_A_CHILD = (
    "That record cannot be shown: you are not registered as the parent of a child under 15 with it."
    " You are looking at your own record again."
)
TURNED_FIFTEEN = (
    "The child whose record you were looking at turned 15 on %(day)s and now owns their record, so it"
    " is no longer shown to parents. You are looking at your own record again."
)


@dataclass(frozen=True)
class Child:
    id: str
    name: str
    given: str  # the first name the banner uses
    birth_date: str
    years: int
    months: int | None  # for a child under two


def fifteenth_birthday(born: date) -> date:
    """The day a child turns 15 (a child born on 29 February: 1 March, as access/family.py counts)."""
    try:
        return born.replace(year=born.year + CHILD_AGE)
    except ValueError:
        return date(born.year + CHILD_AGE, 3, 1)


def children(core: Acting, parent_id: str, on: date) -> list[Child]:
    """The children under 15 on `on` for whom the patient `core` acts as is a registered parent,
    youngest first, found through the core (so the access rule decides as well)."""
    _, parent = reader(core, parent_id)
    numbers = [str(i["value"]) for i in parent.get("identifier") or [] if i.get("system") == CPR and i.get("value")]
    linked = [
        reference.removeprefix("RelatedPerson/")
        for link in parent.get("link") or []
        if (reference := str((link.get("other") or {}).get("reference") or "")).startswith("RelatedPerson/")
    ]
    roles = ",".join(f"{ROLE_CODE}|{code}" for code in PARENT_CODES)
    asked = [[("identifier", f"{CPR}|{number}")] for number in numbers]
    asked += [[("_id", ",".join(linked))]] if linked else []
    child_ids: set[str] = set()
    for params in asked:
        found = searched(core, "RelatedPerson", [*params, ("relationship", roles), ("_count", str(MOST_CHILDREN))])
        for related in found.matches:
            if not _names_parent(related, numbers, linked):
                continue
            reference = str((related.get("patient") or {}).get("reference") or "")
            if reference.startswith("Patient/") and reference != f"Patient/{parent_id}":
                child_ids.add(reference.removeprefix("Patient/"))
    if not child_ids:
        return []
    found = searched(core, "Patient", [("_id", ",".join(sorted(child_ids))), ("_count", str(MOST_CHILDREN))])
    shown = [child for patient in found.matches if (child := _child(patient, on)) is not None]
    return sorted(shown, key=lambda c: c.birth_date, reverse=True)


def _names_parent(related: dict[str, Any], numbers: list[str], linked: list[str]) -> bool:
    """The RelatedPerson is a parent (by role) and is this parent (by CPR number or link)."""
    codes = {
        c.get("code")
        for concept in related.get("relationship") or []
        for c in concept.get("coding") or []
        if c.get("system") == ROLE_CODE
    }
    if not codes & set(PARENT_CODES):
        return False
    cprs = {i.get("value") for i in related.get("identifier") or [] if i.get("system") == CPR}
    return bool(cprs & set(numbers)) or related.get("id") in linked


def _child(patient: dict[str, Any], on: date) -> Child | None:
    """The Patient as a child of the switch, or None when it is no child under 15 on `on`."""
    born_text = str(patient.get("birthDate") or "")
    if len(born_text) != 10 or not patient.get("id"):
        return None
    born = date.fromisoformat(born_text)
    if fifteenth_birthday(born) <= on or born > on:
        return None
    aged = words.age(born, on)
    name = header.name(patient) or "?"
    official: dict[str, Any] = next((n for n in patient.get("name") or [] if n.get("given")), {})
    given = str((official.get("given") or [name.split(" ")[0]])[0])
    return Child(str(patient["id"]), name, given, born_text, aged["years"], aged.get("months"))


def shown_id(web: WebLogin, request: Request, refused_for_child: str | None = None) -> str:
    """The id of the patient whose record this portal page shows: the logged-in patient's own, or
    the child chosen in the session while the core still lists them as this parent's child under
    15. `refused_for_child` names what a parent may not do for a child (REPLY, ACCESS_LOG)."""
    user: PageUser = request.user
    own = own_id(user)
    session = user.session
    on = today(web.service.clock)
    kids = children(acting(web.service, request), own, on)
    chosen = session.data.get(CHOSEN) if session is not None else None
    child = next((k for k in kids if isinstance(chosen, dict) and k.id == chosen.get("id")), None)
    if session is not None:
        session.data[PEOPLE] = {"children": [asdict(k) for k in kids], "chosen": asdict(child) if child else None}
    if chosen is None:
        return own
    if child is None:
        _forget(web, request)
        raise _ended(chosen, on)
    if refused_for_child is not None:
        raise Forbidden(_said(_REFUSED[refused_for_child], name=child.given))
    return child.id


def choose(web: WebLogin, request: Request, person: str | None) -> None:
    """Keep `person` (SELF, or a child's id among this parent's children now) as the session's
    choice; anyone else is refused and the parent's own record chosen."""
    user: PageUser = request.user
    own = own_id(user)
    session = user.session
    if session is None:
        raise Forbidden("This page is for patients.")
    if person in (None, "", SELF, own):
        _forget(web, request)
        return
    kids = children(acting(web.service, request), own, today(web.service.clock))
    child = next((k for k in kids if k.id == person), None)
    if child is None:
        _forget(web, request)
        raise Forbidden(_said(NOT_A_CHILD))
    session.data[CHOSEN] = {"id": child.id, "birthDate": child.birth_date}
    _saved(web, request)


def _ended(chosen: Any, on: date) -> FhirError:
    """Why a chosen child is shown no more: turned 15 (on which day), or no child of this parent."""
    born_text = str(chosen.get("birthDate") or "") if isinstance(chosen, dict) else ""
    if len(born_text) == 10:
        turned = fifteenth_birthday(date.fromisoformat(born_text))
        if turned <= on:
            day = (words.when(turned.isoformat(), language(), day=True) or {}).get("text", turned.isoformat())
            return Forbidden(_said(TURNED_FIFTEEN, day=day))
    return Forbidden(_said(NOT_A_CHILD))


def _forget(web: WebLogin, request: Request) -> None:
    session = request.user.session
    if session is not None and CHOSEN in session.data:
        del session.data[CHOSEN]
        _saved(web, request)


def _saved(web: WebLogin, request: Request) -> None:
    """The session as it is now, stored without this request's list of people (read afresh each time)."""
    session = request.user.session
    people = session.data.pop(PEOPLE, None)
    web.sessions.save(session)
    if people is not None:
        session.data[PEOPLE] = people


def _said(message: str, **values: str) -> str:
    """`message` in the reader's language."""
    text = i18n.translations(language()).gettext(message)
    return text % values if values else text
