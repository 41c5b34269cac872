"""`/operator/incidents`: the operators' page for this node's incidents (issue 23) — the open ones
with their components, impact, status, expected restoration time, timeline and who they affect
(status/affected.py: counts from the audit trail, never a name), and the forms that open one, add
an update and resolve one.

Staff only (web/routes.py), and inside only staff whose login has the extra role `administrator`
or `operator`; others get a clear 403. Writes go through status/incidents.py, like `lifeline
incidents` (cli/incidents.py); each change is a security event ("administration", naming the
incident) on the audit trail, and the node's incident board forgets its snapshot so /status tells
it at once. A form sent twice writes once: it carries a one-time key (chart/form_key.py), claimed
in the node's own state (identity/state.py) before the write; the second sending finds it taken
and is sent to the page. Post, then redirect to the page (303), so a reload sends nothing again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from lifeline.audit import events as audit_events
from lifeline.clock import COPENHAGEN
from lifeline.errors import BadRequest, Conflict, FhirError, Forbidden, NotFound
from lifeline.identity.sites import list_sites
from lifeline.status import incidents
from lifeline.status.affected import Affected, affected
from lifeline.status.board import IncidentBoard
from lifeline.status.components import keys
from lifeline.web.layout import NO_STORE, PAGES_CLIENT, PageUser, render
from lifeline.web.login import WebLogin, client_host, csrf_refused, form_text, threaded
from lifeline.web.pages.chart import form_key, words
from lifeline.web.status_page import board_for

if TYPE_CHECKING:
    from lifeline.replication.site import SiteNode

PATH = "/operator/incidents"
OPERATOR_ROLES = ("administrator", "operator")
TITLE_MOST, TEXT_MOST = 200, 4000
KEY_DAYS = 2  # how long a form's key is remembered as used
OPEN_STATUSES = incidents.OPEN_STATUSES
REFUSED = "This page is for operators: staff whose login has the role operator or administrator."


def may_operate(user: PageUser) -> bool:
    return any(role in user.roles for role in OPERATOR_ROLES)


@dataclass
class Draft:
    """A form as the operator filled it in, and what is wrong with it (field -> a problem's name,
    which the template words)."""

    key: str = field(default_factory=form_key.new_key)
    title: str = ""
    impact: str = "major"
    components: list[str] = field(default_factory=list)
    status: str = "identified"
    text: str = ""
    eta: str = ""
    eta_none: bool = False
    problems: dict[str, str] = field(default_factory=dict)
    refusal: str = ""


def local_eta(stored: str | None) -> str:
    """A stored restoration time as the form's datetime-local value, in Danish time."""
    if not stored:
        return ""
    moment = datetime.fromisoformat(stored.replace("Z", "+00:00"))
    return moment.astimezone(COPENHAGEN).strftime("%Y-%m-%dT%H:%M")


def parse_local_eta(text: str) -> str | None:
    """The form's restoration time, read as Danish time without a zone (what datetime-local
    sends); None for none. BadRequest when it is no date-time."""
    text = text.strip()
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return incidents.parse_eta(text)  # its own clear words
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=COPENHAGEN)
    return incidents.parse_eta(moment.isoformat())


def _eta(draft: Draft) -> str | None:
    if draft.eta_none:
        if draft.eta.strip():  # a time, and "none known": which one was meant is not for us to guess
            draft.problems["eta"] = "both"
        return None
    try:
        return parse_local_eta(draft.eta)
    except BadRequest:
        draft.problems["eta"] = "not-a-time"
        return None


def _text(draft: Draft, name: str, value: str, most: int, required: bool) -> None:
    if required and not value.strip():
        draft.problems[name] = "empty"
    elif len(value) > most:
        draft.problems[name] = "too-long"


def open_draft(form: FormData, known: list[str]) -> tuple[Draft, str | None]:
    draft = Draft(
        key=form_text(form, "key"),
        title=form_text(form, "title").strip(),
        impact=form_text(form, "impact"),
        components=[str(v) for v in form.getlist("component") if isinstance(v, str)],
        text=form_text(form, "text").strip(),
        eta=form_text(form, "eta"),
        eta_none=form_text(form, "eta_none") == "yes",
    )
    _text(draft, "title", draft.title, TITLE_MOST, True)
    _text(draft, "text", draft.text, TEXT_MOST, False)
    if draft.impact not in incidents.IMPACTS:
        draft.problems["impact"] = "unknown"
    if not draft.components:
        draft.problems["components"] = "none"
    elif any(name not in known for name in draft.components):
        draft.problems["components"] = "unknown"
    eta = _eta(draft)
    form_key.check(draft)
    return draft, eta


def update_draft(form: FormData, resolving: bool) -> tuple[Draft, str | None]:
    draft = Draft(
        key=form_text(form, "key"),
        status="resolved" if resolving else form_text(form, "status"),
        text=form_text(form, "text").strip(),
        eta=form_text(form, "eta"),
        eta_none=form_text(form, "eta_none") == "yes",
    )
    _text(draft, "text", draft.text, TEXT_MOST, True)
    if not resolving and draft.status not in OPEN_STATUSES:
        draft.problems["status"] = "unknown"
    eta = None if resolving else _eta(draft)
    form_key.check(draft)
    return draft, eta


