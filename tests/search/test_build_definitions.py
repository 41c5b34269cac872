"""tools/build_search_definitions.py reproduces the shipped compact definitions exactly."""

from __future__ import annotations

import gzip
import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SOURCE = Path("/work/shared/fhir-r4")
SHIPPED = ROOT / "src" / "lifeline" / "definitions"


def _builder():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location(
        "build_search_definitions", ROOT / "tools" / "build_search_definitions.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _shipped(name: str) -> object:
    return json.loads(gzip.decompress((SHIPPED / name).read_bytes()))


@pytest.mark.skipif(not SOURCE.exists(), reason="the official FHIR R4 files are not here")
def test_shipped_search_parameters_match_the_official_bundle() -> None:
    builder = _builder()
    bundle = json.loads((SOURCE / "search-parameters.json").read_text(encoding="utf-8"))
    shipped = _shipped("search-parameters.json.gz")
    assert isinstance(shipped, dict)
    assert shipped["parameters"] == builder.search_parameters(bundle)
    assert len(shipped["parameters"]) == 1378


def test_shipped_files_hold_what_the_registry_needs() -> None:
    shipped = _shipped("search-parameters.json.gz")
    assert isinstance(shipped, dict)
    assert "Patient" in shipped["resourceTypes"] and "Resource" not in shipped["resourceTypes"]
    assert "Quantity" in shipped["choiceElements"]["value"]
    composite = next(p for p in shipped["parameters"] if p["code"] == "code-value-quantity")
    assert [c["code"] for c in composite["component"]] == ["code", "value-quantity"]
    compartment = _shipped("compartment-patient.json.gz")
    assert isinstance(compartment, dict)
    assert compartment["resource"]["Observation"] == ["subject", "performer"]
