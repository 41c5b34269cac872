"""`/clinics`: a clinic's list for a day (issue 24, "Outpatient scheduling"): today unless another
day is chosen, per clinic or per practitioner. Each row: the time, the patient (a link to the
chart), the reason, the status and whether they have arrived; a booked patient is marked arrived
with one press (POST `/clinics/arrived`: the Appointment's status `arrived`, an update through the
core with If-Match, so a list that was stale is told so and nothing is overwritten).

A clinic is a Location of type OF (outpatient facility, v3 RoleCode) whose Schedule offers its
Slots (generate/organisations.py). Every read and write goes through the core acting as the
person (fhir/acting.py): the access rule decides which patients' appointments they see.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlencode

import orjson
from babel.dates import format_time
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from lifeline.access.errors import Withheld
from lifeline.clock import COPENHAGEN, today
from lifeline.errors import FhirError, StorageUnavailable
from lifeline.fhir.acting import Acting
from lifeline.fhir.found import searched
from lifeline.fhir.request import FhirRequest
from lifeline.web.login import WebLogin, csrf_refused, form_text, threaded
from lifeline.web.pages import acting, answered, page
from lifeline.web.pages.chart import header, words
from lifeline.web.pages.chart.page import language

PATH = "/clinics"
ARRIVED_PATH = "/clinics/arrived"
CLINIC_TYPE = "http://terminology.hl7.org/CodeSystem/v3-RoleCode|OF"
MOST_CLINICS = 500
MOST_ROWS = 200
SHOWN = "proposed,pending,booked,arrived,checked-in,fulfilled,noshow,cancelled"  # not waitlist, not in error
ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")


def clinics(core: Acting) -> list[dict[str, Any]]:
    """The region's clinics, by name: id, name and department (Organization reference)."""
    found = searched(core, "Location", [("type", CLINIC_TYPE), ("_count", str(MOST_CLINICS))]).matches
    shown = [
        {"id": c["id"], "name": c.get("name") or c["id"],
         "department": (c.get("managingOrganization") or {}).get("reference")}
        for c in found
    ]  # fmt: skip
    return sorted(shown, key=lambda c: c["name"])


def own_clinic(core: Acting, practitioner: str | None, choices: list[dict[str, Any]]) -> str | None:
    """The clinic of the person's own department, if they have one: the list they usually want."""
    if practitioner is None:
        return None
    roles = searched(core, "PractitionerRole", [("practitioner", practitioner), ("active", "true")]).matches
    departments = {(r.get("organization") or {}).get("reference") for r in roles}
    return next((c["id"] for c in choices if c["department"] in departments), None)


def day_asked(text: str, default: date) -> tuple[date, str | None]:
    """The day asked for (yyyy-mm-dd), or `default` and the problem `format`."""
    if not text:
        return default, None
    try:
        return date.fromisoformat(text), None
    except ValueError:
        return default, "format"


def clinic_list(
    core: Acting, day: date, clinic: str | None, role: str | None, language_: str, choices: list[dict[str, Any]]
) -> dict[str, Any]:
    """The appointments of `clinic` (a Location id) or of `role` (a PractitionerRole id) on `day`."""
    start = datetime.combine(day, time(), COPENHAGEN)
    rows: list[dict[str, Any]] = []
    more = False
    if clinic or role:
        params = [("date", f"ge{start.isoformat()}"), ("date", f"lt{(start + timedelta(days=1)).isoformat()}"),
                  ("status", SHOWN), ("_include", "Appointment:patient"), ("_sort", "date"),
                  ("_count", str(MOST_ROWS))]  # fmt: skip
        if clinic:
            params.append(("location", f"Location/{clinic}"))
        if role:
            params.append(("actor", f"PractitionerRole/{role}"))
        found = searched(core, "Appointment", params)
        more = found.more
        rows = [
            appointment_row(a, found.included, day, language_)
            for a in found.matches
            if a.get("resourceType") == "Appointment"  # not the note that some are withheld
        ]
    name = next((c["name"] for c in choices if c["id"] == clinic), None)
    return {"rows": rows, "more": more, "clinicName": name}