def routes(web: WebLogin, site: SiteNode | None) -> list[Route]:
    service = web.service
    board: IncidentBoard = board_for(service, site)

    def known_components() -> list[str]:
        sites = [s.site_id for s in list_sites(service.repo) if s.active]
        return keys(service.settings.role, sites)

    def allowed(request: Request) -> PageUser:
        user: PageUser = request.user
        if not may_operate(user):
            raise Forbidden(REFUSED)
        return user

    def page(
        request: Request,
        status: int = 200,
        *,
        opening: Draft | None = None,
        updating: tuple[str, Draft] | None = None,
    ) -> Response:
        language = str(request.scope.get("language") or "en")
        board.forget()  # live: an incident the probes or the CLI opened a moment ago is shown
        found = board.snapshot()
        counted = {
            each.id: affected(service.repo, each, node=found.node, components=found.components) for each in found.open
        }
        values = page_data(found.open, counted, found.components, known_components(), language)
        values.update(
            csrf=request.user.csrf,
            opening=_shown(opening or Draft()),
            updating={updating[0]: _shown(updating[1])} if updating else {},
            fresh_key=form_key.new_key,
            done=request.query_params.get("done"),
            # A refusal of an incident no longer open (resolved meanwhile, or none such) has no
            # form of its own to be shown beside: it is shown at the top.
            refusal=updating[1].refusal if updating and updating[0] not in counted else "",
        )
        return render("operator/incidents.html", status, NO_STORE, **values)

    def show(request: Request, form: FormData | None) -> Response:
        allowed(request)
        return page(request)

    def claimed(key: str) -> bool:
        """Take the form's one-time key: False when it was taken already (a form sent twice)."""
        now = service.clock().timestamp()
        return service.identity.state.add(f"operator-form:{key}", True, now + KEY_DAYS * 86400, now)

    def release(key: str) -> None:
        service.identity.state.delete(f"operator-form:{key}")

    def audited(request: Request, user: PageUser, text: str) -> None:
        audit_events.record(
            service.repo, "administration", node_id=service.settings.node_id, user=user.username,
            fhir_user=user.fhir_user, client_id=PAGES_CLIENT, text=text, address=client_host(request),
        )  # fmt: skip

    def done(incident_id: str, what: str) -> Response:
        board.forget()  # /status tells it at once
        return RedirectResponse(f"{PATH}?done={what}#incident-{incident_id}", 303)

    def open_one(request: Request, form: FormData | None) -> Response:
        user = allowed(request)
        if web.checked(request, form) is None or form is None:
            return csrf_refused()
        draft, eta = open_draft(form, known_components())
        if draft.problems:
            return page(request, 400, opening=draft)
        if not claimed(draft.key):
            return RedirectResponse(f"{PATH}?done=already", 303)
        try:
            opened = incidents.open_incident(
                service.repo, title=draft.title, impact=draft.impact, components=draft.components, text=draft.text,
                author=user.username or "operator", expected_back=eta, clock=service.clock,
            )  # fmt: skip
        except FhirError as error:
            release(draft.key)
            draft.refusal = error.message
            return page(request, error.status, opening=draft)
        audited(request, user, f"incident {opened.id} opened ({opened.impact}): {opened.title}")
        return done(opened.id, "opened")

    def update_one(request: Request, form: FormData | None) -> Response:
        user = allowed(request)
        if web.checked(request, form) is None or form is None:
            return csrf_refused()
        incident_id = str(request.path_params["id"])
        resolving = form_text(form, "action") == "resolve"
        draft, eta = update_draft(form, resolving)
        if draft.problems:
            return page(request, 400, updating=(incident_id, draft))
        if not claimed(draft.key):
            return RedirectResponse(f"{PATH}?done=already", 303)
        try:
            changed = incidents.update_incident(
                service.repo, incident_id, status=draft.status, text=draft.text, author=user.username or "operator",
                expected_back=False if resolving else eta, clock=service.clock,
            )  # fmt: skip
        except (NotFound, Conflict, BadRequest) as error:
            release(draft.key)
            draft.refusal = error.message
            return page(request, error.status, updating=(incident_id, draft))
        what = "resolved" if resolving else "updated"
        audited(request, user, f"incident {changed.id} {what} ({changed.status}): {changed.title}")
        return done(changed.id, what)

    return [
        Route(PATH, threaded(show), methods=["GET"]),
        Route(PATH, threaded(open_one), methods=["POST"]),
        Route(PATH + "/{id}", threaded(update_one), methods=["POST"]),
    ]


def _shown(draft: Draft) -> dict[str, Any]:
    return {
        "key": draft.key, "title": draft.title, "impact": draft.impact, "components": draft.components,
        "status": draft.status, "text": draft.text, "eta": draft.eta, "eta_none": draft.eta_none,
        "problems": draft.problems, "refusal": draft.refusal,
    }  # fmt: skip


def page_data(
    open_ones: list[incidents.Incident],
    counted: dict[str, Affected],
    components: Any,
    known: list[str],
    language: str,
) -> dict[str, Any]:
    """What the page shows: the open incidents, each with its timeline and who it affects; the
    node's components; the choices of the forms. Counts only: no one is named."""
    shown = []
    for each in open_ones:
        found = counted[each.id]
        shown.append(
            {
                "id": each.id,
                "title": each.title,
                "impact": each.impact,
                "status": each.status,
                "components": each.components,
                "began": _when(each.began, language),
                "expected_back": _when(each.expected_back, language),
                "eta_value": local_eta(each.expected_back),
                "updates": [
                    {"at": _when(u.at, language), "status": u.status, "text": u.text} for u in reversed(each.updates)
                ],
                "affected": found,
            }
        )
    return {
        "open": shown,
        "components": components,
        "known": known,
        "impacts": incidents.IMPACTS,
        "statuses": OPEN_STATUSES,
    }


def _when(value: str | None, language: str) -> str | None:
    shown = words.when(value, language)
    return shown["text"] if shown else None
