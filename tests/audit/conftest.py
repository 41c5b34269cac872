"""The audit tests' own fixtures."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from lifeline.storage import open_repository
from tests.conftest import BACKENDS, database_url, dispose


@pytest.fixture(params=BACKENDS)
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh database on each backend, dropped afterwards (the crash tests' server uses it)."""
    url = database_url(str(request.param), tmp_path)
    yield url
    dispose(open_repository(url))
