"""`/clinics/book`: finding a free time and booking it (issue 24, "Outpatient scheduling"); moving
or cancelling an appointment (`?appointment=<id>`), and booking from the clinic's waiting list.

The page holds no rules: it asks the core's scheduling operations as the person
(fhir/interactions/scheduling.py): `$find` for the free times of a clinic in a date range,
`$book` to book (the slot busy, the Appointment booked and the patient's message, in one
transaction), to move (a new slot, the old freed) and to cancel (with a reason, the slot freed),
and `$waiting-list`. The patient is found by CPR number through the core (the access rule
applies). A refusal of the record's rules (a slot taken meanwhile, the patient booked at that time,
a day passed) is shown beside the form, and nothing is written.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date, timedelta
from typing import Any
from urllib.parse import urlencode

import orjson
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from lifeline import jsontext
from lifeline.access.errors import Withheld
from lifeline.clock import today
from lifeline.cpr import CPR_SYSTEM, is_valid_cpr
from lifeline.errors import FhirError, NotFound, StorageUnavailable
from lifeline.fhir.acting import Acting
from lifeline.fhir.found import searched
from lifeline.fhir.request import FhirRequest
from lifeline.web.login import WebLogin, csrf_refused, form_text, threaded
from lifeline.web.pages import acting, answered, page
from lifeline.web.pages.chart import header, words
from lifeline.web.pages.chart.page import language
from lifeline.web.pages.clinic_list import PATH as LIST_PATH
from lifeline.web.pages.clinic_list import appointment_row, clinics, day_asked, own_clinic

PATH = "/clinics/book"
CANCEL_PATH = "/clinics/cancel"
TEMPLATE = "booking.html"
SEARCH_DAYS = 7  # the free times of a week unless asked otherwise
LONGEST_SEARCH = 92
MOST_FREE = 60
MOST_WAITING = 30
MOST_TEXT = 500
ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")


def parameters(**values: Any) -> dict[str, Any]:
    """An operation's Parameters: a resource, a reference (Type/id) or a string each."""
    found = []
    for name, value in values.items():
        if isinstance(value, dict):
            found.append({"name": name.replace("_", "-"), "resource": value})
        else:
            found.append({"name": name.replace("_", "-"), "valueString": str(value)})
    return {"resourceType": "Parameters", "parameter": found}


def operation(
    core: Acting, name: str, params: list[tuple[str, str]] | None = None, body: Any = None
) -> list[dict[str, Any]]:
    """An Appointment operation's Bundle, as its resources."""
    asking = FhirRequest("operation", "Appointment", operation=name, params=params or [], body=body)
    answered = core.handle(asking)
    bundle = orjson.loads(jsontext.dumps(answered.resource or {}))
    return [e["resource"] for e in bundle.get("entry", []) if isinstance(e.get("resource"), dict)]


def free_times(
    core: Acting, clinic: str, first: date, last: date, service_type: str, language_: str
) -> list[dict[str, Any]]:
    """The clinic's free times from `first` to `last` (whole days), earliest first, by day."""
    params = [("location", f"Location/{clinic}"), ("start", first.isoformat()), ("end", last.isoformat()),
              ("_count", str(MOST_FREE))]  # fmt: skip
    if service_type:
        params.append(("service-type", service_type))
    found = operation(core, "$find", params)
    return [
        {**appointment_row(proposed, {}, first, language_), "slot": proposed["slot"][0]["reference"].partition("/")[2],
         "dayText": words.when(proposed.get("start"), language_, day=True)}
        for proposed in found
    ]  # fmt: skip


def patient_by_cpr(core: Acting, cpr: str) -> dict[str, Any] | None:
    """The one patient with this CPR number whom the person may see, or None."""
    found = searched(core, "Patient", [("identifier", f"{CPR_SYSTEM}|{cpr}"), ("_count", "2")]).matches
    found = [p for p in found if p.get("resourceType") == "Patient"]  # not the note that others are withheld
    return found[0] if len(found) == 1 else None


def taking_part(appointment: dict[str, Any], res_type: str) -> str:
    """The first participant of `res_type` (its Type/id), or ""."""
    for participant in appointment.get("participant") or []:
        reference = (participant.get("actor") or {}).get("reference") or ""
        if reference.startswith(f"{res_type}/"):
            return str(reference)
    return ""


