"""`/downtime/reentry`: after a downtime, what was written on paper is entered into the record
(issue 23, downtime/reentry.py).

- `/downtime/reentry` lists the downtime identifiers the label sheets issued here in the last 30
  days, the newest sheet first, what is still to re-enter at the top: linked to a patient with
  nothing entered yet, then those not linked (given out or not: the paper tells).
- `/downtime/reentry/label?dt=…` is one identifier: typed or scanned, checked (its form, its check
  digit, issued here), then linked to the real patient (found by CPR number or name through the
  core, as the finder finds them: finder.py) or to a patient registered now; once linked, the
  forms for what the paper holds: vital signs, a note, a dose given, each at its original time.
  POST to the same address does each of these, with the session's CSRF token.

Every read and write is the core's, as the clinician (`acting`): a patient the clinician may not
write for is the core's refusal, shown in words with the way to break the glass. Each form has a
one-time key (chart/form_key.py): sent twice, it writes once.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import orjson
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from lifeline import jsontext
from lifeline.access.errors import Withheld
from lifeline.clock import COPENHAGEN, today
from lifeline.cpr import CPR_SYSTEM, format_cpr
from lifeline.downtime import reentry
from lifeline.downtime.read import DowntimeError
from lifeline.errors import BadRequest, FhirError, StorageUnavailable
from lifeline.fhir.acting import Acting
from lifeline.fhir.request import FhirRequest
from lifeline.web.layout import NO_STORE, render
from lifeline.web.login import WebLogin, csrf_refused, form_text, threaded
from lifeline.web.pages import acting, finder, page
from lifeline.web.pages import reentry_forms as forms
from lifeline.web.pages.chart import note_form, vitals_form
from lifeline.web.pages.chart.given_form import ROUTES, UNITS
from lifeline.web.pages.chart.page import language

if TYPE_CHECKING:
    from lifeline.storage.repository import Repository

PAGE = "/downtime/reentry"
LABEL = "/downtime/reentry/label"
NEWEST_SHEETS = 10  # sheets listed with nothing linked (a site makes one each run); older ones are counted
_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")
ENTRIES: dict[str, Callable[[FormData, datetime], Any]] = {
    "vitals": forms.vitals_draft,
    "note": forms.note_draft,
    "dose": forms.dose_draft,
}
WRITES: dict[str, Callable[..., forms.Made]] = {"vitals": forms.vitals, "note": forms.note, "dose": forms.dose}


def shown_time(value: str | None) -> str:
    """An instant as the page shows it: Danish time, to the minute."""
    if not value:
        return ""
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(COPENHAGEN).strftime("%d.%m.%Y %H:%M")


def shown_date(value: str | None) -> str:
    """A FHIR date as the page shows it: 25.07.1958 (a year or month alone as it is)."""
    return ".".join(reversed(value.split("-"))) if value else ""


def resources(core: Acting, res_type: str, ids: set[str]) -> dict[str, dict[str, Any]]:
    """Those of `ids` the clinician may see, by id: one search through the core."""
    if not ids:
        return {}
    params = [("_id", ",".join(sorted(ids))), ("_count", str(len(ids)))]
    try:
        answer = core.handle(FhirRequest("search", res_type, params=params)).resource or {}
    except BadRequest:
        return {}
    bundle = orjson.loads(jsontext.dumps(answer))
    return {
        e["resource"]["id"]: e["resource"]
        for e in bundle.get("entry") or []
        if (e.get("search") or {}).get("mode") == "match"
    }


def person(resource: dict[str, Any] | None) -> str:
    names = (resource or {}).get("name") or []
    if isinstance(names, dict):
        names = [names]
    first = names[0] if names else {}
    return " ".join([*(first.get("given") or []), first.get("family") or ""]).strip() or first.get("text") or ""


def cpr_of(patient: dict[str, Any]) -> str:
    found = next((i.get("value") for i in patient.get("identifier") or [] if i.get("system") == CPR_SYSTEM), None)
    return format_cpr(found) if found else ""


def labelled(found: list[reentry.Label], core: Acting) -> list[dict[str, Any]]:
    """The identifiers as the pages show them: each linked patient named if the clinician may see
    them (one search), else only said to be outside their care."""
    patients = resources(core, "Patient", {each.patient_id for each in found if each.patient_id})
    staff = {r.split("/", 1)[1] for each in found for r in [each.linked_by or "", *(e.entered_by for e in each.entries)]
             if r.startswith("Practitioner/")}  # fmt: skip
    clinicians = resources(core, "Practitioner", staff)
    by = {f"Practitioner/{id_}": person(p) for id_, p in clinicians.items()}
    shown = []
    for each in found:
        patient = patients.get(each.patient_id or "")
        shown.append({
            "identifier": each.identifier, "state": each.state, "sheet": shown_time(each.sheet), "site": each.site,
            "href": f"{LABEL}?dt={quote(each.identifier)}",
            "patient": None if each.patient_id is None else {
                "id": each.patient_id, "visible": patient is not None,
                "name": person(patient) if patient else "", "cpr": cpr_of(patient) if patient else ""},
            "linkedBy": by.get(each.linked_by or "", each.linked_by or ""), "linkedAt": shown_time(each.linked_at),
            "entries": [{"kind": e.kind, "careTime": shown_time(e.care_time), "enteredAt": shown_time(e.entered_at),
                         "by": by.get(e.entered_by, e.entered_by), "resources": e.resources} for e in each.entries],
        })  # fmt: skip
    return shown


def report(core: Acting, repo: Repository, now: datetime) -> dict[str, Any]:
    """The page's data: the identifiers still to re-enter first, then every sheet, newest first."""
    found = labelled(reentry.issued(repo, now), core)
    sheets: dict[str, dict[str, Any]] = {}
    for each in found:
        sheet = sheets.setdefault(each["sheet"] + each["site"], {"made": each["sheet"], "site": each["site"],
                                                                 "labels": [], "linked": 0})  # fmt: skip
        sheet["labels"].append(each)
        sheet["linked"] += each["patient"] is not None
    counts = {state: sum(1 for each in found if each["state"] == state) for state in ("to-enter", "to-link", "entered")}
    listed = [sheet for n, sheet in enumerate(sheets.values()) if sheet["linked"] or n < NEWEST_SHEETS]
    return {
        "toEnter": [each for each in found if each["state"] == "to-enter"],
        "sheets": listed,
        "unlisted": len(sheets) - len(listed),
        "counts": counts,
        "days": forms.DAYS,
    }


