"""`/logistics/reduce` and `/logistics/rebook`: down to emergencies only, and back (issue 24).

- `/logistics/reduce` chooses a hospital or department and a period, then shows the proposal
  (logistics/reduce.py: a draft Task) grouped by clinical priority with counts: tick the cases to
  keep, give the reason the patients will read, save; undo one step at a time; confirm with the
  summary of what will be cancelled and who will be told. Confirming with ticks not yet saved
  saves them and asks again, so what is confirmed is always what was shown.
- `/logistics/rebook` shows the rebooking proposal after the period (logistics/rebook.py): who gets
  which freed time, in order of priority and waiting; a secretary books one, or all shown.

Who may: any staff member sees both pages (the access rule decides which patients they see); only
a lead, a staff login with the extra role `lead` (head of a department or of a hospital) or
`administrator`, may make, change or confirm a reduction (LEAD_ROLES); any staff member may book
from the rebooking proposal, as secretaries do. Every read and write is the core's, as the person
(`acting`). Post, then redirect (303), so a reload sends nothing again; a problem is shown beside
its field, a refusal at the top, with nothing written.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from babel.dates import format_date, format_datetime
from starlette.datastructures import FormData, QueryParams
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from lifeline.clock import COPENHAGEN, today
from lifeline.errors import FhirError, Forbidden, StorageUnavailable
from lifeline.fhir.acting import Acting
from lifeline.fhir.found import searched
from lifeline.logistics import rebook, reduce
from lifeline.logistics.cases import LEVELS, Case, local
from lifeline.web.layout import NO_STORE, PageUser, render
from lifeline.web.login import WebLogin, csrf_refused, form_text, threaded
from lifeline.web.pages import acting, page
from lifeline.web.pages.chart.page import language

REDUCE = "/logistics/reduce"
REBOOK = "/logistics/rebook"
LEAD_ROLES = ("lead", "administrator")
DEFAULT_DAYS = 7
# With the weekday: at night, "which Monday" is the question.
MOMENT = {"da": "EEE dd.MM.yyyy HH:mm", "en": "EEE d MMM yyyy, HH:mm"}
DAY = {"da": "EEEE dd.MM.yyyy", "en": "EEEE d MMM yyyy"}
REFUSED = "Only a lead may reduce to acute care: a staff login with the role lead or administrator."


def may_lead(user: PageUser) -> bool:
    return any(role in user.roles for role in LEAD_ROLES)


def routes(web: WebLogin) -> list[Route]:
    service = web.service

    def reduce_data(request: Request) -> dict[str, Any]:
        return reduce_page(acting(service, request), request.query_params, request.user, service.clock())

    def rebook_data(request: Request) -> dict[str, Any]:
        return rebook_page(acting(service, request), request.query_params, request.user, service.clock())

    def again(request: Request, template: str, status: int, values: dict[str, Any]) -> Response:
        return render(template, status, NO_STORE, **values)

    def reduce_posted(request: Request, form: FormData | None) -> Response:
        user: PageUser = request.user
        if not may_lead(user):
            raise Forbidden(REFUSED)
        if web.checked(request, form) is None or form is None:
            return csrf_refused()
        core, now = acting(service, request), service.clock()
        do, task_id, version = form_text(form, "do"), form_text(form, "proposal"), form_text(form, "version")
        chosen = {"org": form_text(form, "org"), "first": form_text(form, "first"), "last": form_text(form, "last")}
        try:
            if do == "propose":
                problems, first, last = _period(chosen, today(service.clock))
                if problems:
                    values = reduce_page(core, QueryParams(chosen), user, now)
                    return again(request, "reduce.html", 400, {**values, "problems": problems})
                assert first is not None and last is not None
                made = reduce.propose(core, chosen["org"], first, last, user.fhir_user, now)
                return _to(REDUCE, proposal=made)
            if not task_id:
                values = reduce_page(core, QueryParams(chosen), user, now)
                return again(request, "reduce.html", 400, {**values, "refusal": "Choose a proposal first."})
            kept = {str(v) for v in form.getlist("keep") if isinstance(v, str)}
            reason = form_text(form, "reason")
            if len(" ".join(reason.split())) > reduce.REASON_MOST:
                values = reduce_page(core, QueryParams({"proposal": task_id}), user, now)
                values["proposal"]["reason"] = reason
                return again(request, "reduce.html", 400, {**values, "problems": {"reason": "too-long"}})
            if do == "save":
                reduce.decide(core, task_id, version, kept, reason, now)
                return _to(REDUCE, proposal=task_id, done="saved")
            if do == "undo":
                undone = reduce.undo(core, task_id, version, now)
                return _to(REDUCE, proposal=task_id, done="undone" if undone else "nothing-to-undo")
            if do == "discard":
                reduce.discard(core, task_id, version, now)
                return _to(REDUCE, done="discarded")
            if do == "confirm":
                current = reduce.read(core, task_id)
                stored_kept = {ref for ref, d in current.decisions.items() if d == "keep"}
                stored_reason = current.reason if current.reason != reduce.DOWNTIME_REASON else ""
                if current.editable and (kept != stored_kept or " ".join(reason.split()) != stored_reason):
                    reduce.decide(core, task_id, version, kept, reason, now)
                    return _to(REDUCE, proposal=task_id, done="check")
                confirmed = reduce.confirm(core, task_id, version, now)
                return _to(REDUCE, proposal=task_id, done="already" if confirmed.already else "confirmed")
            values = reduce_page(core, QueryParams({"proposal": task_id}), user, now)
            return again(request, "reduce.html", 400, {**values, "refusal": "Choose what to do."})
        except StorageUnavailable:
            raise
        except FhirError as error:
            values = reduce_page(core, QueryParams({"proposal": task_id} if task_id else chosen), user, now)
            return again(request, "reduce.html", error.status, {**values, "refusal": error.message})

    def rebook_posted(request: Request, form: FormData | None) -> Response:
        if web.checked(request, form) is None or form is None:
            return csrf_refused()
        core, now, org = acting(service, request), service.clock(), form_text(form, "org")
        pairs = [str(v).split("|", 1) for v in form.getlist("book") if isinstance(v, str) and "|" in v]
        if not pairs:
            values = rebook_page(core, QueryParams({"org": org}), request.user, now)
            return again(request, "rebook.html", 400, {**values, "refusal": "Choose a case to book."})
        booked = 0
        try:
            for appointment, slot in pairs:
                booked += rebook.book(core, appointment, slot, org or None)
        except StorageUnavailable:
            raise
        except FhirError as error:
            values = rebook_page(core, QueryParams({"org": org}), request.user, now)
            values["booked"] = booked
            return again(request, "rebook.html", error.status, {**values, "refusal": error.message})
        return _to(REBOOK, org=org, done="booked", count=str(booked))

    return [
        Route(REDUCE, page("reduce.html", reduce_data), methods=["GET"]),
        Route(REDUCE, threaded(reduce_posted), methods=["POST"]),
        Route(REBOOK, page("rebook.html", rebook_data), methods=["GET"]),
        Route(REBOOK, threaded(rebook_posted), methods=["POST"]),
    ]


def reduce_page(core: Acting, params: QueryParams, user: PageUser, now: datetime) -> dict[str, Any]:
    """What `/logistics/reduce` shows: the choice of place and period, and the proposal if one is
    named (`proposal`)."""
    day = now.astimezone(COPENHAGEN).date()
    values: dict[str, Any] = {
        "mayLead": may_lead(user),
        "organizations": organizations(core),
        "chosen": {
            "org": params.get("org", ""),
            "first": params.get("first") or day.isoformat(),
            "last": params.get("last") or (day + timedelta(days=DEFAULT_DAYS - 1)).isoformat(),
        },
        "done": params.get("done"),
        "problems": {},
        "refusal": "",
        "proposal": None,
        "csrf": user.csrf,
    }
    task_id = params.get("proposal")
    if task_id:
        values["proposal"] = shown_proposal(reduce.read(core, task_id), day, language())
        org = values["chosen"]["org"] = values["proposal"]["organization"]
        names = {o["ref"]: o["name"] for h in values["organizations"] for o in [h, *h["departments"]]}
        values["proposal"]["organizationName"] = names.get(org, org)
    return values


def shown_proposal(proposal: reduce.Proposal, day: date, lang: str = "en") -> dict[str, Any]:
    groups = {level: [] for level in LEVELS}  # type: dict[str, list[dict[str, Any]]]
    for case in proposal.cases:
        groups[case.level].append({**row(case, day, lang), "decision": proposal.decisions.get(case.appointment)})
    cancelling = [c for c in proposal.cases if proposal.decisions.get(c.appointment) == "cancel"]
    operations = sum(c.operation for c in cancelling)
    start, end = local(proposal.start), local(proposal.end)
    return {
        "id": proposal.id,
        "version": proposal.version,
        "status": proposal.status,
        "editable": proposal.editable,
        "step": proposal.step,
        "organization": proposal.organization,
        "first": _day(start.date(), lang) if start else "",
        "last": _day((end - timedelta(days=1)).date(), lang) if end else "",
        "reason": proposal.reason if proposal.reason != reduce.DOWNTIME_REASON else "",
        "defaultReason": reduce.DOWNTIME_REASON,
        "groups": [
            {"level": level, "cases": rows, "count": len(rows), "cancel": sum(r["decision"] == "cancel" for r in rows)}
            for level, rows in groups.items()
        ],  # fmt: skip
        "summary": {
            "operations": operations,
            "appointments": len(cancelling) - operations,
            "patients": len({c.patient for c in cancelling}),
            "kept": len(proposal.cases) - len(cancelling),
        },
        "cancelled": len([ref for ref, waiting in proposal.done.items() if waiting]),
    }


def rebook_page(core: Acting, params: QueryParams, user: PageUser, now: datetime) -> dict[str, Any]:
    """What `/logistics/rebook` shows: for the chosen place, who gets which freed time."""
    day, lang = now.astimezone(COPENHAGEN).date(), language()
    org = params.get("org", "")
    values: dict[str, Any] = {
        "organizations": organizations(core),
        "chosen": {"org": org},
        "done": params.get("done"),
        "count": params.get("count"),
        "refusal": "",
        "offers": [],
        "unplaced": [],
        "booked": 0,
        "csrf": user.csrf,
    }
    if org.startswith("Organization/"):
        found = rebook.proposal(core, org, now)
        values["offers"] = [
            {
                **row(o.case, day, lang),
                "newTime": _when(o.start, lang),
                "slot": o.slot,
                "book": f"{o.case.appointment}|{o.slot}",
            }
            for o in found.offers
        ]
        values["unplaced"] = [row(c, day, lang) for c in found.unplaced]
    return values


def row(case: Case, day: date, lang: str) -> dict[str, Any]:
    patient_id = case.patient.removeprefix("Patient/")
    return {
        "appointment": case.appointment,
        "id": case.appointment.removeprefix("Appointment/"),
        "patient": case.name or patient_id,
        "href": f"/patients/{patient_id}",
        "time": _when(case.start, lang),
        "what": case.what,
        "place": case.place,
        "level": case.level,
        "operation": case.operation,
        "waited": case.waiting_days(day),
    }


def organizations(core: Acting) -> list[dict[str, Any]]:
    """The hospitals with their departments, by name, to choose from."""
    found = searched(core, "Organization", [("_count", "1000"), ("active", "true")]).matches
    by_ref = {f"Organization/{o['id']}": o for o in found if o.get("resourceType") == "Organization"}
    children: dict[str, list[dict[str, str]]] = {}
    for ref, org in by_ref.items():
        parent = (org.get("partOf") or {}).get("reference")
        if parent in by_ref:
            children.setdefault(parent, []).append({"ref": ref, "name": str(org.get("name") or ref)})
    # A hospital is the parent of departments; a region, the parent of hospitals, is not listed.
    hospitals = [ref for ref in children if not all(c["ref"] in children for c in children[ref])]
    listed: list[dict[str, Any]] = [
        {"ref": ref, "name": str(by_ref[ref].get("name") or ref),
         "departments": sorted(children[ref], key=lambda c: c["name"])}
        for ref in hospitals
    ]  # fmt: skip
    return sorted(listed, key=lambda h: str(h["name"]))


def _period(chosen: dict[str, str], day: date) -> tuple[dict[str, str], date | None, date | None]:
    problems: dict[str, str] = {}
    if not chosen["org"].startswith("Organization/"):
        problems["org"] = "choose"
    first = _date(chosen["first"])
    last = _date(chosen["last"])
    if first is None:
        problems["first"] = "not-a-date"
    elif first < day:
        problems["first"] = "past"
    if last is None:
        problems["last"] = "not-a-date"
    elif first is not None and last < first:
        problems["last"] = "before-first"
    elif first is not None and (last - first).days > 92:
        problems["last"] = "too-long"
    return problems, first, last


def _date(text: str) -> date | None:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        return None


def _when(value: str | None, lang: str) -> str:
    moment = local(value)
    return str(format_datetime(moment, MOMENT.get(lang, MOMENT["en"]), locale=lang)) if moment else ""


def _day(value: date, lang: str) -> str:
    return str(format_date(value, DAY.get(lang, DAY["en"]), locale=lang))


def _to(path: str, **query: str) -> Response:
    return RedirectResponse(f"{path}?{urlencode(query)}" if query else path, 303)
