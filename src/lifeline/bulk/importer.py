"""`lifeline import`: load resources in batches, each batch one transaction.

Safe to re-run: a resource with an id is written as an update of that id, and one whose content
equals the stored current version is skipped, so a second run writes nothing new. A resource
without an id gets one derived from its content, for the same reason. Every resource is
validated before its batch is written; a bad one stops the import, naming its line, and the
batch it belonged to is not written (earlier batches stay).

A large first load into an empty store (`first_load`) runs with the secondary indexes dropped and
builds them at its end (storage/deferred_indexes.py).

Validation and index extraction (bulk/prepare.py) run in worker processes once an import is
large enough to fill a batch, preparing the next batch while this one is written."""

from __future__ import annotations

import contextvars
import multiprocessing
import os
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from lifeline import jsontext
from lifeline.bulk.prepare import Prepared, Preparer, Rejected, prepare_chunk, start_worker
from lifeline.bulk.sources import SourceItem
from lifeline.errors import BadRequest, FhirError
from lifeline.fhir import writes
from lifeline.fhir.request import FhirRequest
from lifeline.fhir.service import FhirService
from lifeline.identity.principal import OPERATOR
from lifeline.storage.records import StoredVersion
from lifeline.storage.repository import Repository
from lifeline.storage.write_session import WriteSession


@dataclass
class ImportStats:
    written: int = 0
    unchanged: int = 0
    transactions: int = 0
    by_type: dict[str, int] = field(default_factory=dict)

    def count(self, res_type: str) -> None:
        self.written += 1
        self.by_type[res_type] = self.by_type.get(res_type, 0) + 1

    def merge(self, other: ImportStats) -> None:
        self.written += other.written
        self.unchanged += other.unchanged
        self.transactions += other.transactions
        for res_type, n in other.by_type.items():
            self.by_type[res_type] = self.by_type.get(res_type, 0) + n


@contextmanager
def first_load(
    repo: Repository, input_bytes: int, on_index: Callable[[str], None] = lambda name: None
) -> Iterator[int]:
    """Around the imports of one load: when the store is empty and the input large, drop the
    secondary indexes and build them at the end. Yields how many were dropped (0: not deferred)."""
    with repo.reading() as session:
        empty = not session.has_resources()
    if not empty or input_bytes < repo.first_load_bytes:
        yield 0
        return
    with repo.indexes_deferred(on_index) as dropped:
        yield dropped
    repo.analyze()  # the planner's statistics cover the rebuilt indexes too


def import_items(
    service: FhirService,
    items: Iterable[SourceItem],
    *,
    batch_size: int = 500,
    on_progress: Callable[[int], None] = lambda n: None,
    workers: int | None = None,
) -> ImportStats:
    stats = ImportStats()
    workers = workers if workers is not None else (os.cpu_count() or 1)
    with _Preparation(service, workers) as preparation, _Writers(service, stats, on_progress) as writers:
        in_flight: tuple[str, Any] | None = None  # a batch being prepared while the one before is written
        for kind, payload in _batches(items, batch_size):
            if kind == "bundle":
                if in_flight is not None:
                    writers.submit(preparation.results(in_flight))
                    in_flight = None
                writers.drain()
                _run_bundle(service, payload[0], stats)
                on_progress(len(payload[0].resource.get("entry") or []))
                continue
            submitted = preparation.submit(payload, full=len(payload) >= batch_size)
            if in_flight is not None:
                writers.submit(preparation.results(in_flight))
            in_flight = submitted
        if in_flight is not None:
            writers.submit(preparation.results(in_flight))
    if stats.written or stats.transactions:
        service.repo.analyze()  # a bulk load changes what the planner should expect
    return stats


class _Writers:
    """Writes prepared batches, each in its own transaction. Where the database serves writers
    in parallel (PostgreSQL: one server process a connection), two batches are written at once,
    so that its work spreads over two cores; a batch that shares a resource with one still being
    written waits for it, so that the later line of the input still wins. Where writers take
    turns anyway (SQLite) the batches are written one after the other on this thread."""

    def __init__(self, service: FhirService, stats: ImportStats, on_progress: Callable[[int], None]) -> None:
        self.service = service
        self.stats = stats
        self.on_progress = on_progress
        self.parallel = 2 if service.repo.parallel_writers else 1
        self.pool = ThreadPoolExecutor(self.parallel) if self.parallel > 1 else None
        self.running: list[tuple[set[tuple[str, str]], Future[tuple[int, list[str], int]]]] = []

    def __enter__(self) -> _Writers:
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self.drain()
        finally:
            if self.pool is not None:
                self.pool.shutdown()

    def submit(self, prepared: tuple[str, list[Prepared | Rejected]]) -> None:
        instant, results = prepared
        for result in results:
            if isinstance(result, Rejected):
                self.drain()  # the batches before this one stay written
                raise result.error()
        batch = [r for r in results if isinstance(r, Prepared)]
        if self.pool is None:
            self._account(_write(self.service, instant, batch))
            return
        keys = {(p.res_type, p.res_id) for p in batch}
        for other_keys, future in list(self.running):
            if len(self.running) >= self.parallel or not keys.isdisjoint(other_keys):
                self._finish(other_keys, future)
        # In this thread's context: the write's audit record (fhir/acting.py `writing`) rides along.
        context = contextvars.copy_context()
        self.running.append((keys, self.pool.submit(context.run, _write, self.service, instant, batch)))

    def drain(self) -> None:
        while self.running:
            self._finish(*self.running[0])

    def _finish(self, keys: set[tuple[str, str]], future: Future[tuple[int, list[str], int]]) -> None:
        self.running.remove((keys, future))
        self._account(future.result())

    def _account(self, outcome: tuple[int, list[str], int]) -> None:
        unchanged, written, size = outcome
        self.stats.unchanged += unchanged
        for res_type in written:
            self.stats.count(res_type)
        self.on_progress(size)


