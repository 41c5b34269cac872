"""Whose reads may go to a read replica (issue 28, "Scale out"), told by the core's entry to storage.

With `LIFELINE_DB_REPLICA` set, the PostgreSQL backend sends a request's reads and searches to a
streaming replica when the request only reads, and when the replica has replayed the person's
own last write (read-your-writes: `read_fence` on the primary holds the WAL position after each
person's last write, so any process of the node knows it). The core's entry (fhir/acting.py)
says who is asking and whether the request only reads; a context variable carries it into the
worker thread, as `lifeline.cancel` does for a request's cancellation. Background work and
writes name nobody here and always use the primary."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass


@dataclass
class Asking:
    who: str  # the person or app: principal kind and subject
    reads_only: bool  # the request writes nothing: its reads may go to the replica
    on_replica: bool | None = None  # decided at its first read; a replica's replay only moves forward


ASKING: ContextVar[Asking | None] = ContextVar("lifeline_asking", default=None)


@contextmanager
def asking(who: str | None, reads_only: bool) -> Iterator[None]:
    """The request's reads, inside the block, as `who`'s (None: nobody: the primary)."""
    token = ASKING.set(Asking(who, reads_only) if who else None)
    try:
        yield
    finally:
        ASKING.reset(token)
