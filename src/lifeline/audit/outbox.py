"""A write's audit record, in the write's own transaction (issue 19.10).

A record appended after its write commits is lost if the process dies in between: under SIGKILL,
writes that had committed had no record. So the record of what a transaction wrote goes into the
transaction itself, as a row of `audit_outbox` (migration 12): it commits with the write or not at
all, and the answer, once the write has committed, needs no further wait. The chain is not touched
by the write: appending locks the node's head, and every write would wait for every other. The
recorder moves outbox rows into the chain in order, deleting them in the transaction that
appends them (audit/store.drain_outbox): when it starts (what a crash left), soon after writes
(`AuditRecorder.drain_soon`), and before the trail is read (the search index's catch-up, verify,
replication of the chain).

The record names every version written (`Type/id/_history/n`), the patients each belongs to (its
Patient compartment references, from the index rows the write made; a delete's from the version
it deletes) and the patients the request named. Identity records (types beginning with `_`) are
not clinical data and make no record.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING

from lifeline.audit.access import MAX_RESOURCES, access_event
from lifeline.audit.chain import canonical
from lifeline.storage.write_session import WriteSession

if TYPE_CHECKING:
    from lifeline.fhir.request import FhirRequest  # a type only: identity and audit sit below the core

Key = tuple[str, str]


class WriteRecord:
    """The `WriteAudit` of one request (storage/write_session.py): each of its write transactions
    carries the record of what it wrote; `written` is what committed, with each resource's
    patients (the request's account takes it from here, fhir/accessed.py)."""

    def __init__(
        self,
        request: FhirRequest,
        asked: Sequence[str],
        *,
        node_id: str,
        ties: Callable[[str], Iterable[str]],
        exchange: str | None = None,
    ) -> None:
        self.request = request
        # A bulk exchange (an import) records every transaction's writes but keeps no account of
        # them: nobody answers from it, and a region's import would not fit in memory.
        self.exchange = exchange
        self.asked = list(asked)
        self.node_id = node_id
        # The search parameters that tie a type to its patients: the access policy's rule
        # (access/ties.py), handed down by the core so that the trail does not import the policy.
        self.ties = ties
        self.written: dict[Key, list[str]] = {}
        self._in_flight: dict[WriteSession, dict[Key, list[str]]] = {}
        self._params: dict[str, set[str]] = {}

    def record(self, session: WriteSession) -> None:
        versions = [v for v in session.pending if not v.res_type.startswith("_")]
        owners: dict[Key, list[str]] = {}
        # A record lists at most MAX_RESOURCES; a larger transaction (an import's Bundle) makes
        # several, so that every version written is named.
        for start in range(0, len(versions), MAX_RESOURCES):
            whose: dict[str, list[str]] = {}
            for version in versions[start : start + MAX_RESOURCES]:
                key = (version.res_type, version.res_id)
                owners[key] = self._patients_of(key, session.patient_references.get(key, ()))
                whose[f"{version.res_type}/{version.res_id}/_history/{version.version_id}"] = owners[key]
            patients = dict.fromkeys(self.asked)
            for found in whose.values():
                patients.update(dict.fromkeys(found))
            event = access_event(
                self.request,
                200,
                resources=list(whose),
                patients=list(patients),
                whose=whose,
                node_id=self.node_id,
                address=self.request.address,
                recorded=versions[-1].last_updated,  # the write's own instant
                purpose=self.request.purpose,
                exchange=self.exchange,
            )
            session.add_audit_outbox(self.node_id, canonical(event))
        if owners:
            self._in_flight[session] = owners

    def committed(self, session: WriteSession) -> None:
        done = self._in_flight.pop(session, {})
        if self.exchange is None:
            self.written.update(done)

    def _patients_of(self, key: Key, references: Sequence[tuple[str, str]]) -> list[str]:
        res_type, res_id = key
        if res_type == "Patient":
            return [res_id]
        params = self._params.get(res_type)
        if params is None:
            params = self._params[res_type] = set(self.ties(res_type))
        return list(dict.fromkeys(patient for param, patient in references if param in params))
