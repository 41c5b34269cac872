"""The ASGI application: the FHIR API under /fhir (a plain ASGI app), the rest through Starlette
(the landing page, the logins, the conflicts page; the clinician pages, the portal and the status
page to come).

Outermost, the Host check (web/hosts.py) refuses a request naming a host this node does not
answer for; before it, admission control (web/admission.py) admits each request by its class or
refuses it with 503 or 429, and before that the rate limits per address, account and app
(web/rate_limits.py) refuse with 429 whoever is past theirs. A page request then goes through:

    security headers (web/security_headers.py: CSP, no framing, no-store)
    -> error pages (web/errors.py: any exception -> templates/errors/ or an OperationOutcome)
    -> the person and the route's access (web/middleware.py, the table in web/routes.py)
    -> the route (a data function plus a template: web/pages/)"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware

from lifeline.audit.index import Indexer as AuditIndexer
from lifeline.downtime.schedule import Regenerator
from lifeline.fhir.service import FhirService
from lifeline.imaging.copies import ImageCopies
from lifeline.imaging.stores import Stores
from lifeline.logistics.sending import Messenger
from lifeline.replication.central_client import CentralClient
from lifeline.replication.site import SiteNode
from lifeline.replication.status import StatusBoard
from lifeline.status.board import board_of
from lifeline.status.readiness import ReadinessCheck
from lifeline.web import assets, i18n, login
from lifeline.web.admission import Classifier, Gate, with_admission
from lifeline.web.bulk_export_api import BulkExportApi
from lifeline.web.bulk_export_api import handles as bulk_export_path
from lifeline.web.errors import http_exception_page, with_error_pages
from lifeline.web.fhir_api import PREFIX, FhirApi
from lifeline.web.health import with_health
from lifeline.web.hosts import host_checked
from lifeline.web.layout import PageContext, PageUser
from lifeline.web.middleware import PageMiddleware
from lifeline.web.rate_limits import KnownDevices, RateLimits, with_rate_limits
from lifeline.web.request_id import with_request_id
from lifeline.web.routes import page_routes
from lifeline.web.security_headers import with_page_headers
from lifeline.web.status_cache import with_cached_status
from lifeline.web.watching import watch_for

ASGIApp = Callable[[dict[str, Any], Any, Any], Awaitable[None]]


def site_node(service: FhirService) -> SiteNode | None:
    """A site node's replication (replication/site.py); None on the centre."""
    settings = service.settings
    if settings.role != "site":
        return None
    client = CentralClient(settings.central, settings.site_credential, timeout=settings.central_timeout_ms / 1000)
    return SiteNode(
        service,
        client,
        poll_seconds=settings.replication_poll_ms / 1000,
        failures_to_continuity=settings.continuity_after_failures,
    )


