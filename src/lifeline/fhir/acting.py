"""The core acting as one person: the one audited entry of every caller (issue 20).

`FhirService.as_user(principal, address, purpose)` gives a handle bound to whoever is asking.
Every call through it is, in this order:

1. authorised by the token's scopes and filtered by the access rule (the core does both for the
   principal on the request: identity/authorize.py, lifeline/access);
2. at a site node, written through to the centre (a write the centre refuses is a 409; the site
   is told by `WriteThrough`, which replication/site.py implements);
3. audited: the record is built from the core's account of the answer (fhir/accessed.py: which
   resources, which patients), never from response bytes, and is durable before the answer is
   released; if it cannot be made durable the caller gets `StorageUnavailable` (503) and no data.
   A failure is recorded too, then raised. A write's record is already durable with the write
   (audit/outbox.py), so nothing is left to wait for;
4. counted, by interaction and outcome, for /metrics.

The API adapter (web/fhir_api.py), the pages, the replication endpoints and the command line
all ask through it (medplum builds its repository per request with the author and access policy
in the same way: server/src/fhir/repo.ts). `exchange` is the same entry for what is not a FHIR
interaction: a replication page, a bulk import or export.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager as ContextManager
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from prometheus_client import CollectorRegistry, Counter

from lifeline import replica_route
from lifeline.errors import Conflict, FhirError, Issue, StorageUnavailable
from lifeline.fhir.request import FhirRequest, FhirResponse

if TYPE_CHECKING:
    from lifeline.fhir.service import FhirService
    from lifeline.identity.principal import Principal

log = logging.getLogger("lifeline.fhir")
T = TypeVar("T")

# How long an answer waits for its audit record before it is refused instead (a stuck trail).
AUDIT_WAIT_SECONDS = 30
# The CapabilityStatement is public and holds no one's data: its reads are not audited.
UNAUDITED = frozenset({"capabilities"})
# Interactions that never write: a site answers them from its replica with no word to the centre.
READS = frozenset({"read", "vread", "search", "history", "capabilities"})
# Interactions that only read one row: on a backend whose reads never wait (SQLite in WAL mode)
# they run on the event loop, sparing the hop to a worker thread.
_INLINE = frozenset({"read", "vread", "capabilities"})
_READ_ONLY_OPERATIONS = frozenset({"$everything"})  # operations that write nothing
NOT_RECORDED = "The access could not be recorded in the audit trail, so nothing was sent"
REJECTED_AT_CENTRE = (
    "Another hospital changed this record first, and this site had not seen that change yet;"
    " nothing was saved. Reload it and make your change again."
)

# What every node counts of the calls through the entry (/metrics, replication/status.py).
METRICS = CollectorRegistry()
ANSWERS = Counter(
    "lifeline_answers",
    "Calls answered through the core's audited entry, by interaction, principal kind and outcome",
    ["interaction", "kind", "outcome"],
    registry=METRICS,
)
_COUNTERS: dict[tuple[str, str, str], Any] = {}
UNRECORDED = Counter(
    "lifeline_audit_refusals",
    "Answers withheld (503) because their audit record could not be made durable",
    registry=METRICS,
)
UNAUTHENTICATED = Counter(
    "lifeline_unauthenticated_requests",
    "Requests without valid credentials, answered 401 and summarised in the audit trail per address and minute",
    registry=METRICS,
)


class WriteThrough(Protocol):
    """A site node's hold on its writes (replication/site.py): a request's writes carry a tag, and
    the answer waits until the centre has taken (or refused) what was written under it."""

    def begin_write(self) -> str: ...

    def write_through(self, tag: str) -> Any: ...  # an outcome with `.state` and `.rejected`


@dataclass
class Exchanged:
    """What an exchange that is no FHIR interaction answered, and what its record names."""

    answer: Any
    resources: Sequence[str] = ()  # Type/id references
    patients: Sequence[str] = ()
    query: str | None = None  # what was asked, in words the trail keeps (a feed position, a file)
    quiet: bool = False  # nothing of anyone's was sent (an empty feed page): no record to keep


@dataclass
class Acting:
    """The core, acting as `principal` (None: nobody logged in) from `address` for `purpose`
    (a v3 PurposeOfUse code such as TREAT or ETREAT, kept in each record)."""

    service: FhirService
    principal: Principal | None
    address: str | None = None
    purpose: str | None = None
    _kind: str = field(init=False, default="anonymous")

    def __post_init__(self) -> None:
        self._kind = self.principal.kind if self.principal is not None else "anonymous"

    # FHIR interactions.

    def handle(self, request: FhirRequest) -> FhirResponse:
        """Answer `request` as this person, blocking: for worker threads and the command line."""
        self._bind(request)
        try:
            with self._reads_routed(request):
                response = self._written_through(request, lambda: self.service.handle(request))
        except Exception as error:
            self._refused(request, error)
            raise
        if self._needs_record(request, response):
            self._record(
                lambda: self.service.access_record(request, response.status, response, self.address, self.purpose)
            )
        self._count(request.interaction, response.status)
        return response

    async def handle_async(self, request: FhirRequest) -> FhirResponse:
        """`handle` for a caller on an event loop: the core runs in a worker thread (with this
        request's context: a site tags its outbox rows with the request), or on the loop for a
        read by id where the backend allows; the record is group-committed with others."""
        self._bind(request)
        try:
            with self._reads_routed(request):  # set before the worker thread copies the context
                response = await self._answer_async(request)
        except Exception as error:
            await self._refused_async(request, error)
            raise
        if self._needs_record(request, response):
            await self._record_async(
                lambda: self.service.access_record(request, response.status, response, self.address, self.purpose)
            )
        self._count(request.interaction, response.status)
        return response

    async def refused_before_asking(self, error: BaseException, status: int) -> None:
        """Record a request that failed before it could be put to the core (a bad token, a body
        that is no JSON): who and from where is all there is to say."""
        if not self._tallied(status):
            await self._record_async(lambda: self.service.access_record(None, status, None, self.address, self.purpose))
        self._count("unknown", status)

    # Exchanges that are no FHIR interaction.

    def exchange(self, subtype: str, work: Callable[[], Exchanged]) -> Any:
        """Run `work` as this person and release its answer once its record, naming what
        `work` says it touched, is durable (a failure is recorded too, then raised)."""
        try:
            done = work()
        except Exception as error:
            status = _status_of(error)
            self._record(lambda: self._exchange_event(subtype, status, Exchanged(None)))
            self._count(subtype, status)
            raise
        if not done.quiet:
            self._record(lambda: self._exchange_event(subtype, 200, done))
        self._count(subtype, 200)
        return done.answer

    async def exchange_async(self, subtype: str, work: Callable[[], Exchanged]) -> Any:
        """`exchange` for a caller on an event loop: `work` runs in a worker thread (with this
        request's context), its record is group-committed with others (the image proxy: one
        record per frame a viewer asks for)."""
        context = contextvars.copy_context()
        try:
            done = await asyncio.get_running_loop().run_in_executor(self.service.executor, context.run, work)
        except Exception as error:
            status = _status_of(error)
            await self._record_async(lambda: self._exchange_event(subtype, status, Exchanged(None)))
            self._count(subtype, status)
            raise
        if not done.quiet:
            await self._record_async(lambda: self._exchange_event(subtype, 200, done))
        self._count(subtype, 200)
        return done.answer

    def within(self, request: FhirRequest) -> FhirResponse:
        """Answer `request` as this person, authorised and filtered like any call, but with no
        record of its own: only inside an exchange's `work`, whose record names what it found
        (a read that cannot be answered raises, and the exchange records the refusal)."""
        self._bind(request)
        if request.interaction not in READS:
            raise ValueError("within() only reads: a write goes through handle()")
        return self.service.handle(request)

    @contextmanager
    def writing(self, name: str) -> Iterator[None]:
        """Bulk writes past the interactions (an import's rows) as this person: each write
        transaction inside carries the record of what it wrote, in that transaction, so an
        import that cannot be recorded writes nothing (audit/outbox.py)."""
        request = FhirRequest("operation", operation=f"${name}")
        self._bind(request)
        try:
            with self.service.bulk_writes(request, name):
                yield
        except Exception as error:
            self._count(name, _status_of(error))
            raise
        self._count(name, 200)

    # The steps.

    def _reads_routed(self, request: FhirRequest) -> ContextManager[None]:
        """Who asks, and whether the request only reads: with a read replica its reads may go
        there, once the replica has this person's own last write (lifeline/replica_route.py)."""
        who = f"{self.principal.kind}:{self.principal.subject}" if self.principal is not None else None
        reads_only = request.interaction in READS or (
            request.interaction == "operation" and request.operation in _READ_ONLY_OPERATIONS
        )
        return replica_route.asking(who, reads_only)

    def _bind(self, request: FhirRequest) -> None:
        request.principal = self.principal
        request.address = self.address
        request.purpose = request.purpose or self.purpose

    def _written_through(self, request: FhirRequest, answer: Callable[[], FhirResponse]) -> FhirResponse:
        site = self.service.site
        if site is None or request.interaction in READS:
            return answer()
        from lifeline.fhir.service import writes_tagged

        tag = site.begin_write()
        try:
            with writes_tagged(tag):
                response = answer()
        finally:
            outcome = site.write_through(tag)
        if outcome.state == "rejected":
            refused = [
                Issue("information", "informational", f"Refused by the central node: {r}") for r in outcome.rejected
            ]
            raise Conflict(REJECTED_AT_CENTRE, [Issue("error", "conflict", REJECTED_AT_CENTRE), *refused])
        return response

    async def _answer_async(self, request: FhirRequest) -> FhirResponse:
        service = self.service
        if service.site is None or request.interaction in READS:
            if service.repo.reads_never_wait and request.interaction in _INLINE:
                return service.handle(request)
            if service.has_async_form(request):
                return await service.handle_async(request)
        context = contextvars.copy_context()

        def threaded() -> FhirResponse:
            return self._written_through(request, lambda: service.handle(request))

        return await asyncio.get_running_loop().run_in_executor(service.executor, context.run, threaded)

    def _needs_record(self, request: FhirRequest, response: FhirResponse) -> bool:
        # A write's record is durable with the write (audit/outbox.py): nothing left to wait for.
        return request.interaction not in UNAUDITED and not response.recorded

    def _refused(self, request: FhirRequest, error: BaseException) -> None:
        status = _status_of(error)
        if request.interaction not in UNAUDITED and not self._tallied(status):
            self._record(lambda: self.service.access_record(request, status, None, self.address, self.purpose))
        self._count(request.interaction, status)

    def _tallied(self, status: int) -> bool:
        """A 401 to nobody (no token, or one that does not hold) is counted per address and minute,
        one audit record for each (audit/unauthenticated.py), not one record per request."""
        if status != 401 or self.principal is not None:
            return False
        UNAUTHENTICATED.inc()
        self.service.unauthenticated.note(self.address)
        return True

    async def _refused_async(self, request: FhirRequest, error: BaseException) -> None:
        status = _status_of(error)
        if request.interaction not in UNAUDITED and not self._tallied(status):
            await self._record_async(
                lambda: self.service.access_record(request, status, None, self.address, self.purpose)
            )
        self._count(request.interaction, status)

    def _record(self, event: Callable[[], dict[str, Any]]) -> None:
        """Make the record `event` builds durable, or refuse the answer (StorageUnavailable)."""
        auditor = self.service.auditor
        if auditor is None:
            return  # only the benchmarks' service without a trail (bench/service.py)
        try:
            auditor.submit(event()).result(timeout=AUDIT_WAIT_SECONDS)
        except Exception:  # noqa: BLE001 - whatever stopped the record, the data stays here
            self._unrecorded()

    async def _record_async(self, event: Callable[[], dict[str, Any]]) -> None:
        auditor = self.service.auditor
        if auditor is None:
            return
        try:
            async with asyncio.timeout(AUDIT_WAIT_SECONDS):  # in this task: wait_for would start one
                await auditor.submit_async(event())
        except Exception:  # noqa: BLE001 - whatever stopped the record, the data stays here
            self._unrecorded()

    def _unrecorded(self) -> None:
        log.exception("an access could not be recorded in the audit trail")
        UNRECORDED.inc()
        raise StorageUnavailable(NOT_RECORDED) from None

    def _exchange_event(self, subtype: str, status: int, done: Exchanged) -> dict[str, Any]:
        return self.service.exchange_record(
            subtype,
            status,
            self.principal,
            resources=done.resources,
            patients=done.patients,
            query=done.query,
            address=self.address,
            purpose=self.purpose,
        )

    def _count(self, interaction: str, status: int) -> None:
        outcome = "ok" if status < 400 else "refused" if status < 500 else "failed"
        key = (interaction, self._kind, outcome)
        counter = _COUNTERS.get(key)
        if counter is None:  # a label lookup takes a lock: each series is looked up once
            counter = _COUNTERS.setdefault(key, ANSWERS.labels(*key))
        counter.inc()


def _status_of(error: BaseException) -> int:
    return error.status if isinstance(error, FhirError) else 500
