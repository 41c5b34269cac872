"""`/theatres`: the theatre board (issue 24), a day's operations in the theatres of a site.

GET shows the plan (logistics/theatres.py) for `?day=YYYY-MM-DD&site=<Location id>` (today and the
first site by default): one row per theatre on a 07-23 time axis, each case a block as long as it
lasts, coloured by priority and saying it in words too, conflicts outlined and said; under it each
case with its patient, surgeon, anaesthetist, checklist and state, and its forms: move it (time,
theatre), mark it started or finished, mark the checklist done. The timeline is an inline SVG
(the Content-Security-Policy forbids style attributes, not SVG geometry), so the page works with no
script; on a phone the list alone is shown.

POST to the same address does one action for one case, with the session's CSRF token: a problem in
the form, or the record's refusal (a taken theatre, a surgeon elsewhere, outside the day, changed
by someone else meanwhile), is shown beside that case's form with nothing written (400, 409, 412,
422); else a redirect back to the plan at that case (POST-redirect-GET). Every read and write is
the core's, as the person.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlencode

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from lifeline.access.errors import Withheld
from lifeline.clock import today
from lifeline.errors import Conflict, FhirError, PreconditionFailed, StorageUnavailable
from lifeline.fhir.acting import Acting
from lifeline.logistics import theatre_actions as actions
from lifeline.logistics import theatres as plans
from lifeline.web.login import WebLogin, csrf_refused, form_text, threaded
from lifeline.web.pages import acting, answered, page
from lifeline.web.pages.chart import header
from lifeline.web.pages.chart.page import language

PATH = "/theatres"
TEMPLATE = "theatre_board.html"
ACTIONS = ("move", "start", "finish", "checklist")
DAY_MINUTES = (plans.DAY_CLOSES.hour - plans.DAY_OPENS.hour) * 60
_TIME = re.compile(r"([01]\d|2[0-3]):([0-5]\d)")
_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")
_ENTRY = re.compile(r"^Entry \d+(?: \([^)]*\))?: ")  # the transaction's own words: which entry failed


def routes(web: WebLogin) -> list[Route]:
    service = web.service

    def data(request: Request) -> dict[str, Any]:
        day, site = (
            _chosen(request.query_params.get("day", ""), today(service.clock)),
            request.query_params.get("site", ""),
        )
        done = {
            "case": request.query_params.get("done", "")[:64],
            "action": request.query_params.get("action", "")[:16],
        }
        values = board(acting(service, request), day, site[:64], today(service.clock), language(),
                       practitioner=_practitioner(request), done=done)  # fmt: skip
        return {**values, "csrf": request.user.csrf}

    def acted(request: Request, form: FormData | None) -> Response:
        if web.checked(request, form) is None or form is None:
            return csrf_refused()
        core = acting(service, request)
        day, site = _chosen(form_text(form, "day"), today(service.clock)), form_text(form, "site")[:64]
        case_id, action = form_text(form, "case"), form_text(form, "action")
        problem: dict[str, str] = {}
        status = 400
        if not _ID.fullmatch(case_id) or action not in ACTIONS:
            problem = {"field": "form", "code": "unknown"}
        else:
            try:
                problem = act(core, action, case_id, form, day, service.clock())
            except (StorageUnavailable, Withheld):
                raise
            except (Conflict, PreconditionFailed) as error:  # the version the form was made from is gone
                problem, status = {"field": "form", "code": "stale"}, error.status
            except FhirError as error:
                problem, status = (
                    {"field": "form", "code": "refused", "message": _ENTRY.sub("", str(error))},
                    error.status,
                )
        if problem and action == "move":  # the form again as it was filled in, to adjust
            problem |= {"time": form_text(form, "time")[:5], "theatre": form_text(form, "theatre")[:64]}
        if problem:
            values = board(core, day, site, today(service.clock), language(), practitioner=_practitioner(request),
                           problem={"case": case_id, **problem})  # fmt: skip
            values["csrf"] = request.user.csrf
            return answered(request, TEMPLATE, status, values)
        query = urlencode({"day": day.isoformat(), "site": site, "done": case_id, "action": action})
        # After a move the timeline shows where the case went; after the others, the case itself.
        return RedirectResponse(f"{PATH}?{query}" + ("" if action == "move" else f"#case-{case_id}"), 303)

    return [
        Route(PATH, page(TEMPLATE, data), methods=["GET"]),
        Route(PATH, threaded(acted), methods=["POST"]),
    ]


def act(core: Acting, action: str, case_id: str, form: FormData, day: date, now: datetime) -> dict[str, str]:
    """Do `action` for the case; a problem with the form (field, code), or {} when done."""
    version = form_text(form, "version")[:16]
    if action == "start":
        actions.mark_started(core, case_id, version, now)
    elif action == "finish":
        actions.mark_finished(core, case_id, version, now)
    elif action == "checklist":
        actions.mark_checklist_done(core, case_id, now)
    else:
        matched = _TIME.fullmatch(form_text(form, "time").strip())
        if matched is None:
            return {"field": "time", "code": "format"}
        theatre = next((t for t in plans.theatres_of(core) if t.id == form_text(form, "theatre")), None)
        if theatre is None:
            return {"field": "theatre", "code": "unknown"}
        minutes = _minutes(form_text(form, "minutes"))
        start = time(int(matched[1]), int(matched[2]))
        if minutes and not plans.within_day(start, minutes):
            return {"field": "time", "code": "outside-day"}
        actions.move(core, case_id, version, day, start, theatre)
    return {}


def board(core: Acting, day: date, site: str, today_: date, language_: str, *, practitioner: str | None = None,
          problem: dict[str, str] | None = None, done: dict[str, str] | None = None) -> dict[str, Any]:  # fmt: skip
    """What the page shows: the day's plan for the site, with the timeline's geometry."""
    plan = plans.plan(core, day, site, practitioner)
    names = {t.id: t.name for t in plan.theatres}
    cases = [_case(c, names, today_, language_) for c in plan.cases]
    lanes = []
    for theatre in plan.theatres:
        lane = [c for c in cases if c["theatre"] == theatre.id]
        taken = [{"x": _x(s), "width": _width(s, e), "time": f"{s:%H:%M}-{e:%H:%M}"}
                 for t, s, e in plan.occupied if t == theatre.id]  # fmt: skip
        lanes.append({"id": theatre.id, "name": theatre.name, "cases": lane, "taken": taken})
    return {
        "day": day.isoformat(),
        "today": day == today_,
        "previous": (day - timedelta(days=1)).isoformat(),
        "next": (day + timedelta(days=1)).isoformat(),
        "site": plan.site,
        "sites": [{"id": s, "name": n} for s, n in plan.sites],
        "theatres": [{"id": t.id, "name": t.name} for t in plan.theatres],
        "lanes": lanes,
        "cases": cases,
        "conflicts": sum(1 for c in cases if c["conflicts"]),
        "hours": [
            {"label": f"{h:02d}", "x": round((h - plans.DAY_OPENS.hour) * 6000 / DAY_MINUTES, 3)}
            for h in range(plans.DAY_OPENS.hour, plans.DAY_CLOSES.hour + 1)
        ],  # fmt: skip
        "problem": problem or {},
        "done": done or {},
    }


def _case(case: plans.Case, names: dict[str, str], today_: date, language_: str) -> dict[str, Any]:
    patient = header.person(case.patient, today_, language_) if case.patient else None
    return {
        "id": case.id, "version": case.version, "theatre": case.theatre, "theatreName": names.get(case.theatre, ""),
        "start": f"{case.start:%H:%M}", "end": f"{case.end:%H:%M}", "minutes": case.minutes,
        "status": case.status, "state": case.state, "priority": case.priority, "procedure": case.procedure,
        "patient": None if patient is None else {"id": patient["id"], "name": patient["name"], "cpr": patient["cpr"],
                                                 "href": f"/patients/{patient['id']}"},
        "surgeon": case.surgeon, "anaesthetist": case.anaesthetist, "checklist": case.checklist,
        "conflicts": case.conflicts, "x": _x(case.start), "width": _width(case.start, case.end),
    }  # fmt: skip


def _x(moment: datetime) -> float:
    """Where `moment` lies on the 07-23 axis, in percent (clamped to the axis)."""
    minutes = (moment.hour - plans.DAY_OPENS.hour) * 60 + moment.minute
    return round(min(max(minutes, 0), DAY_MINUTES) * 100 / DAY_MINUTES, 3)


def _width(start: datetime, end: datetime) -> float:
    ends = _x(end) if end.date() == start.date() else 100.0
    return round(max(ends - _x(start), 0.4), 3)


def _practitioner(request: Request) -> str | None:
    return (request.user.fhir_user or "").removeprefix("Practitioner/") or None


def _minutes(text: str) -> int:
    return int(text) if text.isdecimal() and len(text) < 5 else 0


def _chosen(text: str, default: date) -> date:
    try:
        return date.fromisoformat(text) if text else default
    except ValueError:
        return default
