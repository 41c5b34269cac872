"""The storage tests' repository: a fresh one on each backend (a module may define its own)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from lifeline.storage.repository import Repository
from tests.conftest import BACKENDS, dispose, fresh_repository


@pytest.fixture(params=BACKENDS)
def repo(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Repository]:
    repository = fresh_repository(request.param, tmp_path)
    yield repository
    dispose(repository)
