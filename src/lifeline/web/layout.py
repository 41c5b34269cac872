"""Rendering a page through templates/base.html: one Jinja2 environment per language (the i18n
extension bound to that language's messages, so threads never share a mutable translator), the
`static()` helper for hashed static names, and what the base layout shows on every page — who is
logged in, the node and its mode, the clock-skew and threat-level warnings.

The middleware (web/middleware.py) sets the request's `PageContext` in a context variable; Starlette
runs handlers in worker threads with a copy of the context, so `render()` finds it there without
every handler passing it along. Rendered outside a request (a template test), a page is anonymous
and English.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING, Any

from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.responses import HTMLResponse

from lifeline.identity.principal import PATIENT as PATIENT_KIND
from lifeline.identity.principal import STAFF as STAFF_KIND
from lifeline.identity.principal import Principal
from lifeline.identity.scopes import ScopeSet
from lifeline.web import assets, i18n

if TYPE_CHECKING:
    from lifeline.identity.sessions import WebSession

log = logging.getLogger("lifeline.web")
STAFF, PATIENT, ANONYMOUS = "staff", "patient", "anonymous"
NO_STORE = {"Cache-Control": "no-store"}
PAGES_CLIENT = "lifeline-web"  # the pages, as the app a person works through
STAFF_PAGE_SCOPES = ScopeSet.parse("user/*.cruds")
PATIENT_PAGE_SCOPES = ScopeSet.parse("patient/*.rs")


@dataclass(frozen=True)
class PageUser:
    """The person behind a page request (`request.user`), from the session cookie."""

    session: WebSession | None = None
    kind: str = ANONYMOUS  # staff | patient | anonymous
    username: str | None = None
    display_name: str = ""
    fhir_user: str | None = None  # Practitioner/id or Patient/id
    roles: tuple[str, ...] = ()  # a staff member's roles where known (their login's extra roles)

    @property
    def is_authenticated(self) -> bool:  # Starlette's BaseUser protocol
        return self.kind != ANONYMOUS

    @property
    def csrf(self) -> str | None:
        return self.session.csrf if self.session is not None else None

    @property
    def principal(self) -> Principal | None:
        """Whom the core acts as for this person's pages (fhir/acting.py): the pages are one app,
        `lifeline-web`; staff read and write what their care allows, patients read their own."""
        if self.kind == STAFF:
            scopes = STAFF_PAGE_SCOPES
            return Principal(STAFF_KIND, self.username or "", PAGES_CLIENT, scopes, fhir_user=self.fhir_user)
        if self.kind == PATIENT:
            subject = self.username or self.fhir_user or ""
            return Principal(PATIENT_KIND, subject, PAGES_CLIENT, PATIENT_PAGE_SCOPES, fhir_user=self.fhir_user)
        return None

    @property
    def purpose(self) -> str | None:
        """Why, for the audit record: treatment for staff, the patient's own request for patients."""
        return {STAFF: "TREAT", PATIENT: "PATRQT"}.get(self.kind)


@dataclass
class PageContext:
    """One page request as the layout sees it."""

    user: PageUser = field(default_factory=PageUser)
    language: str = i18n.DEFAULT
    path: str = "/"
    # The node's status (replication/status.py) and its warnings (clock skew in seconds, a threat
    # level that is not normal); blocking, so asked at render time, in the handler's thread.
    node: Callable[[], dict[str, Any] | None] = lambda: None
    warnings: Callable[[], dict[str, Any]] = dict


CURRENT: ContextVar[PageContext | None] = ContextVar("lifeline_page", default=None)


@cache
def environment(language: str) -> Environment:
    env = Environment(
        loader=PackageLoader("lifeline.web", "templates"),
        autoescape=select_autoescape(["html"]),
        extensions=["jinja2.ext.i18n"],
    )
    env.install_gettext_translations(i18n.translations(language), newstyle=True)  # type: ignore[attr-defined]
    env.globals["static"] = assets.static
    env.filters["moment"] = lambda value: _moment(value, language)
    return env


def _moment(value: str | None, language: str) -> str:
    """A moment of the node's status (ISO, UTC) as the reader reads it: Danish time, their style."""
    from lifeline.web.pages.chart import words  # here: the pages' package imports this module

    shown = words.when(value, language)
    return shown["text"] if shown else ""


def layout() -> dict[str, Any]:
    """What base.html shows around every page."""
    page = CURRENT.get() or PageContext()
    return {
        "viewer": page.user,
        "language": page.language,
        "languages": i18n.LANGUAGES,
        "here": page.path,
        "layout_node": _or_none(page.node),
        "warnings": _or_none(page.warnings) or {},
        "incidents": _or_none(lambda: _incidents(page)) or [],
    }


def _incidents(page: PageContext) -> list[dict[str, Any]]:
    """The open incidents for a logged-in person's banner, from the node's cached board (issue 23)."""
    if not page.user.is_authenticated:
        return []
    from lifeline.web.status_page import banner  # here: that module renders through this one

    return banner(_or_none(page.node))


def _or_none(read: Callable[[], Any]) -> Any:
    """The layout's extras must never break a page, least of all the error page of a database
    that is down: without them the page shows less, and says so in the log."""
    try:
        return read()
    except Exception:  # noqa: BLE001 - shown without the node's status, logged
        log.warning("the layout could not read the node's status or warnings", exc_info=True)
        return None


def render(name: str, status: int = 200, headers: dict[str, str] | None = None, **context: Any) -> HTMLResponse:
    """The template `name` inside the base layout, in the request's language."""
    values = layout()
    template = environment(values["language"]).get_template(name)
    return HTMLResponse(template.render({**values, **context}), status_code=status, headers=headers)
