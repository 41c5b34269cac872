"""`/wards` and `/wards/{id}`: the bed board of a ward (issue 24, "Beds and patient flow").

`/wards` lets a nurse choose a ward: those of their departments, or every ward of a site.
`/wards/{id}` shows each bed of the ward as a card: who lies in it (name, age, since when, a link
to the chart), or free, being cleaned, blocked; the counts by state; and the ward's census at a
chosen moment (`?at=`, Danish time), read from the stays' location history. Its forms admit a
patient (by CPR number) to a free bed, transfer a patient to a free bed of any of the nurse's
wards, discharge, and mark a bed clean, blocked or unblocked; each is posted to the board and
answered with a redirect (POST-redirect-GET) or, when refused, the board again with the problem
beside its field and nothing changed. Every read and write goes through the core acting as the
nurse (logistics/beds.py); the record's own rule refuses a bed taken meanwhile.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from urllib.parse import urlencode

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from lifeline.access.errors import Withheld
from lifeline.clock import COPENHAGEN
from lifeline.cpr import is_valid_cpr
from lifeline.errors import FhirError, NotFound, StorageUnavailable
from lifeline.fhir.acting import Acting
from lifeline.fhir.found import searched
from lifeline.logistics import beds
from lifeline.web.layout import NO_STORE, render
from lifeline.web.login import WebLogin, csrf_refused, form_text, threaded
from lifeline.web.pages import acting, page
from lifeline.web.pages.chart import form_key, header, words
from lifeline.web.pages.chart.page import language

WARDS, BOARD = "/wards", "/wards/{id}"
ACTIONS = ("admit", "transfer", "discharge", "clean", "block", "unblock")
MOMENT = "%Y-%m-%dT%H:%M"  # a datetime-local field's value
_NUMBERS = re.compile(r"(\d+)")


@dataclass
class Action:
    """A posted form of the board, and what is wrong with it (field -> a problem's name, which the
    template words: `cpr`: missing, format, unknown; `to`: missing, occupied, blocked, cleaning;
    `bed`: unknown; `key`: missing), or the core's refusal in its words."""

    action: str = ""
    bed: str = ""
    stay: str = ""
    cpr: str = ""
    to: str = ""
    key: str = ""
    problems: dict[str, str] = field(default_factory=dict)
    refusal: str = ""

    def shown(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "bed": self.bed,
            "cpr": self.cpr,
            "to": self.to,
            "problems": self.problems,
            "refusal": self.refusal,
        }


def routes(web: WebLogin) -> list[Route]:
    service = web.service

    def choose(request: Request) -> dict[str, Any]:
        practitioner = (request.user.fhir_user or "").removeprefix("Practitioner/") or None
        return wards(acting(service, request), practitioner, request.query_params.get("site", "")[:64])

    def shown(request: Request, action: Action) -> dict[str, Any]:
        core = acting(service, request)
        practitioner = (request.user.fhir_user or "").removeprefix("Practitioner/") or None
        values = board(
            core,
            request.path_params["id"],
            practitioner,
            service.clock(),
            language(),
            request.query_params.get("at", "")[:32],
            action,
        )
        # `discharge`: the bed whose discharge the nurse is asked to confirm (one press is no discharge).
        confirm = request.query_params.get("discharge", "")[:64]
        return {
            **values,
            "done": request.query_params.get("done", "")[:16],
            "confirm": confirm,
            "csrf": request.user.csrf,
        }

    def data(request: Request) -> dict[str, Any]:
        return shown(request, Action())

    def posted(request: Request, form: FormData | None) -> Response:
        if web.checked(request, form) is None or form is None:
            return csrf_refused()
        core, ward_id = acting(service, request), request.path_params["id"]
        beds.ward(core, ward_id)  # an unknown ward is a 404 before anything else
        action = Action(
            form_text(form, "action"),
            form_text(form, "bed"),
            form_text(form, "stay"),
            form_text(form, "cpr"),
            form_text(form, "to"),
            form_text(form, "key"),
        )
        try:
            anchor = act(web, core, ward_id, action, service.clock())
        except (StorageUnavailable, Withheld):
            raise
        except FhirError as error:
            action.refusal = error.message
            return render("bed_board.html", error.status, NO_STORE, **shown(request, action))
        if action.problems:
            return render("bed_board.html", 400, NO_STORE, **shown(request, action))
        where = f"{BOARD.replace('{id}', ward_id)}?{urlencode({'done': action.action})}#bed-{anchor}"
        return RedirectResponse(where, 303)

    return [
        Route(WARDS, page("wards.html", choose), methods=["GET"]),
        Route(BOARD, page("bed_board.html", data), methods=["GET"]),
        Route(BOARD, threaded(posted), methods=["POST"]),
    ]


