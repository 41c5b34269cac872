"""A fresh node per test (incidents are rows of its own database), on both backends."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from lifeline.fhir.service import FhirService
from tests.conftest import TEST_SETTINGS, TickingClock, dispose, fresh_repository


@pytest.fixture
def node(backend: str, tmp_path: Path) -> Iterator[FhirService]:
    repo = fresh_repository(backend, tmp_path)
    service = FhirService(repo, TEST_SETTINGS, clock=TickingClock())
    yield service
    dispose(repo)
