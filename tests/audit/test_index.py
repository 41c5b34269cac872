"""The audit trail's search index (audit/index.py) on both backends: each node's records indexed
by `index_values`, on every shape of event Lifeline records, once, in batches."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from lifeline.audit import index, store
from lifeline.audit.access import access_event
from lifeline.audit.events import security_event
from lifeline.fhir.request import FhirRequest
from lifeline.identity.principal import OPERATOR
from tests.conftest import BACKENDS, dispose, fresh_repository

WHEN = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)


def events() -> list[dict[str, Any]]:
    read = FhirRequest("read", "Patient", "p1", principal=OPERATOR)
    search = FhirRequest("search", "Observation", params={"code": ["x"]}, principal=OPERATOR)
    found = ["Patient/p2", "Observation/o3"]
    deleted = FhirRequest("delete", "Observation", "o1", principal=OPERATOR)
    return [
        access_event(read, 200, patients=["p1"], node_id="central", address="10.0.0.1", recorded=WHEN),
        access_event(
            search,
            200,
            resources=found,
            patients=["p2", "p3"],
            whose={"Observation/o3": ["p3"]},
            node_id="central",
            address=None,
            recorded=WHEN,
        ),  # fmt: skip
        access_event(None, 401, node_id="central", address=None, recorded=WHEN),  # anonymous
        access_event(deleted, 410, resources=["Observation/o1"], node_id="c", address=None),
        # A version written names the patient by its own entity, not by the versioned reference.
        access_event(read, 200, resources=["Patient/p9/_history/2"], patients=["p9"], node_id="c", address=None),
        security_event("login", node_id="central", user="mette", fhir_user="Practitioner/d1", client_id="web"),
        security_event("break-the-glass", node_id="central", user="mette", patient="p4", purpose="ETREAT"),
        security_event("login", node_id="central", outcome="failure", user="nobody"),
        security_event("token", node_id="central", user="app", client_id="app"),
        # Odd but storable shapes: empty and missing values index nothing; the app is named
        # only where it is no requestor; a reference to "Patient/" alone names patient "".
        {"resourceType": "AuditEvent", "action": "", "outcome": "0", "type": {"code": ""}, "subtype": [{}]},
        {"resourceType": "AuditEvent", "entity": [{"what": {}}, {}, {"what": {"reference": "Patient/"}}]},
        {
            "resourceType": "AuditEvent",
            "agent": [
                {"who": {"display": "app"}, "requestor": False},
                {"who": {"display": "person"}, "requestor": True, "altId": ""},
                {"who": {"display": "same", "reference": "Practitioner/x"}, "altId": "Practitioner/x"},
                {},
            ],
            "subtype": [{"code": "read"}, {"code": "read"}, {"code": "vread"}],
        },
    ]


@pytest.mark.parametrize("backend", BACKENDS)
def test_every_backend_indexes_each_record_by_index_values(backend: str, tmp_path: Path) -> None:
    repo = fresh_repository(backend, tmp_path)
    try:
        made = events()
        store.append(repo, "central", made[:5])
        store.append(repo, "site-a", made[5:7])
        store.append(repo, "central", made[7:])
        assert index.catch_up(repo) == len(made)
        assert index.catch_up(repo) == 0  # the position moved: nothing is indexed twice
        with repo.reading() as session:
            rows = session._all("SELECT param, value, node_id, seq FROM audit_index")
        stored = {(param, value, node, int(seq)) for param, value, node, seq in rows}
        numbered = [("central", i + 1, e) for i, e in enumerate(made[:5])]
        numbered += [("site-a", i + 1, e) for i, e in enumerate(made[5:7])]
        numbered += [("central", i + 6, e) for i, e in enumerate(made[7:])]
        expected = {(p, v, node, seq) for node, seq, e in numbered for p, v in index.index_values(e)}
        assert stored == expected
        assert {
            ("patient", "p3", "central", 2),
            ("patient", "p9", "central", 5),
            ("patient", "", "central", 9),
        } <= stored
        assert not any(value.startswith("p9/") for _, value, _, _ in stored)
    finally:
        dispose(repo)


def test_a_chain_indexed_in_batches_is_indexed_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(index, "BATCH", 3)
    repo = fresh_repository("postgresql", tmp_path)
    try:
        store.append(repo, "central", [events()[0]] * 10)
        assert index.catch_up(repo) == 10
        with repo.reading() as session:
            seqs = session._all("SELECT DISTINCT seq FROM audit_index WHERE param = 'patient' ORDER BY seq")
        assert [int(s) for (s,) in seqs] == list(range(1, 11))
    finally:
        dispose(repo)


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_value_with_a_nul_is_left_out_of_the_index_and_holds_up_nothing(backend: str, tmp_path: Path) -> None:
    """`GET /fhir/Patient/a%00b` is recorded naming patient "a\\x00b" (its JSON escapes the NUL).
    PostgreSQL text cannot hold a NUL, and no search can ask for one: the value is left out, and
    the record's other values and every later record are indexed."""
    repo = fresh_repository(backend, tmp_path)
    try:
        odd = access_event(
            FhirRequest("read", "Patient", "a\x00b", principal=OPERATOR),
            404,
            patients=["a\x00b"],
            node_id="central",
            address=None,
        )
        store.append(repo, "central", [odd, events()[0]])
        assert index.catch_up(repo) == 2
        with repo.reading() as session:
            rows = session._all("SELECT param, value, seq FROM audit_index ORDER BY seq, param, value")
        first = {(param, value) for param, value, seq in rows if int(seq) == 1}
        assert first == {(p, v) for p, v in index.index_values(odd) if p != "patient"}
        assert ("patient", "p1", 2) in {(p, v, int(s)) for p, v, s in rows}
    finally:
        dispose(repo)