def appointment_row(
    appointment: dict[str, Any], included: dict[str, dict[str, Any]], day: date, language_: str
) -> dict[str, Any]:
    """One appointment as a secretary reads it."""
    patient_ref = next(
        (ref for p in appointment.get("participant") or []
         if (ref := ((p.get("actor") or {}).get("reference") or "")).startswith("Patient/")),
        "",
    )  # fmt: skip
    patient = included.get(patient_ref)
    person = header.person(patient, day, language_) if patient else None
    start = _moment(appointment.get("start"))
    end = _moment(appointment.get("end"))
    reasons = [words.concept(r) for r in appointment.get("reasonCode") or []]
    what = appointment.get("description") or words.concept((appointment.get("serviceType") or [{}])[0])
    with_ = [
        p["actor"]["display"] for p in appointment.get("participant") or []
        if ((p.get("actor") or {}).get("reference") or "").startswith("PractitionerRole/") and p["actor"].get("display")
    ]  # fmt: skip
    cancelled = appointment.get("cancelationReason") or {}
    return {
        "id": appointment.get("id"),
        "version": (appointment.get("meta") or {}).get("versionId"),
        "time": format_time(start, "HH:mm", locale=language_) if start else "",
        "until": format_time(end, "HH:mm", locale=language_) if end else "",
        "date": start.date().isoformat() if start else "",
        "patient": {
            "id": person["id"],
            "name": person["name"],
            "cpr": person["cpr"],
            "href": f"/patients/{person['id']}",
        }
        if person
        else None,  # fmt: skip
        "reason": "; ".join(r for r in [what, *reasons] if r),
        "status": appointment.get("status"),
        "arrived": appointment.get("status") in ("arrived", "checked-in", "fulfilled"),
        "canArrive": appointment.get("status") == "booked" and start is not None,
        "with": ", ".join(with_),
        "cancelReason": (cancelled.get("text") or words.concept(cancelled)) if cancelled else "",
        "priority": appointment.get("priority"),
    }


def _moment(value: Any) -> datetime | None:
    if not isinstance(value, str) or "T" not in value:
        return None
    try:
        return datetime.fromisoformat(value).astimezone(COPENHAGEN)
    except ValueError:
        return None


def routes(web: WebLogin) -> list[Route]:
    service = web.service

    def shown(
        request: Request, asked: Mapping[str, Any], problems: dict[str, str] | None = None, refusal: str = ""
    ) -> dict[str, Any]:
        """The list asked for (`asked`: the query, or the posted form), with a form's problems."""
        core = acting(service, request)
        day, problem = day_asked(str(asked.get("day") or ""), today(service.clock))
        found = dict(problems or {})
        if problem:
            found["day"] = problem
        choices = clinics(core)
        clinic = str(asked.get("clinic") or "")
        role = str(asked.get("practitioner") or "")
        if clinic and not any(c["id"] == clinic for c in choices):
            found["clinic"] = "unknown"
            clinic = ""
        if role and not ID.fullmatch(role):
            found["practitioner"] = "unknown"
            role = ""
        if not clinic and not role and "clinic" not in asked:
            practitioner = (request.user.fhir_user or "").removeprefix("Practitioner/") or None
            clinic = own_clinic(core, practitioner, choices) or ""
        listed = clinic_list(core, day, clinic or None, role or None, language(), choices)
        return {
            **listed,
            "clinics": choices,
            "clinic": clinic,
            "practitioner": role,
            "day": day.isoformat(),
            "dayText": words.when(day.isoformat(), language(), day=True),
            "previous": (day - timedelta(days=1)).isoformat(),
            "next": (day + timedelta(days=1)).isoformat(),
            "today": today(service.clock).isoformat(),
            "problems": found,
            "refusal": refusal,
            "done": str(asked.get("done") or "")[:64],
            "told": asked.get("told") == "1",  # booked, moved or cancelled: the patient gets a message
            "csrf": request.user.csrf,
        }

    def data(request: Request) -> dict[str, Any]:
        return shown(request, request.query_params)

    def arrived(request: Request, form: FormData | None) -> Response:
        if web.checked(request, form) is None or form is None:
            return csrf_refused()
        appointment_id, version = form_text(form, "appointment"), form_text(form, "version")
        if not ID.fullmatch(appointment_id):
            return answered(request, "clinic_list.html", 400, shown(request, form, {"appointment": "missing"}))
        core = acting(service, request)
        try:
            current = core.handle(FhirRequest("read", "Appointment", id=appointment_id))
            body = orjson.loads(current.raw) if current.raw is not None else dict(current.resource or {})
            if body.get("status") != "booked":
                return answered(request, "clinic_list.html", 409, shown(request, form, {"appointment": "not-booked"}))
            body["status"] = "arrived"
            for participant in body.get("participant") or []:
                if ((participant.get("actor") or {}).get("reference") or "").startswith("Patient/"):
                    participant["status"] = "accepted"
            body.pop("meta", None)
            asking = FhirRequest("update", "Appointment", id=appointment_id, body=body, prefer_return="minimal")
            asking.if_match = f'W/"{version}"' if version.isdecimal() else None
            core.handle(asking)
        except (StorageUnavailable, Withheld):
            raise
        except FhirError as error:
            return answered(request, "clinic_list.html", error.status, shown(request, form, refusal=error.message))
        back = {k: v for k in ("clinic", "day", "practitioner") if (v := form_text(form, k))}
        return RedirectResponse(f"{PATH}?{urlencode({**back, 'done': appointment_id})}#row-{appointment_id}", 303)

    return [
        Route(PATH, page("clinic_list.html", data), methods=["GET"]),
        Route(ARRIVED_PATH, threaded(arrived), methods=["POST"]),
    ]
