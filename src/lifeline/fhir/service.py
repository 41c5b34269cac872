"""The FHIR core: one entry point that takes a FhirRequest and a repository and answers.

Like medplum's FhirRouter, it knows nothing of HTTP: the web routes, the importer, transaction
bundles and the tests all call `FhirService.handle`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor, Future
from contextlib import contextmanager
from contextvars import ContextVar
from functools import cache, cached_property, partial
from types import ModuleType
from typing import TYPE_CHECKING, Any

from lifeline.clock import Clock, system_clock
from lifeline.config import Settings
from lifeline.errors import FhirError, MethodNotAllowed, UnknownResourceType
from lifeline.fhir import accessed
from lifeline.fhir.request import FhirRequest, FhirResponse
from lifeline.storage.repository import Repository
from lifeline.storage.write_session import REQUEST_TAG, WRITE_AUDIT

if TYPE_CHECKING:
    from lifeline.audit.outbox import WriteRecord
    from lifeline.audit.recorder import AuditRecorder
    from lifeline.audit.unauthenticated import UnauthenticatedTally
    from lifeline.fhir.acting import Acting, WriteThrough
    from lifeline.fhir.validation import Validator
    from lifeline.identity.node import NodeIdentity
    from lifeline.identity.principal import Principal
    from lifeline.search.registry import SearchRegistry
    from lifeline.storage.statistics import StatisticsKeeper


def _summary_written(done: Future[int]) -> None:
    """A summary of unauthenticated requests that could not be written is logged and counted."""
    if done.exception() is not None:
        from lifeline.fhir.acting import UNRECORDED

        logging.getLogger("lifeline.audit").error("a summary of unauthenticated requests was not recorded")
        UNRECORDED.inc()


@contextmanager
def writes_tagged(tag: str) -> Iterator[None]:
    """On a site node, the writes made in this context carry `tag` on their outbox rows, so the API
    can wait for the centre to take that request's writes (replication/site.py)."""
    token = REQUEST_TAG.set(tag)
    try:
        yield
    finally:
        REQUEST_TAG.reset(token)


