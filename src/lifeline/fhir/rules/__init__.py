"""The record's own rules for logistics (issue 24): what no write may do, whoever writes it.

A booking that overlaps a busy slot, a patient booked twice at one time, a transfer into an
occupied bed, two operations in one theatre at once, a cancellation without a reason: each is
refused in the one write path (fhir/writes.py `store`), inside the write's own transaction, so the
FHIR API, a transaction bundle, the pages and the operations all meet the same rule and nothing is
half-written. A checker may take `session.lock(key)` first (PostgreSQL serialises writers deciding
on one key; SQLite has one writer already), so two racing bookings of the last slot see each other
and exactly one wins.

Each module below maps a resource type to its checkers; a checker raises a FhirError (usually
`BadRequest` or `Conflict` with a plain message) to refuse the write. Replicated changes from a
site are not checked here: a site's booking during a cut that collides with the centre's becomes a
conflict on the reconciliation list (replication/replay.py), never a silent second booking.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from importlib import import_module
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

import orjson

from lifeline.errors import BadRequest, Issue, Unprocessable

if TYPE_CHECKING:
    from lifeline.fhir.service import FhirService
    from lifeline.storage.records import StoredVersion
    from lifeline.storage.write_session import WriteSession

# The modules holding checkers, each with `CHECKS: dict[str, list[Checker]]` by resource type.
MODULES = ("scheduling", "theatres", "beds")


@dataclass
class Written:
    """A version about to be stored, with what it replaces."""

    service: FhirService
    session: WriteSession
    res_type: str
    res_id: str
    resource: dict[str, Any]
    previous: StoredVersion | None
    instant: str  # when the change was made, a FHIR instant (UTC): judge "in the past" by it, not the clock

    @property
    def before(self) -> dict[str, Any] | None:
        """The current version's content, or None for a new resource (or one deleted)."""
        if self.previous is None or self.previous.deleted or not self.previous.content:
            return None
        content: dict[str, Any] = orjson.loads(self.previous.content)
        return content

    def matching(self, res_type: str, criteria: list[tuple[str, str]] | str, limit: int = 50) -> list[dict[str, Any]]:
        """Current resources matching search `criteria`, read in this write's transaction (so an
        earlier entry of the same bundle counts) and NOT filtered by anyone's access rule: a rule
        must see every booking. A refusal built from them must name nobody the writer may not see."""
        from lifeline.search.query import compile_match, parse_query

        params = parse_qsl(criteria, keep_blank_values=True) if isinstance(criteria, str) else criteria
        clauses, unknown = parse_query(res_type, params, self.service.registry)
        if unknown:
            raise BadRequest(f"A logistics rule asked for unknown {res_type} search parameters: {unknown}")
        match = compile_match(res_type, clauses, self.service.registry)
        found = self.session.search(res_type, match, after_key=None, limit=limit)
        itself = (self.res_type, self.res_id)
        return [
            orjson.loads(v.content) for v in found if v.content and not v.deleted and (v.res_type, v.res_id) != itself
        ]


Checker = Callable[[Written], None]


def refused(message: str, element: str) -> Unprocessable:
    """Every rule's refusal: 422 with issue code `business-rule` and the element named (FHIR's
    HTTP page keeps 422 for the server's business rules; 409 and 412 stay for version races)."""
    return Unprocessable(message, [Issue("error", "business-rule", message, [element])])


@cache
def _checks() -> dict[str, list[Checker]]:
    checks: dict[str, list[Checker]] = {}
    for name in MODULES:
        module = import_module(f"lifeline.fhir.rules.{name}")
        for res_type, found in module.CHECKS.items():
            checks.setdefault(res_type, []).extend(found)
    return checks


def check(written: Written) -> None:
    """Refuse `written` if it breaks a rule of its type (a FhirError), else return."""
    for checker in _checks().get(written.res_type, ()):
        checker(written)


def applies(res_type: str) -> bool:
    return res_type in _checks()