def wards(core: Acting, practitioner: str | None, site_id: str) -> dict[str, Any]:
    """The wards to choose from: the practitioner's departments', and those of site `site_id`."""
    departments = _departments(core, practitioner)
    site_list = sorted(
        ({"id": s["id"], "name": s.get("name") or s["id"]} for s in beds.sites(core)), key=lambda s: _natural(s["name"])
    )
    chosen = next((s for s in site_list if s["id"] == site_id), None)
    return {
        "linked": practitioner is not None,
        "mine": _listed(beds.wards_of_departments(core, departments)),
        "sites": site_list,
        "site": chosen,
        "siteWards": _listed(beds.wards_of_site(core, site_id)) if chosen else [],
    }


def board(
    core: Acting, ward_id: str, practitioner: str | None, now: datetime, language_: str, at: str, action: Action
) -> dict[str, Any]:
    """The board of ward `ward_id` at `now`, and its census at `at` (a datetime-local value, Danish time)."""
    ward = beds.ward(core, ward_id)
    today_ = now.astimezone(COPENHAGEN).date()
    ward_beds = sorted(beds.beds(core, ward_id), key=lambda b: _natural(b.name))
    lying = {one.bed: one for one in beds.census(core, ward_beds, now)}
    cards = [_card(b, lying.get(b.id), today_, language_) for b in ward_beds]
    counts = {
        state: sum(1 for c in cards if c["state"] == state)
        for state in (beds.FREE, beds.TAKEN, beds.CLEANING, beds.BLOCKED)
    }
    census, at_problem = None, ""
    if at:
        try:
            moment = datetime.strptime(at, MOMENT).replace(tzinfo=COPENHAGEN)
        except ValueError:
            at_problem = "format"
        else:
            if moment > now:
                at_problem = "future"
            else:
                census = _census(core, ward_beds, moment, language_)
    return {
        "ward": {"id": ward_id, "name": ward.get("name") or ward_id},
        "beds": cards,
        "counts": counts,
        "targets": _targets(core, ward, ward_beds, practitioner),
        "census": census,
        "at": at,
        "atProblem": at_problem,
        "now": now.astimezone(COPENHAGEN).strftime(MOMENT),
        "asOf": words.when(now.astimezone(COPENHAGEN).isoformat(), language_),
        "form": action.shown(),
        "key": form_key.new_key(),
    }


def act(web: WebLogin, core: Acting, ward_id: str, action: Action, now: datetime) -> str:
    """Do what the posted form asks, or note its problems; the bed to show afterwards."""
    if action.action not in ACTIONS:
        action.problems["action"] = "unknown"
        return action.bed
    try:
        target = beds.bed(core, action.bed)
    except NotFound:
        action.problems["bed"] = "unknown"
        return action.bed
    if action.action == "admit":
        cpr = action.cpr.replace("-", "").replace(" ", "")
        if not cpr:
            action.problems["cpr"] = "missing"
        elif not is_valid_cpr(cpr):
            action.problems["cpr"] = "format"
        form_key.check(action)
        if action.problems:
            return target.id
        patient = web.patient_for_cpr(cpr, core)
        if patient is None:
            action.problems["cpr"] = "unknown"
            return target.id
        beds.admit(core, patient, target, now, key=action.key)
        return target.id
    if action.action == "transfer":
        if not action.stay:
            action.problems["bed"] = "unknown"  # a form without its stay: not one of the board's
            return target.id
        if not action.to:
            action.problems["to"] = "missing"
            return target.id
        try:
            to = beds.bed(core, action.to)
        except NotFound:
            action.problems["to"] = "missing"
            return target.id
        if to.state != beds.FREE:  # what the board knew already; the core's rule decides the rest
            action.problems["to"] = to.state
            return target.id
        beds.transfer(core, action.stay, to, now)
        return to.id
    if action.action == "discharge":
        if not action.stay:
            action.problems["bed"] = "unknown"  # a form without its stay: not one of the board's
            return target.id
        beds.discharge(core, action.stay, now)
        return target.id
    beds.mark(core, target, action.action)
    return target.id