class FhirService:
    def __init__(
        self,
        repo: Repository,
        settings: Settings | None = None,
        *,
        clock: Clock = system_clock,
        new_id: Callable[[], str] | None = None,
    ) -> None:
        import uuid

        self.repo = repo
        self.settings = settings or Settings()
        self.clock = clock
        self.new_id = new_id or (lambda: str(uuid.uuid4()))
        # Set by the server that runs this core (web/app.py): a site node's write-through, and
        # the worker threads the blocking core and drivers run in for callers on an event loop.
        self.site: WriteThrough | None = None
        self.executor: Executor | None = None

    @classmethod
    def open(cls, settings: Settings) -> FhirService:
        """The core over the database `settings` names: how the layers above get a store without
        importing storage themselves."""
        from lifeline.storage import open_repository

        return cls(
            open_repository(
                settings.db,
                node_id=settings.node_id,
                statement_timeout_ms=settings.statement_timeout_ms,
                replica_url=settings.db_replica,
            ),
            settings,
        )

    @cached_property
    def validator(self) -> Validator:
        from lifeline.fhir.validation import Validator

        return Validator(invariants=self.settings.invariants, empty_elements=self.settings.empty_elements)

    @cached_property
    def registry(self) -> SearchRegistry:
        from lifeline.search.registry import default_registry

        return default_registry()

    @cached_property
    def identity(self) -> NodeIdentity:
        """This node's signing key, key set and token check (identity/node.py)."""
        from lifeline.identity.node import NodeIdentity

        return NodeIdentity(self.repo, self.settings)

    @cached_property
    def auditor(self) -> AuditRecorder | None:
        """Group-committed access records (audit/recorder.py). Never None here: only the service
        the benchmarks build to measure what the trail costs (bench/service.py) keeps none."""
        from lifeline.audit.recorder import AuditRecorder

        return AuditRecorder(self.repo, self.settings.node_id)

    @cached_property
    def unauthenticated(self) -> UnauthenticatedTally:
        """The requests without valid credentials, summarised per address and minute instead of
        one audit record each (audit/unauthenticated.py, issue 28)."""
        from lifeline.audit.unauthenticated import UnauthenticatedTally

        def submit(event: dict[str, Any]) -> None:
            auditor = self.auditor
            if auditor is not None:
                auditor.submit(event).add_done_callback(_summary_written)

        return UnauthenticatedTally(self.settings.node_id, self.clock, submit)

    def check_type(self, resource_type: str | None) -> str:
        if resource_type is None or not self.validator.is_resource_type(resource_type):
            raise UnknownResourceType(f"Unknown resource type {resource_type!r}")
        return resource_type

    def authorize(self, request: FhirRequest) -> None:
        """The scope gate (identity/authorize.py); every interaction passes it first. The audit
        trail is written by Lifeline alone: AuditEvent cannot be created, changed or deleted
        through the API (issue 6), by anyone."""
        from lifeline.identity import authorize

        if request.resource_type == "AuditEvent" and request.interaction in _WRITES:
            raise MethodNotAllowed("AuditEvent is written by Lifeline itself and can be read, never written")
        authorize.check(request)

    def handle(self, request: FhirRequest) -> FhirResponse:
        """Answer one request, with the account of what the answer holds (`FhirResponse.accessed`,
        `patients`: fhir/accessed.py) and each of its writes' audit records in the write's own
        transaction (audit/outbox.py). A batch's or transaction's entries, answered inside it,
        are part of its account."""
        if _IN_REQUEST.get() or request.interaction == "capabilities":
            return self._answer(request)
        written = self._write_record(request)
        outer = _IN_REQUEST.set(True)
        audit = WRITE_AUDIT.set(written)
        try:
            response = self._answer(request)
        finally:
            WRITE_AUDIT.reset(audit)
            _IN_REQUEST.reset(outer)
            self._drain_soon(written)
        return self._accounted(request, response, written)

    def _answer(self, request: FhirRequest) -> FhirResponse:
        self.authorize(request)
        module = _interaction_module(request)
        if request.resource_type == "AuditEvent" and request.interaction in _AUDIT_TRAIL_READS:
            module = _audit_events()  # answered from the audit trail, not the record store
        if request.resource_type is not None:
            self.check_type(request.resource_type)
        return module.handle(self, request)  # type: ignore[no-any-return]

    def _write_record(self, request: FhirRequest, exchange: str | None = None) -> WriteRecord:
        from lifeline.access.ties import record_params
        from lifeline.audit.outbox import WriteRecord

        return WriteRecord(
            request,
            accessed.asked_about(request),
            node_id=self.settings.node_id,
            ties=partial(record_params, self.registry),
            exchange=exchange,
        )

    @contextmanager
    def bulk_writes(self, request: FhirRequest, name: str) -> Iterator[None]:
        """Inside, every write transaction (an import's rows, written past the interactions)
        carries the audit record of what it wrote, as `request`'s person: fhir/acting.py."""
        written = self._write_record(request, exchange=name)
        audit = WRITE_AUDIT.set(written)
        try:
            yield
        finally:
            WRITE_AUDIT.reset(audit)
            self._drain_soon(written)

    def _accounted(self, request: FhirRequest, response: FhirResponse, written: WriteRecord) -> FhirResponse:
        accessed.account(self, request, response, written.written)
        # Recorded with its writes when they are all it holds (reads need a record of their own).
        response.recorded = bool(written.written) and all(key in written.written for key in response.accessed)
        return response

    def _drain_soon(self, written: WriteRecord) -> None:
        """The writes' records are in the outbox: the recorder moves them into the chain soon."""
        recorder = self.__dict__.get("auditor")  # only a running one: a command leaves it to the server
        if written.written and recorder is not None:
            recorder.drain_soon()

    def access_record(
        self,
        request: FhirRequest | None,
        status: int,
        response: FhirResponse | None,
        address: str | None = None,
        purpose: str | None = None,
    ) -> dict[str, Any]:
        """The audit record of an answer from the core's account of it (or, for a failure, of what
        was asked): audit/access.py. The entry (fhir/acting.py) submits it to the recorder."""
        from lifeline.audit.access import access_event

        if request is None:
            keys: list[tuple[str, str]] = []
            patients: list[str] = []
            whose: dict[tuple[str, str], list[str]] = {}
        elif response is None:
            keys, patients, whose = accessed.requested(request), accessed.asked_about(request), {}
        else:
            keys, patients, whose = response.accessed, response.patients, response.whose
        return access_event(
            request,
            status,
            resources=[f"{res_type}/{res_id}" for res_type, res_id in keys],
            patients=patients,
            whose={f"{res_type}/{res_id}": owners for (res_type, res_id), owners in whose.items()},
            node_id=self.settings.node_id,
            address=address if address is not None else request.address if request is not None else None,
            recorded=self.clock(),  # the clock the grants and versions it may name use
            purpose=purpose,
        )

    def exchange_record(
        self,
        name: str,
        status: int,
        principal: Principal | None,
        *,
        resources: Sequence[str],
        patients: Sequence[str],
        query: str | None,
        address: str | None,
        purpose: str | None,
    ) -> dict[str, Any]:
        """The audit record of an exchange that is no FHIR interaction (fhir/acting.py)."""
        from lifeline.audit.access import access_event

        return access_event(
            None,
            status,
            resources=resources,
            patients=patients,
            node_id=self.settings.node_id,
            address=address,
            recorded=self.clock(),
            purpose=purpose,
            exchange=name,
            principal=principal,
            query=query,
        )

    def statistics_keeper(self) -> StatisticsKeeper:
        """The background thread that keeps the planner's statistics of this core's store current
        (storage/statistics.py), for the node's lifespan to start and stop."""
        from lifeline.storage.statistics import StatisticsKeeper

        return StatisticsKeeper(self.repo)

    def as_user(self, principal: Principal | None, address: str | None = None, purpose: str | None = None) -> Acting:
        """The core acting as `principal`: every call authorised, filtered, audited, written
        through at a site and counted (fhir/acting.py). The one entry of every caller."""
        from lifeline.fhir.acting import Acting

        return Acting(self, principal, address, purpose)

    def has_async_form(self, request: FhirRequest) -> bool:
        """Whether `handle_async` can answer: a read by id, and a create that reads nothing
        (no If-None-Exist) where the backend sends writes from an event loop."""
        # Staff and patients meet the access policy, which reads more than the row.
        from lifeline.access.enforce import restricted

        if restricted(self, request) or request.resource_type == "AuditEvent":
            return False
        from lifeline.fhir import rules

        if rules.applies(request.resource_type or ""):
            return False  # a logistics rule reads and locks in the write (fhir/rules): a worker thread's write
        if request.interaction == "read":
            return True
        return request.interaction == "create" and not request.if_none_exist and self.repo.writes_async

    async def handle_async(self, request: FhirRequest) -> FhirResponse:
        """The event-loop form of the interactions `has_async_form` names; every other
        interaction runs through `handle` in a worker thread."""
        module = self._async_interaction(request)
        written = self._write_record(request)
        audit = WRITE_AUDIT.set(written)
        try:
            response = await module.handle_async(self, request)
        finally:
            WRITE_AUDIT.reset(audit)
            self._drain_soon(written)
        # A read's patients come from its content and a create's from its write: no query here.
        return self._accounted(request, response, written)

    def _async_interaction(self, request: FhirRequest) -> ModuleType:
        """The module that answers an event-loop interaction, once the request may be answered."""
        from lifeline.fhir.interactions import create, read

        if not self.has_async_form(request):
            raise FhirError(f"{request.interaction} has no event-loop form here; call handle")
        self.authorize(request)
        self.check_type(request.resource_type)
        return read if request.interaction == "read" else create


