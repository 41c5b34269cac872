"""The ASGI application: the FHIR API under /fhir, and the landing page."""

from __future__ import annotations

from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from lifeline.fhir.service import FhirService
from lifeline.web.fhir_api import fhir_endpoint

_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]


def create_app(service: FhirService, *, close_on_shutdown: bool = True) -> Starlette:
    # As many threads as the PostgreSQL pool has connections, so no thread waits for one.
    executor = ThreadPoolExecutor(max_workers=16, thread_name_prefix="lifeline-core")

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        executor.shutdown(wait=True)
        await service.repo.aclose()
        if close_on_shutdown:
            service.repo.close()

    async def home(request: object) -> PlainTextResponse:
        return PlainTextResponse("Lifeline regional health record. FHIR R4 API at /fhir (see /fhir/metadata).\n")

    app = Starlette(
        routes=[
            Route("/", home),
            Route("/fhir", fhir_endpoint, methods=_METHODS),
            Route("/fhir/{path:path}", fhir_endpoint, methods=_METHODS),
        ],
        lifespan=lifespan,
    )
    app.state.service = service
    app.state.executor = executor
    return app