def create_app(
    service: FhirService,
    *,
    close_on_shutdown: bool = True,
    login_clock: Callable[[], float] | None = None,
    site: SiteNode | None = None,
) -> ASGIApp:
    """`login_clock` (epoch seconds) fixes the time of sessions, login throttling and codes in tests.
    A site node's replication (`site_node`) runs with the app: started and stopped by its lifespan."""
    # As many threads as the PostgreSQL pool has connections, so no thread waits for one.
    executor = ThreadPoolExecutor(max_workers=16, thread_name_prefix="lifeline-core")
    recorder = service.auditor  # the audit writer thread starts with the app
    # The core's entry (fhir/acting.py) runs blocking work in these threads and, at a site,
    # writes through the site node.
    service.executor, service.site = executor, site
    fhir_api = FhirApi(service, site)
    bulk_export = BulkExportApi(service)  # FHIR Bulk Data $export (issue 26)

    indexer = AuditIndexer(service.repo) if recorder is not None else None
    statistics = service.statistics_keeper()  # the planner's statistics, kept current (issue 27)
    downtime = Regenerator.for_node(service)  # a site's paper copies, remade every N minutes
    copies = ImageCopies.for_node(service)  # a site's copies of its patients' recent studies (issue 22)
    messages = Messenger.for_node(service)  # the messages to patients, sent when a messages folder is set (issue 24)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        stores.open()
        if site is not None:
            site.start()
        if indexer is not None:
            indexer.start()
        statistics.start()
        if downtime is not None:
            downtime.start()
        if copies is not None:
            copies.start()
        if messages is not None:
            messages.start()
        if watch is not None:
            watch.start()
        yield
        if messages is not None:
            messages.stop()
        if watch is not None:
            watch.stop()
        if copies is not None:
            copies.stop()
        if downtime is not None:
            downtime.stop()
        statistics.stop()
        if indexer is not None:
            indexer.stop()
        if site is not None:
            site.stop()
        await stores.aclose()
        await rate_limits.aclose()  # the connections to a shared Redis, if any
        readiness.close()
        executor.shutdown(wait=True)
        service.unauthenticated.flush()  # the last minutes' unauthenticated requests, before the trail closes
        if close_on_shutdown and recorder is not None:
            recorder.close()  # every record submitted is written first
        await service.repo.aclose()
        if close_on_shutdown:
            service.repo.close()

    web_login = login.WebLogin(service) if login_clock is None else login.WebLogin(service, login_clock, login_clock)
    stores = Stores.of(service.settings)  # the PACS the image proxy asks (issue 22)
    routes, access = page_routes(web_login, site, stores)
    watch = watch_for(service, site)  # the health probes that open and resolve incidents (issue 23)
    assets.manifest()  # the static files' hashes, once, at start
    for language in i18n.LANGUAGES:
        i18n.translations(language)  # a broken .po stops the start, not a page
    board = StatusBoard(service, site)
    rate_limits = RateLimits(service.settings)  # per address, account and app (web/rate_limits.py, issue 28)
    gate = Gate(service.settings)  # admission control by request class (web/admission.py, issue 28)
    readiness = ReadinessCheck(service.repo, service.settings.ready_timeout_ms / 1000, gate.shedding)  # /readyz

    def warnings() -> dict[str, Any]:
        skew = service.identity.skew.current()
        level = service.settings.threat_level
        return {
            "skew": abs(round(skew.offset)) if skew.warning(service.identity.skew.threshold) else None,
            "threat": level if level != "normal" else None,
        }

    def page_context(user: PageUser, language: str, path: str) -> PageContext:
        return PageContext(user, language, path, lambda: board.answer().status, warnings)

    middleware = [
        Middleware(with_error_pages),  # a failure of the middleware itself
        Middleware(PageMiddleware, web=web_login, routes=routes, access=access, context=page_context),
        Middleware(with_error_pages),  # the pages' errors, with the person and the language known
    ]
    starlette = Starlette(
        routes=routes,
        middleware=middleware,
        exception_handlers={HTTPException: http_exception_page},
        lifespan=lifespan,
    )
    pages = with_page_headers(starlette)
    # SMART discovery lives under the FHIR base but is no FHIR interaction, and needs no token.
    smart_configuration = PREFIX + "/.well-known/smart-configuration"

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        path = scope.get("path", "")
        if (
            scope["type"] == "http"
            and path != smart_configuration
            and (path == PREFIX or path.startswith(PREFIX + "/"))
        ):
            if bulk_export_path(path):
                await bulk_export(scope, receive, send)
                return
            await fhir_api(scope, receive, send)
        else:
            await pages(scope, receive, send)

    # The public status page from memory while its snapshot holds (web/status_cache.py), after the
    # Host check; the health probes before it (web/health.py); outermost, every request's correlation
    # id, log line and metrics (web/request_id.py).
    checked = host_checked(with_cached_status(app, board_of(str(service.settings.node_id))), service.settings, PREFIX)
    # Every request but the probes is admitted by class first: a flood is refused before any work.
    classifier = Classifier(service, web_login.sessions)  # who asks: for admission and the rate limits
    admitted = with_admission(checked, gate, classifier)
    # Before admission, the rate limits per address, account and app (web/rate_limits.py): a request
    # past its limit is refused without waiting for a slot.
    devices = KnownDevices(lambda: service.identity.kek, web_login.clock)  # browsers that have logged in here
    limited = with_rate_limits(admitted, rate_limits, classifier, devices, PREFIX)
    return with_request_id(with_health(limited, readiness), service.settings.node_id)