def taker(reference: str, display: str | None) -> dict[str, Any]:
    actor = {"reference": reference, **({"display": display} if display else {})}
    return {"actor": actor, "required": "required", "status": "accepted"}


def read(core: Acting, res_type: str, res_id: str) -> dict[str, Any]:
    answered = core.handle(FhirRequest("read", res_type, id=res_id))
    resource = orjson.loads(answered.raw) if answered.raw is not None else dict(answered.resource or {})
    return dict(resource)


def routes(web: WebLogin) -> list[Route]:
    service = web.service

    def shown(request: Request, asked: Mapping[str, Any], problems: dict[str, str] | None = None,
              refusal: str = "") -> dict[str, Any]:  # fmt: skip
        """The page for `asked` (the query, or the posted form) with a form's problems."""
        core, lang, now = acting(service, request), language(), today(service.clock)
        found = dict(problems or {})
        choices = clinics(core)
        clinic = str(asked.get("clinic") or "")
        if clinic and not any(c["id"] == clinic for c in choices):
            found["clinic"] = "unknown"
            clinic = ""
        first, problem = day_asked(str(asked.get("from") or ""), now)
        if problem:
            found["from"] = problem
        last, problem = day_asked(str(asked.get("to") or ""), first + timedelta(days=SEARCH_DAYS - 1))
        if problem:
            found["to"] = problem
        if first < now:
            found.setdefault("from", "past")
            first = now
        if last < first:
            found.setdefault("to", "before")
            last = first + timedelta(days=SEARCH_DAYS - 1)
        if (last - first).days >= LONGEST_SEARCH:
            found.setdefault("to", "far")
            last = first + timedelta(days=LONGEST_SEARCH - 1)
        service_type = str(asked.get("service") or "").strip()[:200]
        current = None
        appointment_id = str(asked.get("appointment") or "")
        if appointment_id and ID.fullmatch(appointment_id):
            appointment = read(core, "Appointment", appointment_id)
            included: dict[str, dict[str, Any]] = {}
            patient_ref = taking_part(appointment, "Patient")
            if patient_ref:
                included[patient_ref] = read(core, "Patient", patient_ref.partition("/")[2])
            current = appointment_row(appointment, included, now, lang)
            current["dayText"] = words.when(appointment.get("start"), lang, day=True)
            location = taking_part(appointment, "Location")
            if not clinic and location.partition("/")[2] in {c["id"] for c in choices}:
                clinic = location.partition("/")[2]
        elif appointment_id:
            found["appointment"] = "unknown"
        if not clinic and "clinic" not in asked and current is None:
            practitioner = (request.user.fhir_user or "").removeprefix("Practitioner/") or None
            clinic = own_clinic(core, practitioner, choices) or ""
        free = free_times(core, clinic, first, last, service_type, lang) if clinic else []
        waiting: list[dict[str, Any]] = []
        if clinic and current is None:
            listed = operation(core, "$waiting-list", [("location", f"Location/{clinic}")])[:MOST_WAITING]
            people = {}
            for entry in listed:
                ref = taking_part(entry, "Patient")
                if ref and ref not in people:
                    try:
                        people[ref] = read(core, "Patient", ref.partition("/")[2])
                    except (NotFound, Withheld):
                        continue
            waiting = [{**appointment_row(w, people, now, lang), "since": words.when(w.get("created"), lang, day=True)}
                       for w in listed]  # fmt: skip
        cpr = str(asked.get("cpr") or "").strip()
        return {
            "clinics": choices,
            "clinic": clinic,
            "clinicName": next((c["name"] for c in choices if c["id"] == clinic), None),
            "from": first.isoformat(),
            "to": last.isoformat(),
            "service": service_type,
            "today": now.isoformat(),
            "free": free,
            "waiting": waiting,
            "current": current,
            "cpr": cpr,
            "reason": str(asked.get("reason") or "")[:MOST_TEXT],
            "cancelReason": str(asked.get("cancel_reason") or "")[:MOST_TEXT],
            "slot": str(asked.get("slot") or ""),
            "problems": found,
            "refusal": refusal,
            "most": MOST_TEXT,
            "csrf": request.user.csrf,
        }

    def data(request: Request) -> dict[str, Any]:
        return shown(request, request.query_params)

    def refused(request: Request, form: FormData, status: int, problems: dict[str, str], refusal: str = "") -> Response:
        return answered(request, TEMPLATE, status, shown(request, form, problems, refusal))

    def listed(booked: dict[str, Any], clinic: str) -> Response:
        day = str(booked.get("start") or "")[:10]
        done = str(booked.get("id") or "")
        where = {k: v for k, v in (("clinic", clinic), ("day", day), ("done", done), ("told", "1")) if v}
        return RedirectResponse(f"{LIST_PATH}?{urlencode(where)}#row-{booked.get('id')}", 303)

    def book(request: Request, form: FormData | None) -> Response:
        if web.checked(request, form) is None or form is None:
            return csrf_refused()
        core = acting(service, request)
        slot, clinic = form_text(form, "slot"), form_text(form, "clinic")
        existing = form_text(form, "appointment")
        cpr = form_text(form, "cpr").replace("-", "").replace(" ", "")
        reason = form_text(form, "reason").strip()
        problems: dict[str, str] = {}
        if not ID.fullmatch(slot):
            problems["slot"] = "missing"
        if existing and not ID.fullmatch(existing):
            problems["appointment"] = "unknown"
        if not existing:
            if not cpr:
                problems["cpr"] = "missing"
            elif not cpr.isdecimal() or len(cpr) != 10:
                problems["cpr"] = "format"
            elif not is_valid_cpr(cpr):
                problems["cpr"] = "invalid"
        if len(reason) > MOST_TEXT:
            problems["reason"] = "too-long"
        if problems:
            return refused(request, form, 400, problems)
        try:
            if existing:
                wanted = read(core, "Appointment", existing)
                wanted = {**wanted, "status": "booked", "slot": [{"reference": f"Slot/{slot}"}]}
                for element in ("start", "end", "minutesDuration"):
                    wanted.pop(element, None)  # the new slot's
            else:
                patient = patient_by_cpr(core, cpr)
                if patient is None:
                    return refused(request, form, 400, {"cpr": "unknown"})
                name = next((c["name"] for c in clinics(core) if c["id"] == clinic), "")
                participants = [taker(f"Patient/{patient['id']}", header.name(patient))]
                if clinic:
                    participants.append(taker(f"Location/{clinic}", name))
                wanted = {
                    "resourceType": "Appointment",
                    "status": "proposed",
                    "slot": [{"reference": f"Slot/{slot}"}],
                    "participant": participants,
                    "priority": 5,  # elective (generate/logistics.py PRIORITIES)
                    "description": reason or (f"Ambulant besøg, {name}" if name else "Ambulant besøg"),
                }
            booked = operation(core, "$book", body=parameters(appointment_resource=wanted))
        except (StorageUnavailable, Withheld):
            raise
        except FhirError as error:
            return refused(request, form, error.status, {}, error.message)
        return listed(booked[0] if booked else {}, clinic)

    def cancel(request: Request, form: FormData | None) -> Response:
        if web.checked(request, form) is None or form is None:
            return csrf_refused()
        existing, why = form_text(form, "appointment"), form_text(form, "cancel_reason").strip()
        problems: dict[str, str] = {}
        if not ID.fullmatch(existing):
            problems["appointment"] = "unknown"
        if not why:
            problems["cancel_reason"] = "missing"
        elif len(why) > MOST_TEXT:
            problems["cancel_reason"] = "too-long"
        if problems:
            return refused(request, form, 400, problems)
        core = acting(service, request)
        try:
            current = read(core, "Appointment", existing)
            wanted = {**current, "status": "cancelled", "cancelationReason": {"text": why}}
            cancelled = operation(core, "$book", body=parameters(appointment_resource=wanted))
        except (StorageUnavailable, Withheld):
            raise
        except FhirError as error:
            return refused(request, form, error.status, {}, error.message)
        return listed(cancelled[0] if cancelled else {}, form_text(form, "clinic"))

    return [
        Route(PATH, page(TEMPLATE, data), methods=["GET"]),
        Route(PATH, threaded(book), methods=["POST"]),
        Route(CANCEL_PATH, threaded(cancel), methods=["POST"]),
    ]
