"""Shared by the index-table tests: a version written straight through a write session (no FHIR
core), with its index entries."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import orjson
import pytest

from lifeline.search.extract import extract_index
from lifeline.storage import migrate, write_session
from lifeline.storage.index_rows import IndexEntries
from lifeline.storage.migrations import MIGRATIONS
from lifeline.storage.param_numbers import parameter
from lifeline.storage.records import PendingVersion
from lifeline.storage.repository import Repository
from lifeline.storage.write_session import WriteSession

INSTANT = "2026-11-22T08:00:00.000Z"
NUMBERED = 22  # the migration that numbers the index rows' parameters (storage/param_numbers.py)
_INDEX_ROWS = write_session.index_rows


def index_rows_by_name(key: tuple[str, str], index: IndexEntries) -> write_session.IndexRows:
    """A resource's index rows as the code before migration 22 wrote them: the parameter's code
    where its number is now (search_subject_code has no parameter)."""
    return [
        (table, rows if table == "search_subject_code" else [(*r[:2], parameter(r[2])[1], *r[3:]) for r in rows])
        for table, rows in _INDEX_ROWS(key, index)
    ]


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


@contextmanager
def as_of_migration(monkeypatch: pytest.MonkeyPatch, repo: Repository, version: int) -> Iterator[pytest.MonkeyPatch]:
    """Inside: `repo` migrated as far as `version` and no further, as the code of that time left
    a database (the context can patch more of that code); after it, the later migrations wait.
    Such a schema has no switch for packing (migration 21): its writes store the JSON as it is.
    Before migration 22 its index rows name their parameter by its code, as that code wrote them."""
    with monkeypatch.context() as before:
        before.setattr(migrate, "MIGRATIONS", MIGRATIONS[:version])
        if version < NUMBERED:
            before.setattr(write_session, "index_rows", index_rows_by_name)
        assert repo.migrate() == [m.version for m in MIGRATIONS[:version]]
        yield before