def _card(bed: beds.Bed, lying: beds.Lying | None, today_: date, language_: str) -> dict[str, Any]:
    """One bed as the board shows it: who is in it when the nurse may see them."""
    card: dict[str, Any] = {
        "id": bed.id,
        "name": bed.name,
        "state": bed.state,
        "patient": None,
        "stay": None,
        "since": None,
    }
    if lying is not None:
        card["state"] = beds.TAKEN
        card["stay"] = lying.encounter.get("id")
        card["since"] = words.when(lying.since, language_)
        if lying.patient is not None:
            person = header.person(lying.patient, today_, language_)
            card["patient"] = {
                "id": person["id"],
                "name": person["name"],
                "cpr": person["cpr"],
                "age": person["age"],
                "href": f"/patients/{person['id']}",
            }
    return card


def _census(core: Acting, ward_beds: list[beds.Bed], moment: datetime, language_: str) -> dict[str, Any]:
    names = {b.id: b.name for b in ward_beds}
    rows = []
    for one in beds.census(core, ward_beds, moment):
        person = header.person(one.patient, moment.date(), language_) if one.patient else None
        rows.append(
            {
                "bed": names.get(one.bed, one.bed),
                "name": person["name"] if person else None,
                "href": f"/patients/{person['id']}" if person else None,
                "since": words.when(one.since, language_),
                "until": words.when(one.until, language_),
            }
        )
    rows.sort(key=lambda r: _natural(str(r["bed"])))
    return {"at": words.when(moment.isoformat(), language_), "rows": rows}


def _targets(
    core: Acting, ward: dict[str, Any], ward_beds: list[beds.Bed], practitioner: str | None
) -> list[dict[str, Any]]:
    """The free beds a patient can be moved to, by ward: this ward's, then those of the nurse's
    departments, then the other wards of this ward's hospital."""
    mine = beds.wards_of_departments(core, _departments(core, practitioner))
    site = beds.site_of(core, ward)
    here = beds.wards_of_site(core, site) if site else []
    wards = {str(w["id"]): w for w in [*here, *mine] if w.get("id") != ward.get("id")}
    own = {str(w["id"]) for w in mine}
    order = sorted(wards, key=lambda w: (w not in own, _natural(wards[w].get("name"))))
    free = beds.beds_by_ward(core, order)
    groups = [{"ward": ward.get("name") or ward.get("id"), "beds": _free(ward_beds)}]
    groups += [{"ward": wards[w].get("name") or w, "beds": _free(free.get(w, []))} for w in order]
    return [g for g in groups if g["beds"]]


def _free(ward_beds: list[beds.Bed]) -> list[dict[str, str]]:
    chosen = sorted((b for b in ward_beds if b.state == beds.FREE), key=lambda b: _natural(b.name))
    return [{"id": b.id, "name": b.name} for b in chosen]


def _departments(core: Acting, practitioner: str | None) -> list[str]:
    if practitioner is None:
        return []
    roles = searched(core, "PractitionerRole", [("practitioner", practitioner), ("active", "true")]).matches
    return sorted({ref for role in roles if (ref := (role.get("organization") or {}).get("reference"))})


def _listed(found: list[dict[str, Any]]) -> list[dict[str, str]]:
    listed = [
        {"id": str(w["id"]), "name": str(w.get("name") or w["id"]), "href": BOARD.replace("{id}", str(w["id"]))}
        for w in found
    ]
    return sorted(listed, key=lambda w: _natural(w["name"]))


def _natural(text: str | None) -> list[Any]:
    """ "Seng 2" before "Seng 10"."""
    return [int(part) if part.isdecimal() else part.lower() for part in _NUMBERS.split(text or "")]