def search(core: Acting, typed: str, on: date) -> dict[str, Any]:
    """The patients the box finds, as the finder finds them (finder.py): through the core, so only
    those in the clinician's care, and for a full CPR number outside care, that one exists."""
    query = finder.understood(typed, on)
    found: dict[str, Any] = {"q": query.text, "problem": query.problem, "patients": [], "outsideCare": None}
    if query.problem:
        return {**found, "problem": None if query.problem == "empty" else query.problem}
    try:
        answer = core.handle(FhirRequest("search", "Patient", params=query.params())).resource or {}
    except BadRequest:
        return {**found, "problem": "not-understood"}
    entries = orjson.loads(jsontext.dumps(answer)).get("entry") or []
    matches = [e["resource"] for e in entries if e.get("search", {}).get("mode") == "match"]
    found["patients"] = [
        {**finder.row(patient, on), "born": shown_date(patient.get("birthDate"))} for patient in matches
    ]
    withheld = any(issue.get("code") == "suppressed" for e in entries if e.get("search", {}).get("mode") == "outcome"
                   for issue in e["resource"].get("issue") or [])  # fmt: skip
    if query.cpr is not None and withheld and not matches:
        found["outsideCare"] = {"cpr": format_cpr(query.cpr)}
    return found


def one_label(
    core: Acting,
    repo: Repository,
    typed: str,
    q: str,
    now: datetime,
    drafts: dict[str, Any] | None = None,
    refusal: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The data of one identifier's page: the identifier checked; if not linked, the search for
    the patient and the form that registers one; if linked, the patient and the entry forms."""
    drafts = drafts or {}
    identifier, found, problem = reentry.checked(repo, typed)
    values: dict[str, Any] = {"dt": identifier, "problem": problem, "label": None, "refusal": refusal,
                              "days": forms.DAYS, "form": None}  # fmt: skip
    if found is None:
        return values
    values["label"] = labelled([found], core)[0]
    if found.patient_id is None:
        values["search"] = (
            search(core, q, now.astimezone(COPENHAGEN).date())
            if q
            else {"q": "", "problem": None, "patients": [], "outsideCare": None}
        )
        values["newcomer"] = drafts.get("newcomer", forms.Newcomer()).shown()
        return values
    if not values["label"]["patient"]["visible"]:
        values["refusal"] = refusal or {"kind": "outside-care", "patient": found.patient_id}
        return values
    # The time starts empty, never "now": it must be the paper's, typed from it.
    vitals = drafts.get("vitals") or vitals_form.Draft()
    note = drafts.get("note") or forms.Note()
    dose = drafts.get("dose") or forms.Dose()
    values["form"] = {
        "vitals": vitals.shown(language()),
        "note": note.shown(),
        "dose": dose.shown(),
        "routes": [{"code": code, "name": name, "danish": danish} for code, (name, danish) in ROUTES.items()],
        "units": [{"code": code, "name": name} for code, name in UNITS.items()],
        "noteTypes": [{"code": code, "name": name} for code, (name, _) in note_form.NOTE_TYPES.items()],
        "failed": next((kind for kind in ENTRIES if kind in drafts), None),
    }
    return values


def routes(web: WebLogin) -> list[Route]:
    service = web.service

    def listed(request: Request) -> dict[str, Any]:
        return {**report(acting(service, request), service.repo, service.clock()), "csrf": request.user.csrf}

    def shown(request: Request) -> dict[str, Any]:
        core, params = acting(service, request), request.query_params
        values = one_label(core, service.repo, params.get("dt", ""), params.get("q", ""), service.clock())
        return {**values, "csrf": request.user.csrf}

    def again(request: Request, form: FormData, status: int, **more: Any) -> Response:
        core, now = acting(service, request), service.clock()
        values = one_label(core, service.repo, form_text(form, "dt"), form_text(form, "q"), now, **more)
        return render("reentry/label.html", status, NO_STORE, **values, csrf=request.user.csrf)

    def posted(request: Request, form: FormData | None) -> Response:
        if web.checked(request, form) is None or form is None:
            return csrf_refused()
        core, now, repo = acting(service, request), service.clock(), service.repo
        identifier, found, _ = reentry.checked(repo, form_text(form, "dt"))
        if found is None:
            return again(request, form, 400)
        author = request.user.fhir_user or ""
        by = author or (request.user.principal.subject if request.user.principal else "")
        do = form_text(form, "do")
        try:
            if do == "link":
                patient = form_text(form, "patient")
                if not _ID.fullmatch(patient):
                    return again(request, form, 400)
                reentry.link(core, repo, found, patient, by, now)
            elif do == "register" and found.patient_id is None:
                newcomer = forms.newcomer_draft(form, today(service.clock))
                if not newcomer.problems:
                    _known(core, newcomer)
                if newcomer.problems:
                    return again(request, form, 400, drafts={"newcomer": newcomer})
                reentry.register(core, repo, found, newcomer.patient(), by, now)
            elif do == "register":
                pass  # sent twice: the first send registered and linked the patient
            elif do in ENTRIES and found.patient_id is not None:
                draft = ENTRIES[do](form, now)
                if not author.startswith("Practitioner/"):
                    draft.problems["author"] = "missing"
                if draft.problems:
                    return again(request, form, 400, drafts={do: draft})
                made = WRITES[do](core, draft, found.patient_id, author, now)
                moment, _ = vitals_form.typed_moment(draft.when, now, reentry.OLDEST)
                assert moment is not None
                reentry.enter(core, repo, found, (do, draft.key, moment), made, author, now)
            else:
                return again(request, form, 400)
        except StorageUnavailable:
            raise
        except Withheld:
            patient = found.patient_id or form_text(form, "patient")
            return again(request, form, 403, refusal={"kind": "outside-care", "patient": patient})
        except (FhirError, DowntimeError) as error:
            status = error.status if isinstance(error, FhirError) else 409
            return again(request, form, status, refusal={"kind": "refused", "text": str(error)})
        return RedirectResponse(f"{LABEL}?dt={quote(identifier)}#entries", 303)  # what is entered so far

    def _known(core: Acting, newcomer: forms.Newcomer) -> None:
        """A CPR number the record knows already is linked, not registered again."""
        digits = newcomer.cpr.replace("-", "").replace(" ", "")
        if not digits:
            return
        asked = FhirRequest("search", "Patient", params=[("identifier", f"{CPR_SYSTEM}|{digits}"), ("_count", "1")])
        entries = orjson.loads(jsontext.dumps(core.handle(asked).resource or {})).get("entry") or []
        matched = any(e.get("search", {}).get("mode") == "match" for e in entries)
        withheld = any(
            issue.get("code") == "suppressed"
            for e in entries
            if e.get("search", {}).get("mode") == "outcome"
            for issue in e["resource"].get("issue") or []
        )
        if matched or withheld:  # in care: link it; outside care: the core's word that one exists
            newcomer.problems["cpr"] = "known"

    return [
        Route(PAGE, page("reentry/report.html", listed), methods=["GET"]),
        Route(LABEL, page("reentry/label.html", shown), methods=["GET"]),
        Route(LABEL, threaded(posted), methods=["POST"]),
    ]
