"""The ASGI entry point for uvicorn worker processes: settings come from the environment."""

from __future__ import annotations

import gc

import uvicorn

from lifeline.config import from_environment, trusted_proxies_of
from lifeline.fhir.service import FhirService
from lifeline.telemetry import configure_logging
from lifeline.web import http_protocol, rate_limits, status_cache
from lifeline.web.app import ASGIApp, create_app, site_node
from lifeline.web.client_address import Proxies
from lifeline.web.http_protocol import Limits, OneWriteProtocol


def app_from_environment() -> ASGIApp:
    config = from_environment()
    configure_logging(config)  # each worker process's JSON log lines (telemetry.py)
    http_protocol.LIMITS = Limits(config.request_read_seconds, config.max_header_bytes)  # this worker's
    proxies = trusted_proxies_of(config)
    http_protocol.PROXIES = Proxies(proxies) if proxies else None
    return app_of(FhirService.open(config))


def app_of(service: FhirService) -> ASGIApp:
    """A worker's app around `service`, its definitions built now, not on the first request."""
    service.validator.resource_types  # noqa: B018
    service.registry  # noqa: B018
    app = create_app(service, site=site_node(service))
    status_cache.serve_quickly()  # this process serves this one app: its protocol may repeat /status
    rate_limits.serve_quickly()  # and answer the keys its rate limits refused lately
    # What lives as long as the worker (the definitions, the search registry, the app: 170,000
    # objects) leaves the cycle collector's care: every full collection walked all of it, and a
    # 5,000-entry transaction, whose parsed body makes hundreds of thousands of young objects,
    # ran 15% faster without that (docs/benchmarks.md, issue 26).
    gc.freeze()
    return app


def run(
    factory: str, *, host: str, port: int, workers: int, keep_alive_seconds: int = 5, shutdown_seconds: int = 30
) -> None:
    """uvicorn serving the app that `factory` (module:function) builds, as `lifeline serve` runs
    it: worker processes, the one-write HTTP protocol, no access log. Idle kept-alive connections
    close after `keep_alive_seconds`; on SIGTERM the listening socket closes at once and the
    requests in flight get `shutdown_seconds` to finish (issue 28). uvicorn's reading of
    X-Forwarded-For is off: the protocol reads it from LIFELINE_TRUSTED_PROXIES alone."""
    uvicorn.run(
        factory,
        factory=True,
        host=host,
        port=port,
        workers=workers,
        http=OneWriteProtocol,
        log_level="warning",
        access_log=False,
        timeout_keep_alive=keep_alive_seconds,
        timeout_graceful_shutdown=shutdown_seconds,
        proxy_headers=False,
    )
