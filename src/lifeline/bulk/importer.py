"""`lifeline import`: load resources in batches, each batch one transaction.

Safe to re-run: a resource with an id is written as an update of that id, and one whose content
equals the stored current version is skipped, so a second run writes nothing new. A resource
without an id gets one derived from its content, for the same reason. Every resource is
validated before its batch starts; a bad one stops the import, naming its line, and the batch
it belonged to is not written (earlier batches stay)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson

from lifeline.bulk.sources import SourceItem
from lifeline.fhir import writes
from lifeline.fhir.errors import BadRequest, FhirError
from lifeline.fhir.ids import check_id
from lifeline.fhir.request import FhirRequest
from lifeline.fhir.service import FhirService
from lifeline.storage.records import StoredVersion
from lifeline.storage.write_session import WriteSession

_CONTENT_IDS = uuid.UUID("5f0c1d1e-3b52-4c7e-9a43-6c1b1f0e7a11")


@dataclass
class ImportStats:
    written: int = 0
    unchanged: int = 0
    transactions: int = 0
    by_type: dict[str, int] = field(default_factory=dict)


def import_items(
    service: FhirService,
    items: Iterable[SourceItem],
    *,
    batch_size: int = 500,
    on_progress: Callable[[int], None] = lambda n: None,
) -> ImportStats:
    stats = ImportStats()
    batch: list[tuple[str, dict[str, Any]]] = []
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
            _flush(service, batch, stats, on_progress)
            _run_bundle(service, item, stats)
            on_progress(len(resource.get("entry") or []))
            continue
        batch.append((item.where, _checked(service, item)))
        if len(batch) >= batch_size:
            _flush(service, batch, stats, on_progress)
    _flush(service, batch, stats, on_progress)
    return stats


def _checked(service: FhirService, item: SourceItem) -> dict[str, Any]:
    resource = item.resource
    try:
        if not isinstance(resource, dict):
            raise BadRequest("not a JSON object")
        res_type = service.check_type(resource.get("resourceType"))
        service.validator.validate(resource, res_type)
        if "id" in resource:
            check_id(resource["id"])
        else:
            resource["id"] = str(uuid.uuid5(_CONTENT_IDS, orjson.dumps(resource, option=orjson.OPT_SORT_KEYS).decode()))
    except FhirError as error:
        raise BadRequest(f"{item.where}: {error.message}", error.issues) from None
    return resource


def _flush(
    service: FhirService,
    batch: list[tuple[str, dict[str, Any]]],
    stats: ImportStats,
    on_progress: Callable[[int], None],
) -> None:
    if not batch:
        return
    instant = writes.now(service)

    def work(session: WriteSession) -> tuple[int, int, dict[str, int]]:
        written = unchanged = 0
        by_type: dict[str, int] = {}
        currents = session.read_many_for_update([(r["resourceType"], r["id"]) for _, r in batch])
        for _, resource in batch:
            res_type, res_id = resource["resourceType"], resource["id"]
            current = currents.get((res_type, res_id))
            if current is not None and not current.deleted and _same(current.content, resource):
                unchanged += 1
                continue
            writes.store(service, session, res_type, res_id, resource, previous=current, method="PUT", instant=instant)
            currents[(res_type, res_id)] = _written(current, res_type, res_id, instant)
            written += 1
            by_type[res_type] = by_type.get(res_type, 0) + 1
        return written, unchanged, by_type

    (written, unchanged, by_type), _ = service.repo.write(work)
    stats.written += written
    stats.unchanged += unchanged
    for res_type, n in by_type.items():
        stats.by_type[res_type] = stats.by_type.get(res_type, 0) + n
    on_progress(len(batch))
    batch.clear()


def _written(previous: StoredVersion | None, res_type: str, res_id: str, instant: str) -> StoredVersion:
    """What a later duplicate in the same batch must see as the version it replaces."""
    version = previous.version_id + 1 if previous else 1
    return StoredVersion(res_type, res_id, version, instant, False, None)


def _run_bundle(service: FhirService, item: SourceItem, stats: ImportStats) -> None:
    try:
        response = service.handle(FhirRequest("transaction", body=item.resource, prefer_return="minimal"))
    except FhirError as error:
        raise BadRequest(f"{item.where}: {error.message}", error.issues) from None
    stats.transactions += 1
    for entry in (response.resource or {}).get("entry", []):
        status = entry.get("response", {}).get("status", "")
        if status.startswith("201"):
            res_type = entry["response"].get("location", "").split("/")[-4] if "location" in entry["response"] else "?"
            stats.by_type[res_type] = stats.by_type.get(res_type, 0) + 1
            stats.written += 1
        elif status.startswith("200"):
            stats.unchanged += 1


def _same(stored: str | None, resource: dict[str, Any]) -> bool:
    if stored is None:
        return False
    current = orjson.loads(stored)
    return _without_version_meta(current) == _without_version_meta(resource)


def _without_version_meta(resource: dict[str, Any]) -> dict[str, Any]:
    meta = {k: v for k, v in (resource.get("meta") or {}).items() if k not in ("versionId", "lastUpdated")}
    trimmed = {k: v for k, v in resource.items() if k != "meta"}
    if meta:
        trimmed["meta"] = meta
    return trimmed
