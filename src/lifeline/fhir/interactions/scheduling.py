"""Appointment/$find, $hold and $book (issue 24): the IHE ITI Scheduling profile
(https://profiles.ihe.net/ITI/Scheduling/), which builds on the Argonaut scheduling guide; and
Appointment/$waiting-list, Lifeline's own.

- `$find` [ITI-115] (GET or POST): free slots as proposed Appointments, in a Bundle. Parameters:
  `start` and `end` (dates or dateTimes; default today and two weeks on), `location` (a clinic),
  `schedule`, `practitioner` (whose Schedule), `visit-type` or `service-type` (a Slot's
  serviceType token), `_count`.
- `$hold` [ITI-116]: `appointment-resource` (a proposed Appointment of $find with the patient
  added) written as `pending`, its slot `busy-tentative`, until it is booked or cancelled.
- `$book` [ITI-117]: `appointment-reference` (a held Appointment) or `appointment-resource`: a new
  booking (booked, its slot busy), or the change of an existing Appointment: cancelled with a
  reason (its slot freed), or moved to another slot (the new busy, the old freed), or booked from
  the waiting list. Each is ONE transaction with the Communication that tells the patient
  (fhir/patient_messages.py; a sender delivers it later, logistics/sending.py).
- `$waiting-list`: Appointments with status waitlist, by priority (1 first) and then the longest
  waiting (`created`, the date referred); optional `location` and `service-type`.

A patient's existing appointments [ITI-118] are the search `Appointment?patient=...`.
Every sub-read and write runs through the core as the caller (the access rule applies), and the
writes meet the record's scheduling rules (fhir/rules/scheduling.py).
"""

from __future__ import annotations

import re
import uuid
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any

from babel.dates import format_datetime

from lifeline import jsontext
from lifeline.access.deciding import PATIENT_NOTICE, SELF_SERVICE, self_service  # noqa: F401 - the portal's
from lifeline.clock import COPENHAGEN, fhir_instant, today
from lifeline.errors import (
    BadRequest,
    FhirError,
    Forbidden,
    MethodNotAllowed,
    NotFound,
    PreconditionFailed,
    Unprocessable,
)
from lifeline.fhir import patient_messages as notify
from lifeline.fhir.request import FhirRequest, FhirResponse
from lifeline.fhir.rules import refused
from lifeline.fhir.rules.scheduling import ACTIVE, moment, patients, slots

if TYPE_CHECKING:
    from lifeline.fhir.service import FhirService

OPERATIONS = ("$find", "$hold", "$book", "$waiting-list")
FIND_DAYS = 14  # $find without an end looks this far ahead
MOST_FOUND = 200
MOST_WAITING = 500
_ENTRY = re.compile(r"^Entry \d+( \([^)]*\))?: ")
# What each operation takes. A name it does not take is refused, never left out: a $find that
# dropped an unknown filter would answer every clinic's free times as if they were the one asked.
TAKES = {
    "$find": frozenset(
        {"start", "end", "location", "schedule", "practitioner", "visit-type", "service-type", "_count"}
    ),
    "$hold": frozenset({"appointment-resource", "appointment-reference"}),
    "$book": frozenset({"appointment-resource", "appointment-reference"}),
    "$waiting-list": frozenset({"location", "service-type", "_count"}),
}
# The IHE ITI Scheduling names of the same parameters ([ITI-115] Find Potential Appointments).
IHE_NAMES = {"location-reference": "location", "provider-reference": "practitioner"}


def handle(service: FhirService, request: FhirRequest) -> FhirResponse:
    if request.resource_type != "Appointment" or request.id is not None:
        raise MethodNotAllowed(
            f"{request.operation} is offered on the Appointment type: [base]/Appointment/{request.operation}"
        )
    asked = _parameters(request)
    if request.operation == "$find":
        return _bundle(find(service, request, asked), "searchset")
    if request.operation == "$waiting-list":
        return _bundle(waiting_list(service, request, asked), "searchset")
    return _bundle([book(service, request, asked, hold=request.operation == "$hold")], "collection")


