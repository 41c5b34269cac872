"""A small generated region, made once per test session and shared by the generator's tests."""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from lifeline.generate import Options, Summary, generate

TODAY = datetime.date(2026, 11, 23)  # a Monday
PATIENTS = 200


@pytest.fixture(scope="session")
def region(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Summary]:
    out = tmp_path_factory.mktemp("region")
    return out, generate(Options(PATIENTS, 7, out, TODAY))


@pytest.fixture(scope="session")
def resources(region: tuple[Path, Summary]) -> list[dict[str, Any]]:
    return list(read_ndjson(region[0]))


def read_ndjson(folder: Path) -> Iterator[dict[str, Any]]:
    for path in sorted(folder.glob("*.ndjson")):
        with path.open("rb") as lines:
            for line in lines:
                yield orjson.loads(line)


def folder_bytes(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}
