"""Plain records that cross the storage boundary."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class StoredVersion:
    """One version of a resource as stored: content is the JSON text (None for a delete)."""

    res_type: str
    res_id: str
    version_id: int
    last_updated: str  # FHIR instant, UTC, millisecond precision
    deleted: bool
    content: str | None
    change_seq: int | None = None
    method: str | None = None
    node_id: str | None = None
    write_id: int | None = None  # the order writes began: what history is sorted and paged by


@dataclass(frozen=True, slots=True)
class PendingVersion:
    """A version queued in a write transaction; it gets its change number at commit."""

    res_type: str
    res_id: str
    version_id: int
    last_updated: str
    deleted: bool
    content: str | None
    method: str
    node_id: str | None = None  # the node the change was made at, where not this one (replication)
