"""Lifeline without authorisation or without its audit trail, for measuring what each costs
(`python -m bench`, `python -m bench.replication`); not a way to run Lifeline.

The product has no setting that switches either off (issue 20): only the benchmarks build this
service, and bench/server.py serves it as `lifeline serve` serves the real one.

- `authorisation=False`: no scope gate (identity/authorize.py). The benchmarks read with a
  system token whose scopes reach every type, which the access policy leaves unrestricted, so the
  gate is what authorisation costs their reads.
- `trail="off"`: no audit records at all, neither of the answers nor of the writes.
- `trail="file"`: every record made durable in the cheapest way there is (bench/ceiling.py).
"""

from __future__ import annotations

from functools import cached_property
from typing import Literal

from bench.ceiling import FileRecorder
from lifeline.audit.recorder import AuditRecorder
from lifeline.config import Settings
from lifeline.fhir.request import FhirRequest, FhirResponse
from lifeline.fhir.service import FhirService
from lifeline.storage.repository import Repository

Trail = Literal["on", "off", "file"]


class BenchService(FhirService):
    def __init__(
        self, repo: Repository, settings: Settings, *, authorisation: bool = True, trail: Trail = "on"
    ) -> None:
        super().__init__(repo, settings)
        self.authorisation = authorisation
        self.trail = trail

    def authorize(self, request: FhirRequest) -> None:
        if self.authorisation:
            super().authorize(request)

    @cached_property
    def auditor(self) -> AuditRecorder | None:
        if self.trail == "off":
            return None  # the adapters then record no access
        if self.trail == "file":
            return FileRecorder(self.repo, self.settings.node_id)
        return super().auditor

    def handle(self, request: FhirRequest) -> FhirResponse:
        if self.trail != "off":
            return super().handle(request)
        return self._answer(request)  # without the writes' records and the account of the answer

    async def handle_async(self, request: FhirRequest) -> FhirResponse:
        if self.trail != "off":
            return await super().handle_async(request)
        return await self._async_interaction(request).handle_async(self, request)
