"""`/portal/access-log`: who has looked at my record (issue 25). Every access by staff to the
patient's record, newest first, from the audit trail's AuditEvent search asked through the core as
the patient (fhir/interactions/audit_events.py), so the trail's own rule decides what a patient
sees of it (docs/security.md, "Known limits": their own entities and resources, who looked and
why; never another patient's id, nor a staff member's query, login, address or token), and the
search is itself on the trail as the patient's.

Shown: accesses whose requestor is a member of staff (a Practitioner): name, role, department and
hospital (the directory, read through the core as the patient), when, what kind of access, how
it ended and, for a broken glass, the reason given. Left out: the patient's own and their
relatives' reads (the portal itself), apps and system services acting for no member of staff, the
replication and operators' records. https://profiles.ihe.net/ITI/BALP/ ;
https://hl7.org/fhir/R4/auditevent.html#search
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

from babel.dates import format_time

from lifeline.access.break_glass import REASON_SYSTEM, REASONS
from lifeline.clock import COPENHAGEN
from lifeline.errors import BadRequest
from lifeline.fhir.acting import Acting
from lifeline.fhir.found import searched
from lifeline.web.pages.chart import words

PATH = "/portal/access-log"
ROWS = 25  # staff accesses a page of the log aims at
ASKED = 200  # records asked of the trail at a time: most of a patient's records are their own reads
MOST_ASKED = 5  # trail pages read for one page of the log; a longer stretch without staff says so
_DAY = re.compile(r"(\d{1,2})[.\-/ ](\d{1,2})[.\-/ ](\d{4})")  # 31-12-2026 as typed where no date picker
_CURSOR = re.compile(r"[A-Za-z0-9_\-=]{1,400}")
# The kind of access, by the record's subtype (audit/access.py `subtype`), else by its action.
_KINDS = {"read": "read", "vread": "read", "history-instance": "read", "history-type": "read"}
_KINDS |= {"search-type": "search", "search-system": "search", "batch": "search", "history-system": "search"}
_KINDS |= {"create": "change", "update": "change", "patch": "change", "delete": "change"}
_KINDS |= {"break-the-glass": "break-the-glass", "login": "other"}
_BY_ACTION = {"R": "read", "C": "change", "U": "change", "D": "change", "E": "other"}
# One look at a chart is a dozen records (the patient, then each part's search): the same person,
# for the same reason, within this long of the next is shown as one visit, with how many it was.
VISIT = timedelta(minutes=15)
_WEIGHT = ("break-the-glass", "change", "read", "search", "other")  # what a visit is shown as first


def day_typed(text: str | None) -> date | None:
    """A day as a date field sends it (2026-12-31) or as typed (31-12-2026, 31.12.2026); None
    when empty. ValueError when it is no day."""
    typed = (text or "").strip()
    if not typed:
        return None
    if (found := _DAY.fullmatch(typed)) is not None:
        return date(int(found.group(3)), int(found.group(2)), int(found.group(1)))
    if len(typed) == 10:
        return date.fromisoformat(typed)
    raise ValueError(typed)


def period(from_text: str | None, to_text: str | None) -> tuple[date | None, date | None, dict[str, str]]:
    """The period asked for, and a problem per field (as keys of the page's messages)."""
    problems: dict[str, str] = {}
    days: list[date | None] = []
    for name, text in (("from", from_text), ("to", to_text)):
        try:
            days.append(day_typed(text))
        except ValueError:
            days.append(None)
            problems[name] = "not-a-day"
    start, end = days
    if start is not None and end is not None and end < start:
        problems["to"] = "before-from"
    return start, end, problems


def access_log(core: Acting, start: date | None, end: date | None, after: str | None, language: str) -> dict[str, Any]:
    """One page of the staff accesses to the record of the patient `core` acts as, between the
    Danish days `start` and `end` (both included; None: open), newest first; `after` is the trail's
    cursor from the previous page's `next`."""
    params = [("_count", str(ASKED))]
    if start is not None:
        params.append(("date", f"ge{datetime.combine(start, time(), COPENHAGEN).isoformat()}"))
    if end is not None:
        params.append(("date", f"lt{datetime.combine(end + timedelta(days=1), time(), COPENHAGEN).isoformat()}"))
    if after is not None and not _CURSOR.fullmatch(after):
        raise BadRequest("That page of the list is no longer valid; start from the newest")
    events: list[dict[str, Any]] = []
    cursor, asked = after, 0
    while asked < MOST_ASKED and len(events) < ROWS:
        found = searched(core, "AuditEvent", [*params, *([("_page", cursor)] if cursor else [])])
        asked += 1
        events += [event for event in found.matches if _staff(event) is not None]
        cursor = _cursor(found.links.get("next"))
        if cursor is None:
            break
    staff = _directory(core, sorted({ref for event in events if (ref := _staff_reference(event))}))
    return {
        "accesses": grouped([_row(event, staff, language) for event in events], language),
        "next": cursor,
        "searchedFar": asked >= MOST_ASKED and cursor is not None and not events,
        "from": start.isoformat() if start else "",
        "to": end.isoformat() if end else "",
        "problems": {},
    }


def _staff(event: dict[str, Any]) -> dict[str, Any] | None:
    """The member of staff who asked, or None for anyone else (the patient, a relative, an app or
    a service acting for no member of staff)."""
    for agent in event.get("agent") or []:
        if agent.get("requestor") and str((agent.get("who") or {}).get("reference", "")).startswith("Practitioner/"):
            return dict(agent)
    return None


def _staff_reference(event: dict[str, Any]) -> str | None:
    agent = _staff(event)
    return str(agent["who"]["reference"]) if agent is not None else None


def _cursor(next_url: str | None) -> str | None:
    if not next_url:
        return None
    pages = parse_qs(urlsplit(next_url).query).get("_page") or []
    return pages[0] if pages else None


def _directory(core: Acting, practitioners: list[str]) -> dict[str, list[dict[str, str]]]:
    """Each practitioner's roles as {role, department, hospital}: their PractitionerRoles, the
    departments these name and the hospitals those are part of, read through the core."""
    if not practitioners:
        return {}
    ids = ",".join(ref.removeprefix("Practitioner/") for ref in practitioners)
    found = searched(
        core,
        "PractitionerRole",
        [("practitioner", ids), ("_include", "PractitionerRole:organization"), ("_count", "500")],
    )
    departments = found.included
    hospitals_needed = sorted(
        {part for org in departments.values() if (part := (org.get("partOf") or {}).get("reference", ""))}
        - set(departments)
    )
    hospitals: dict[str, dict[str, Any]] = {}
    if hospitals_needed:
        ids = ",".join(ref.removeprefix("Organization/") for ref in hospitals_needed)
        hospitals = {f"Organization/{o.get('id')}": o for o in searched(core, "Organization", [("_id", ids)]).matches}
    places = {**departments, **hospitals}
    roles: dict[str, list[dict[str, str]]] = {}
    for role in found.matches:
        if role.get("active") is False:
            continue
        department_ref = (role.get("organization") or {}).get("reference", "")
        department = places.get(department_ref) or {}
        hospital_ref = (department.get("partOf") or {}).get("reference", "")
        roles.setdefault((role.get("practitioner") or {}).get("reference", ""), []).append(
            {
                "role": words.concept((role.get("code") or [{}])[0]) or "",
                "department": _org_name(department, role.get("organization")),
                "hospital": _org_name(places.get(hospital_ref) or {}, department.get("partOf")),
            }
        )
    return roles


def _org_name(org: dict[str, Any], reference: dict[str, Any] | None) -> str:
    return str(org.get("name") or (reference or {}).get("display") or "")


def _row(event: dict[str, Any], staff: dict[str, list[dict[str, str]]], language: str) -> dict[str, Any]:
    agent = _staff(event) or {}
    reference = str(agent["who"]["reference"])
    subtype = next((str(c.get("code")) for c in event.get("subtype") or [] if c.get("code")), "")
    reason = next(
        (
            {"code": str(coding["code"]), "text": str(purpose.get("text") or "")}
            for purpose in agent.get("purposeOfUse") or []
            for coding in purpose.get("coding") or []
            if coding.get("system") == REASON_SYSTEM and coding.get("code") in REASONS
        ),
        None,
    )
    kind = _KINDS.get(subtype) or _BY_ACTION.get(str(event.get("action")), "other")
    # The directory may hold no role of theirs now: the role the trail names, as it was then.
    named = [str(role.get("text") or "") for role in agent.get("role") or []]
    roles = staff.get(reference) or [{"role": text, "department": "", "hospital": ""} for text in named if text]
    return {
        "id": event.get("id"),
        "who": reference,
        "when": words.when(str(event.get("recorded") or ""), language),
        "name": str(agent["who"].get("display") or reference),
        "roles": roles,
        "kind": "break-the-glass" if subtype == "break-the-glass" else kind,
        "brokenGlass": reason is not None,
        "reason": reason,
        "succeeded": event.get("outcome") == "0",
        "what": sorted({t for t in _types(event) if t != "Patient"}),
    }


def grouped(rows: list[dict[str, Any]], language: str = "en") -> list[dict[str, Any]]:
    """Rows (newest first) as visits: the same person, reason and outcome, each record within
    VISIT of the one after it; `kinds` the visit's kinds of access, `count` its records, `since`
    its first record's time (None for one) and `period` the two as the reader reads them."""
    visits: list[dict[str, Any]] = []
    for row in rows:
        last = visits[-1] if visits else None
        same = ("who", "brokenGlass", "reason", "succeeded")
        if last is not None and all(last[k] == row[k] for k in same) and _apart(last, row) <= VISIT:
            last["count"] += 1
            last["kinds"] = sorted({*last["kinds"], row["kind"]}, key=_WEIGHT.index)
            last["since"] = row["when"]
            last["what"] = sorted({*last["what"], *row["what"]})
        else:
            visits.append({**row, "count": 1, "kinds": [row["kind"]], "since": None})
    for visit in visits:
        visit["kind"] = visit["kinds"][0]
        visit["period"] = _period(visit["since"], visit["when"], language)
    return visits


def _period(since: dict[str, str] | None, until: dict[str, str] | None, language: str) -> str:
    """ "22 Nov 2026, 09:01–09:14": a visit's first and last record, the day said once."""
    if until is None:
        return ""
    if since is None or since["text"] == until["text"]:
        return until["text"]
    try:
        first, last = (datetime.fromisoformat(w["at"]).astimezone(COPENHAGEN) for w in (since, until))
    except ValueError:
        return f"{since['text']} – {until['text']}"
    if first.date() != last.date():
        return f"{since['text']} – {until['text']}"
    return f"{since['text']}–{format_time(last, 'HH:mm', locale=language)}"


def _apart(visit: dict[str, Any], row: dict[str, Any]) -> timedelta:
    earliest = (visit["since"] or visit["when"] or {}).get("at", "")
    try:
        return datetime.fromisoformat(earliest) - datetime.fromisoformat((row["when"] or {}).get("at", ""))
    except ValueError:
        return VISIT + VISIT  # a time that cannot be read starts a visit of its own


def _types(event: dict[str, Any]) -> list[str]:
    """The kinds of record an access touched (Observation, Condition …), from its entities."""
    return [
        reference.split("/", 1)[0]
        for entity in event.get("entity") or []
        if "/" in (reference := str((entity.get("what") or {}).get("reference", "")))
    ]