# $find


def find(service: FhirService, request: FhirRequest, asked: dict[str, list[Any]]) -> list[dict[str, Any]]:
    """Free slots as proposed Appointments, earliest first."""
    start, end = _window(service, _one(asked, "start"), _one(asked, "end"))
    schedules: dict[str, dict[str, Any]] = {}
    chosen = [_reference(v, "Schedule") for v in asked.get("schedule", [])]
    actors = [_reference(v, "Location") for v in asked.get("location", [])]
    actors += [_reference(v, None if "/" in str(v) else "PractitionerRole") for v in asked.get("practitioner", [])]
    if actors:
        for schedule in _search(service, request, "Schedule", [("actor", ",".join(actors)), ("_count", "1000")]):
            schedules[f"Schedule/{schedule['id']}"] = schedule
        if not schedules:
            return []
        chosen = [key for key in schedules if not chosen or key in chosen]
        if not chosen:
            return []
    criteria = [("status", "free"), ("start", f"ge{start.isoformat()}"), ("start", f"lt{end.isoformat()}")]
    if chosen:
        criteria.append(("schedule", ",".join(chosen)))
    kinds = [str(v) for name in ("visit-type", "service-type") for v in asked.get(name, [])]
    if kinds:
        criteria.append(("service-type", ",".join(kinds)))
    count = min(_count(_one(asked, "_count")), MOST_FOUND)
    found = _search(service, request, "Slot", [*criteria, ("_sort", "start"), ("_count", str(count))])
    missing = sorted(
        {s["schedule"]["reference"] for s in found if s.get("schedule", {}).get("reference")} - set(schedules)
    )
    if missing:
        ids = ",".join(ref.partition("/")[2] for ref in missing)
        for schedule in _search(service, request, "Schedule", [("_id", ids), ("_count", str(len(missing)))]):
            schedules[f"Schedule/{schedule['id']}"] = schedule
    return [_proposed(slot, schedules.get((slot.get("schedule") or {}).get("reference", ""))) for slot in found]