def _batches(items: Iterable[SourceItem], size: int) -> Iterator[tuple[str, list[SourceItem]]]:
    batch: list[SourceItem] = []
    for item in items:
        resource = item.resource
        if (
            isinstance(resource, dict)
            and resource.get("resourceType") == "Bundle"
            and resource.get("type")
            in (
                "transaction",
                "batch",
            )
        ):
            if batch:
                yield "resources", batch
                batch = []
            yield "bundle", [item]
            continue
        batch.append(item)
        if len(batch) >= size:
            yield "resources", batch
            batch = []
    if batch:
        yield "resources", batch


class _Preparation:
    """Prepares batches in worker processes, started on the first full batch; small imports (and
    `workers=1`) prepare in this process."""

    def __init__(self, service: FhirService, workers: int) -> None:
        self.service = service
        self.workers = workers
        self.pool: ProcessPoolExecutor | None = None
        self.copies_text = service.repo.dialect.copies_text
        self.local = Preparer(service.validator, service.registry, copies_text=self.copies_text)

    def __enter__(self) -> _Preparation:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.pool is not None:
            self.pool.shutdown(cancel_futures=True)

    def submit(self, batch: list[SourceItem], *, full: bool) -> tuple[str, Any]:
        instant = writes.now(self.service)
        pairs = [(item.where, item.resource) for item in batch]
        if self.workers > 1 and full and self.pool is None:
            self.pool = ProcessPoolExecutor(
                self.workers,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=start_worker,
                initargs=(_import_invariants(self.service.settings.invariants), self.copies_text, os.getpid()),
            )
        if self.pool is None:
            return instant, [self.local.prepare(where, resource, instant) for where, resource in pairs]
        step = -(-len(pairs) // self.workers)
        return instant, [
            self.pool.submit(prepare_chunk, pairs[i : i + step], instant) for i in range(0, len(pairs), step)
        ]

    def results(self, submitted: tuple[str, Any]) -> tuple[str, list[Prepared | Rejected]]:
        instant, parts = submitted
        if parts and isinstance(parts[0], Future):
            return instant, [result for future in parts for result in future.result()]
        return instant, parts


def _import_invariants(mode: str) -> str:
    """An import has nobody to show warnings to: invariants are evaluated only where they can
    refuse a resource (strict mode)."""
    return "strict" if mode == "strict" else "off"


def _write(service: FhirService, instant: str, batch: list[Prepared]) -> tuple[int, list[str], int]:
    """Write one prepared batch in one transaction: (unchanged, the types written, batch size)."""

    def work(session: WriteSession) -> tuple[int, list[str]]:
        unchanged = 0
        written: list[str] = []
        currents = session.read_many_for_update([(p.res_type, p.res_id) for p in batch])
        for item in batch:
            res_type, res_id = item.res_type, item.res_id
            current = currents.get((res_type, res_id))
            if current is None:
                version = session.put_version(res_type, res_id, None, instant, item.content, index=item.rows).version_id
            elif not current.deleted and _same(current.content, jsontext.loads(item.content)):
                unchanged += 1
                continue
            else:
                _, version = writes.store(
                    service,
                    session,
                    res_type,
                    res_id,
                    jsontext.loads(item.content),
                    previous=current,
                    method="PUT",
                    instant=instant,
                )
            # A later duplicate in the same batch replaces this version.
            currents[(res_type, res_id)] = StoredVersion(res_type, res_id, version, instant, False, None)
            written.append(res_type)
        return unchanged, written

    (unchanged, written), _ = service.repo.write(work)
    return unchanged, written, len(batch)


def _run_bundle(service: FhirService, item: SourceItem, stats: ImportStats) -> None:
    try:
        request = FhirRequest("transaction", body=item.resource, prefer_return="minimal", principal=OPERATOR)
        response = service.handle(request)
    except FhirError as error:
        raise BadRequest(f"{item.where}: {error.message}", error.issues) from None
    stats.transactions += 1
    for entry in (response.resource or {}).get("entry", []):
        status = entry.get("response", {}).get("status", "")
        location = entry.get("response", {}).get("location", "")
        if status.startswith("201"):
            # location: {base}/{type}/{id}/_history/{version}
            stats.count(location.split("/")[-4] if location else "?")
        elif status.startswith("200"):
            stats.unchanged += 1


def _same(stored: str | None, resource: dict[str, Any]) -> bool:
    if stored is None:
        return False
    return _without_version_meta(jsontext.loads(stored)) == _without_version_meta(resource)


def _without_version_meta(resource: dict[str, Any]) -> dict[str, Any]:
    meta = {k: v for k, v in (resource.get("meta") or {}).items() if k not in ("versionId", "lastUpdated")}
    trimmed = {k: v for k, v in resource.items() if k != "meta"}
    if meta:
        trimmed["meta"] = meta
    return trimmed