_WRITES = frozenset({"create", "update", "patch", "delete"})
# Inside a request being answered (a batch's entries): the outer request accounts for them.
_IN_REQUEST: ContextVar[bool] = ContextVar("lifeline_in_request", default=False)
_AUDIT_TRAIL_READS = frozenset({"read", "search"})


def _audit_events() -> ModuleType:
    from lifeline.fhir.interactions import audit_events

    return audit_events


@cache
def _modules() -> dict[str, ModuleType]:
    from lifeline.fhir import interactions as i
    from lifeline.fhir.interactions import audit_review, break_glass, conflicts
    from lifeline.fhir.interactions import scheduling as appointment_scheduling  # issue 24

    return {
        "read": i.read,
        "vread": i.vread,
        "create": i.create,
        "update": i.update,
        "patch": i.patch,
        "delete": i.delete,
        "history": i.history,
        "search": i.search,
        "capabilities": i.capabilities,
        "transaction": i.transaction,
        "$validate": i.validate,  # operations, by name
        "$everything": i.everything,
        "$break-the-glass": break_glass,
        "$conflicts": conflicts,
        "$review": audit_review,
        "$resolve-conflict": conflicts,
        **dict.fromkeys(appointment_scheduling.OPERATIONS, appointment_scheduling),  # $find $hold $book $waiting-list
    }


def _interaction_module(request: FhirRequest) -> ModuleType:
    modules = _modules()
    if request.interaction == "operation":
        if request.operation not in modules or not (request.operation or "").startswith("$"):
            raise MethodNotAllowed(f"Operation {request.operation} is not supported")
        return modules[request.operation]  # type: ignore[index]
    if request.interaction not in modules:
        raise FhirError(f"Unknown interaction {request.interaction}")
    return modules[request.interaction]