def _proposed(slot: dict[str, Any], schedule: dict[str, Any] | None) -> dict[str, Any]:
    participants = [
        {"actor": actor, "required": "required", "status": "needs-action"}
        for actor in (schedule or {}).get("actor") or []
    ]
    appointment: dict[str, Any] = {
        "resourceType": "Appointment",
        "status": "proposed",
        "start": slot.get("start"),
        "end": slot.get("end"),
        "slot": [{"reference": f"Slot/{slot['id']}"}],
        "participant": participants,
    }
    start, end = moment(slot.get("start")), moment(slot.get("end"))
    if start is not None and end is not None:
        appointment["minutesDuration"] = int((end - start).total_seconds() // 60)
    for element in ("serviceType", "specialty", "appointmentType", "serviceCategory"):
        if slot.get(element):
            appointment[element] = slot[element]
    return appointment


# $hold and $book


def book(service: FhirService, request: FhirRequest, asked: dict[str, list[Any]], *, hold: bool) -> dict[str, Any]:
    """Hold or book the asked appointment, or change an existing one; the Appointment written."""
    given = _one(asked, "appointment-resource")
    reference = _one(asked, "appointment-reference")
    current: dict[str, Any] | None = None
    if isinstance(reference, str):
        current = _read(service, request, _reference(reference, "Appointment"))
        wanted = {**current, "status": "pending" if hold else "booked"}
    elif isinstance(given, dict) and given.get("resourceType") == "Appointment":
        wanted = dict(given)
        if isinstance(wanted.get("id"), str):
            current = _read(service, request, f"Appointment/{wanted['id']}")
    else:
        raise BadRequest(
            f"{request.operation} needs an appointment-resource (an Appointment) or an appointment-reference"
        )
    status = wanted.get("status")
    if hold:
        if current is not None and current.get("status") not in ("proposed", "pending"):
            raise Unprocessable(f"Only a proposed appointment can be held; this one is {current.get('status')}")
        wanted["status"] = "pending"
    elif status in ("proposed", "pending", None):
        wanted["status"] = "booked"
    elif status not in ("booked", "cancelled"):
        raise BadRequest(f"$book books (status booked) or cancels (status cancelled), not status {status!r}")
    if current is None and wanted["status"] == "cancelled":
        raise BadRequest("Only an existing appointment can be cancelled: give its id")
    if not patients(wanted) and wanted["status"] != "cancelled":
        raise Unprocessable("An appointment must name its patient (a participant that is a Patient)")
    if wanted["status"] != "cancelled" and not slots(wanted):
        raise BadRequest(f"{request.operation} needs the slot to book (Appointment.slot)")
    if _is_patient(request):
        _patient_may(service, request, current, wanted, hold=hold)
    wanted.pop("meta", None)
    kept = set(slots(current)) if current is not None and current.get("status") in ACTIVE else set()
    new_slots = set(slots(wanted)) if wanted["status"] != "cancelled" else set()
    if wanted["status"] == "cancelled":
        wanted["slot"] = current.get("slot", []) if current else []
        for participant in wanted.get("participant") or []:
            if ((participant.get("actor") or {}).get("reference") or "").startswith("Patient/"):
                participant["status"] = "declined"
    if not wanted.get("created") and not _is_patient(request):  # a patient's change keeps the record's own
        wanted["created"] = fhir_instant(service.clock())
    slot_status = "busy-tentative" if wanted["status"] == "pending" else "busy"
    changes: list[tuple[str, dict[str, Any], str | None]] = []  # (Slot/id, new content, its version)
    for key in sorted(new_slots):
        slot, version = _read_versioned(service, request, key)
        if slot.get("status") != slot_status:
            changes.append((key, {**slot, "status": slot_status}, version))
        _times_from(wanted, slot, only_if_missing=len(new_slots) > 1)
    for key in sorted(kept - new_slots):
        slot, version = _read_versioned(service, request, key)
        if slot.get("status") in ("busy", "busy-tentative"):
            changes.append((key, {**slot, "status": "free"}, version))
    kind = _kind(current, wanted)
    try:
        return _write(service, request, wanted, changes, kind)
    except (Unprocessable, PreconditionFailed):
        # The same booking sent twice (a double click, a retry after a lost answer): the first
        # took the slot, so the second finds it taken, by this very patient. Booked once, answered alike.
        same = _held_by_the_same_patient(service, request, wanted) if current is None else None
        if same is None:
            raise
        return same


def _is_patient(request: FhirRequest) -> bool:
    return request.principal is not None and request.principal.kind == "patient"


def _patient_may(
    service: FhirService, request: FhirRequest, current: dict[str, Any] | None, wanted: dict[str, Any], *, hold: bool
) -> None:
    """What a patient may do with $book (issue 25): change a booked appointment of their own, never
    hold or book a new one. The rest (the notice, the slot's clinic and kind, their own answer
    only) is the access rule's, whatever the path of the write (access/deciding.py `check_patient_booking`)."""
    if hold or current is None:
        raise Forbidden("Patients cannot book or hold new appointments; they cancel or move their own booked ones")
    if current.get("status") != "booked":
        status_now = current.get("status")
        raise refused(f"Only a booked appointment can be changed; this one is {status_now}", "Appointment.status")


def _held_by_the_same_patient(
    service: FhirService, request: FhirRequest, wanted: dict[str, Any]
) -> dict[str, Any] | None:
    """The active appointment of `wanted`'s patient that holds exactly its slots, if there is one."""
    taken, who = slots(wanted), patients(wanted)
    if wanted.get("status") not in ACTIVE or not taken or len(who) != 1:
        return None
    held = _search(
        service,
        request,
        "Appointment",
        [("slot", ",".join(taken)), ("patient", who[0]), ("status", ",".join(ACTIVE)), ("_count", "10")],
    )
    return next((a for a in held if slots(a) == taken and a.get("status") == wanted.get("status")), None)


def _kind(current: dict[str, Any] | None, wanted: dict[str, Any]) -> str | None:
    """What the patient is told: booked, moved, cancelled; nothing for a hold."""
    if wanted["status"] == "pending":
        return None
    if wanted["status"] == "cancelled":
        return "cancelled"
    if current is not None and current.get("status") == "booked" and current.get("start") != wanted.get("start"):
        return "moved"
    if current is not None and current.get("status") == "booked":
        return None  # booked again as it was: nothing changed for the patient
    return "booked"


def _times_from(appointment: dict[str, Any], slot: dict[str, Any], *, only_if_missing: bool) -> None:
    """The appointment's time is its slot's (one slot), or spans its slots."""
    for element in ("start", "end"):
        if slot.get(element) and (not only_if_missing or not appointment.get(element)):
            appointment[element] = slot[element]
    start, end = moment(appointment.get("start")), moment(appointment.get("end"))
    if start is not None and end is not None and end > start:
        appointment["minutesDuration"] = int((end - start).total_seconds() // 60)


def _write(
    service: FhirService,
    request: FhirRequest,
    appointment: dict[str, Any],
    changes: list[tuple[str, dict[str, Any], str | None]],
    kind: str | None,
) -> dict[str, Any]:
    """The appointment, its slots and the patient's message in one transaction."""
    full_url = f"urn:uuid:{uuid.uuid4()}"
    first: dict[str, Any]
    if isinstance(appointment.get("id"), str):
        first = {"request": {"method": "PUT", "url": f"Appointment/{appointment['id']}"}}
        about = f"Appointment/{appointment['id']}"
    else:
        first = {"fullUrl": full_url, "request": {"method": "POST", "url": "Appointment"}}
        about = full_url
    entries: list[dict[str, Any]] = [{**first, "resource": appointment}]
    for key, slot, version in changes:
        step: dict[str, Any] = {"method": "PUT", "url": key}
        if version is not None:
            step["ifMatch"] = f'W/"{version}"'
        entries.append({"resource": slot, "request": step})
    if kind is not None:
        for patient in patients(appointment):
            text = message(kind, appointment)
            entries.append(
                {
                    # A patient's own change is told to them as sent by themself (access/deciding.py).
                    "resource": notify.communication(patient, about, kind, text, _sender(request, patient)),
                    "request": {"method": "POST", "url": "Communication"},
                }
            )
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": entries}
    answer = _ask(service, request, FhirRequest("transaction", body=bundle))
    written = ((answer.resource or {}).get("entry") or [{}])[0].get("resource")
    if not isinstance(written, dict):
        raise FhirError("The booking was written but its Appointment could not be read back")
    return written


def _sender(request: FhirRequest, patient: str) -> dict[str, Any] | None:
    return {"reference": patient} if _is_patient(request) else None


def message(kind: str, appointment: dict[str, Any]) -> str:
    """What the patient reads, in Danish (the language of the region's patients)."""
    start = moment(appointment.get("start"))
    when = format_datetime(start.astimezone(COPENHAGEN), "EEEE d. MMMM y 'kl.' HH:mm", locale="da") if start else ""
    where = next(
        (
            display
            for p in appointment.get("participant") or []
            if ((p.get("actor") or {}).get("reference") or "").startswith("Location/")
            and (display := (p.get("actor") or {}).get("display"))
        ),
        "",
    )
    place = f", {where}" if where else ""
    if kind == "cancelled":
        reason = appointment.get("cancelationReason") or {}
        why = reason.get("text") or next((c.get("display") for c in reason.get("coding") or [] if c.get("display")), "")
        because = f" Årsag: {why}." if why else ""
        return f"Din tid {when}{place} er aflyst.{because} Du får besked om en ny tid."
    if kind == "moved":
        return f"Din tid er flyttet til {when}{place}."
    return f"Du har fået en tid {when}{place}."


# $waiting-list


def waiting_list(service: FhirService, request: FhirRequest, asked: dict[str, list[Any]]) -> list[dict[str, Any]]:
    """Waiting appointments by priority (1, the most urgent, first), then the longest waiting."""
    criteria = [("status", "waitlist"), ("_count", str(MOST_WAITING))]
    if asked.get("location"):
        criteria.append(("location", ",".join(_reference(v, "Location") for v in asked["location"])))
    kinds = [str(v) for name in ("visit-type", "service-type") for v in asked.get(name, [])]
    if kinds:
        criteria.append(("service-type", ",".join(kinds)))
    waiting = _search(service, request, "Appointment", criteria)

    def order(appointment: dict[str, Any]) -> tuple[int, str]:
        priority = appointment.get("priority")
        return (
            priority if isinstance(priority, int) and priority > 0 else 9,
            str(appointment.get("created") or "9999"),
        )

    return sorted(waiting, key=order)


# The parts.


def _ask(service: FhirService, outer: FhirRequest, asking: FhirRequest) -> FhirResponse:
    """A sub-request through the core as the operation's caller (the access rule applies); a
    transaction's refusal is given in its own words, without the entry's number."""
    asking.principal, asking.address, asking.purpose, asking.base = (
        outer.principal,
        outer.address,
        outer.purpose,
        outer.base,
    )
    try:
        return service.handle(asking)
    except FhirError as error:
        error.message = _ENTRY.sub("", error.message)
        for issue in error.issues:
            issue.diagnostics = _ENTRY.sub("", issue.diagnostics)
        error.args = (error.message,)
        raise


def _search(
    service: FhirService, request: FhirRequest, res_type: str, params: list[tuple[str, str]]
) -> list[dict[str, Any]]:

    # No total: the operations read the matches only, and counting every match costs a second pass.
    asked = [*params, ("_total", "none")] if not any(name == "_total" for name, _ in params) else params
    answer = _ask(service, request, FhirRequest("search", res_type, params=asked, prefer_handling="strict"))
    bundle = jsontext.loads(jsontext.dumps(answer.resource or {}))
    return [
        entry["resource"]
        for entry in bundle.get("entry", [])
        if (entry.get("search") or {}).get("mode", "match") == "match" and isinstance(entry.get("resource"), dict)
    ]


def _read_versioned(service: FhirService, request: FhirRequest, key: str) -> tuple[dict[str, Any], str | None]:

    res_type, _, res_id = key.partition("/")
    try:
        answer = _ask(service, request, FhirRequest("read", res_type, id=res_id))
    except NotFound as error:
        raise Unprocessable(f"{key} does not exist") from error
    resource = jsontext.loads(answer.raw) if answer.raw is not None else dict(answer.resource or {})
    version = answer.version_id if answer.version_id is not None else (resource.get("meta") or {}).get("versionId")
    return resource, str(version) if version is not None else None


def _read(service: FhirService, request: FhirRequest, key: str) -> dict[str, Any]:
    return _read_versioned(service, request, key)[0]


def _parameters(request: FhirRequest) -> dict[str, list[Any]]:
    """The operation's parameters by name, from the query and a Parameters body."""
    asked: dict[str, list[Any]] = {}
    for name, given in request.params:
        asked.setdefault(name, []).extend(v for v in given.split(",") if v)
    body = request.body
    if body is None:
        return _known(request, asked)
    if not isinstance(body, dict) or body.get("resourceType") != "Parameters":
        raise BadRequest(f"{request.operation} takes a Parameters resource")
    for parameter in body.get("parameter") or []:
        if not isinstance(parameter, dict) or not isinstance(parameter.get("name"), str):
            raise BadRequest("Each parameter needs a name")
        value: Any = parameter.get("resource")
        if value is None:
            value = next((v for k, v in parameter.items() if k.startswith("value")), None)
        if isinstance(value, dict) and "reference" in value and "resourceType" not in value:
            value = value["reference"]
        elif isinstance(value, dict) and ("code" in value or "coding" in value) and "resourceType" not in value:
            coding = value if "code" in value else (value.get("coding") or [{}])[0]
            value = (
                f"{coding.get('system', '')}|{coding.get('code', '')}" if coding.get("system") else coding.get("code")
            )
        if value is not None:
            asked.setdefault(parameter["name"], []).append(value)
    return _known(request, asked)


def _known(request: FhirRequest, asked: dict[str, list[Any]]) -> dict[str, list[Any]]:
    """`asked` under Lifeline's names; an unknown parameter is a clear 400."""
    known: dict[str, list[Any]] = {}
    for name, values in asked.items():
        known.setdefault(IHE_NAMES.get(name, name), []).extend(values)
    takes = TAKES.get(request.operation or "", frozenset())
    unknown = sorted(
        name for name in asked if IHE_NAMES.get(name, name) not in takes and not name.startswith("_format")
    )
    if unknown:
        raise BadRequest(f"{request.operation} does not take {', '.join(unknown)}; it takes {', '.join(sorted(takes))}")
    return known


def _one(asked: dict[str, list[Any]], name: str) -> Any:
    values = asked.get(name) or []
    if len(values) > 1:
        raise BadRequest(f"Give {name} once")
    return values[0] if values else None


def _reference(value: Any, res_type: str | None = None) -> str:
    """`Type/id` of a reference (relative or absolute); a bare id is of `res_type`."""
    text = str(value or "").strip()
    if res_type is not None and text and "/" not in text:
        text = f"{res_type}/{text}"
    parts = text.split("/")
    if len(parts) < 2 or not parts[-1] or not parts[-2] or (res_type is not None and parts[-2] != res_type):
        raise BadRequest(f"{value!r} is not a reference to a {res_type or 'resource'} (Type/id)")
    return f"{parts[-2]}/{parts[-1]}"


def _window(service: FhirService, start: Any, end: Any) -> tuple[datetime, datetime]:
    first = _when(start, "start") or datetime.combine(today(service.clock), time(), COPENHAGEN)
    last = _when(end, "end", end_of_day=True) or first + timedelta(days=FIND_DAYS)
    if last <= first:
        raise BadRequest("end must be after start")
    if last - first > timedelta(days=366):
        raise BadRequest("Look for free times in at most a year at once")
    return first, last


def _when(value: Any, name: str, *, end_of_day: bool = False) -> datetime | None:
    if value is None or value == "":
        return None
    text = str(value)
    try:
        if "T" not in text:
            day = date.fromisoformat(text) + (timedelta(days=1) if end_of_day else timedelta())
            return datetime.combine(day, time(), COPENHAGEN)
        parsed = datetime.fromisoformat(text)
    except ValueError as error:
        raise BadRequest(f"{name} must be a date (2026-12-01) or a dateTime, not {text!r}") from error
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=COPENHAGEN)


def _count(value: Any) -> int:
    if value is None:
        return 50
    try:
        count = int(value)
    except (TypeError, ValueError) as error:
        raise BadRequest(f"_count must be a whole number, not {value!r}") from error
    if count < 1:
        raise BadRequest("_count must be at least 1")
    return count


def _bundle(resources: list[dict[str, Any]], kind: str) -> FhirResponse:
    entries = [
        {"fullUrl": f"Appointment/{r['id']}" if r.get("id") else f"urn:uuid:{uuid.uuid4()}", "resource": r}
        for r in resources
    ]
    if kind == "searchset":
        for entry in entries:
            entry["search"] = {"mode": "match"}
        return FhirResponse(
            200, resource={"resourceType": "Bundle", "type": kind, "total": len(entries), "entry": entries}
        )
    return FhirResponse(200, resource={"resourceType": "Bundle", "type": kind, "entry": entries})
