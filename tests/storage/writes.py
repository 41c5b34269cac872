"""Shared by the index-table tests: a version written straight through a write session (no FHIR
core), with its index entries."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from lifeline.search.extract import extract_index
from lifeline.storage.index_rows import IndexEntries
from lifeline.storage.records import PendingVersion
from lifeline.storage.write_session import WriteSession

INSTANT = "2026-11-22T08:00:00.000Z"


def put(
    session: WriteSession,
    resource: dict[str, Any],
    version: int = 1,
    *,
    deleted: bool = False,
    entries: Callable[[dict[str, Any]], IndexEntries] = extract_index,
) -> None:
    """Write `resource` as `version` (a delete without content), indexed by `entries`."""
    content = None if deleted else orjson.dumps(resource).decode()
    index = None if deleted else entries(resource)
    pending = PendingVersion(resource["resourceType"], resource["id"], version, INSTANT, deleted, content, "PUT")
    session.put(pending, index, replaces=version > 1)
