"""The ASGI application: the FHIR API under /fhir (a plain ASGI app), the rest through Starlette
(the landing page now; the clinician pages, the portal and the status page to come).

Outermost, the Host check (web/hosts.py) refuses a request naming a host this node does not
answer for; every answer of the pages forbids framing (web/security_headers.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from lifeline.audit.index import Indexer as AuditIndexer
from lifeline.fhir.service import FhirService
from lifeline.replication.central_client import CentralClient
from lifeline.replication.site import SiteNode
from lifeline.web import citizen_login, conflicts_page, login, oauth, passkeys, replication_api
from lifeline.web.fhir_api import PREFIX, FhirApi
from lifeline.web.hosts import host_checked
from lifeline.web.security_headers import with_page_headers

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
    fhir_api = FhirApi(service, executor, site)

    indexer = AuditIndexer(service.repo) if recorder is not None else None

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if site is not None:
            site.start()
        if indexer is not None:
            indexer.start()
        yield
        if indexer is not None:
            indexer.stop()
        if site is not None:
            site.stop()
        executor.shutdown(wait=True)
        if close_on_shutdown and recorder is not None:
            recorder.close()  # every record submitted is written first
        await service.repo.aclose()
        if close_on_shutdown:
            service.repo.close()

    async def home(request: object) -> PlainTextResponse:
        return PlainTextResponse("Lifeline regional health record. FHIR R4 API at /fhir (see /fhir/metadata).\n")

    web_login = login.WebLogin(service) if login_clock is None else login.WebLogin(service, login_clock, login_clock)
    routes = [Route("/", home), *login.routes(web_login), *passkeys.routes(web_login)]
    routes += [*citizen_login.routes(web_login), *oauth.routes(web_login), *replication_api.routes(service, site)]
    routes += conflicts_page.routes(web_login, site)
    pages = with_page_headers(Starlette(routes=routes, lifespan=lifespan))
    # SMART discovery lives under the FHIR base but is no FHIR interaction, and needs no token.
    smart_configuration = PREFIX + "/.well-known/smart-configuration"

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        path = scope.get("path", "")
        if (
            scope["type"] == "http"
            and path != smart_configuration
            and (path == PREFIX or path.startswith(PREFIX + "/"))
        ):
            await fhir_api(scope, receive, send)
        else:
            await pages(scope, receive, send)

    return host_checked(app, service.settings, PREFIX)
