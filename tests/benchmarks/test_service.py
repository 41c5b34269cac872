"""The benchmarks' own construction of Lifeline (bench/service.py): it switches off what the
product never does, authorisation or the audit trail, to measure what each costs (issue 20)."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest
from bench.service import BenchService

from lifeline.config import Settings
from lifeline.errors import Unauthorized
from lifeline.fhir.request import FhirRequest
from lifeline.fhir.service import FhirService
from lifeline.identity.principal import OPERATOR
from tests.conftest import dispose, fresh_repository

PATIENT = {"resourceType": "Patient", "name": [{"family": "Bench"}]}


def _audit_rows(folder: Path) -> int:
    with sqlite3.connect(folder / "lifeline.db") as conn:
        return sum(
            conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0] for table in ("audit_outbox", "audit_event")
        )


def test_without_authorisation_a_request_needs_no_principal(tmp_path: Path) -> None:
    repo = fresh_repository("sqlite", tmp_path)
    try:
        created = FhirService(repo, Settings()).handle(
            FhirRequest("create", "Patient", body=PATIENT, principal=OPERATOR)
        )
        anonymous = FhirRequest("read", "Patient", created.resource["id"] if created.resource else None)
        with pytest.raises(Unauthorized):
            FhirService(repo, Settings()).handle(anonymous)
        assert BenchService(repo, Settings(), authorisation=False).handle(anonymous).status == 200
    finally:
        dispose(repo)


def test_without_the_trail_nothing_is_recorded(tmp_path: Path) -> None:
    repo = fresh_repository("sqlite", tmp_path)
    try:
        service = BenchService(repo, Settings(), trail="off")
        assert service.auditor is None
        created = service.handle(FhirRequest("create", "Patient", body=PATIENT, principal=OPERATOR))
        assert created.resource is not None
        read = asyncio.run(
            service.handle_async(FhirRequest("read", "Patient", created.resource["id"], principal=OPERATOR))
        )
        assert read.status == 200 and _audit_rows(tmp_path) == 0
        # The product records the same write, in the write's own transaction.
        FhirService(repo, Settings()).handle(FhirRequest("create", "Patient", body=PATIENT, principal=OPERATOR))
        assert _audit_rows(tmp_path) == 1
    finally:
        dispose(repo)
