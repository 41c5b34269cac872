"""The CPU-heavy half of an import, run in worker processes: validate a resource, give it an id
if it has none, stamp it as version 1 and extract its search-index rows.

Workers build their own validator and search registry once (spawned processes share nothing),
so the parent process is left with the database work."""

from __future__ import annotations

import gc
import os
import threading
import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

from lifeline import jsontext
from lifeline.errors import BadRequest, FhirError, Issue
from lifeline.fhir import writes
from lifeline.fhir.ids import check_id
from lifeline.search.extract import extract_index
from lifeline.storage.copy_text import encode_rows
from lifeline.storage.write_session import CopyRows, IndexRows, index_rows

if TYPE_CHECKING:
    from lifeline.fhir.validation import Validator
    from lifeline.search.registry import SearchRegistry

_CONTENT_IDS = uuid.UUID("5f0c1d1e-3b52-4c7e-9a43-6c1b1f0e7a11")


@dataclass
class Prepared:
    where: str
    res_type: str
    res_id: str
    content: str  # stamped as version 1 at the batch's instant (the resource travels only as this)
    rows: IndexRows | CopyRows  # its search-index rows: plain tuples or COPY text, cheap to send between processes


@dataclass
class Rejected:
    where: str
    message: str
    issues: list[Issue]

    def error(self) -> BadRequest:
        return BadRequest(f"{self.where}: {self.message}", self.issues)


class Preparer:
    def __init__(self, validator: Validator, registry: SearchRegistry, *, copies_text: bool = False) -> None:
        self.validator = validator
        self.registry = registry
        self.copies_text = copies_text

    def prepare(self, where: str, resource: Any, instant: str) -> Prepared | Rejected:
        try:
            if not isinstance(resource, dict):
                raise BadRequest("not a JSON object")
            res_type = resource.get("resourceType")
            if not isinstance(res_type, str) or not self.validator.is_resource_type(res_type):
                raise BadRequest(f"unknown resource type {res_type!r}")
            self.validator.validate(resource, res_type)
            if "id" in resource:
                check_id(resource["id"])
            else:
                # Re-running an import must not duplicate: the id comes from the content.
                canonical = jsontext.dumps(resource, option=orjson.OPT_SORT_KEYS).decode()
                resource = {**resource, "id": str(uuid.uuid5(_CONTENT_IDS, canonical))}
        except FhirError as error:
            return Rejected(where, error.message, error.issues)
        stamped = writes.stamp(resource, resource["id"], 1, instant)
        tuples = index_rows((res_type, resource["id"]), extract_index(stamped, self.registry))
        rows: IndexRows | CopyRows = (
            [(table, encode_rows(table_rows)) for table, table_rows in tuples] if self.copies_text else tuples
        )
        return Prepared(where, res_type, resource["id"], jsontext.dumps(stamped).decode(), rows)


_worker: Preparer | None = None


def start_worker(invariants: str, copies_text: bool, parent: int) -> None:
    from lifeline.fhir.validation import Validator
    from lifeline.search.registry import default_registry

    _exit_with_parent(parent)
    global _worker
    _worker = Preparer(Validator(invariants=invariants), default_registry(), copies_text=copies_text)
    # The definitions live as long as the worker: out of the cycle collector's way, as in a
    # server worker (web/asgi.py), so that the collections its batches set off do not walk them.
    gc.freeze()


def _exit_with_parent(parent: int) -> None:
    """A worker whose import was killed (SIGKILL, a closed terminal) would otherwise go on
    preparing batches nobody will write, holding a core: it checks once a second that the
    importer (`parent`, named by the importer itself: it may be gone before this runs) is
    still its parent."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1)
        os._exit(1)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def prepare_chunk(chunk: list[tuple[str, Any]], instant: str) -> list[Prepared | Rejected]:
    assert _worker is not None, "start_worker runs first in every worker process"
    return [_worker.prepare(where, resource, instant) for where, resource in chunk]
