"""The shipped definitions: loaded from package data, generated from the R4 downloads, complete."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

import pytest

from lifeline.definitions import load
from lifeline.fhir.validation.model import definitions

ROOT = Path(__file__).resolve().parents[3]
SHARED = Path("/work/shared/fhir-r4")
PACKAGED = ROOT / "src/lifeline/definitions/structure.json.gz"


def test_loader_reads_package_data() -> None:
    data = load("structure")
    assert data["fhirVersion"] == "4.0.1"
    assert {"primitives", "resources", "types", "constraints", "valuesets"} <= set(data)
    with pytest.raises(FileNotFoundError):
        load("no-such-definitions")


def test_elements_carry_what_the_validator_needs() -> None:
    data = definitions()
    elements = {el["path"]: el for el in data["types"]["Observation"]["elements"]}
    value = elements["Observation.value[x]"]
    assert value["choices"]["valueQuantity"] == "Quantity" and len(value["choices"]) == 11
    assert elements["Observation.status"]["binding"] == "http://hl7.org/fhir/ValueSet/observation-status"
    assert elements["Observation.component.referenceRange"]["contentReference"] == "Observation.referenceRange"
    assert elements["Observation.referenceRange.low"]["types"] == ["SimpleQuantity"]
    keys = {data["constraints"][i]["key"] for i in elements["Observation"]["constraints"]}
    assert {"obs-6", "obs-7", "dom-6"} <= keys
    assert data["primitives"]["date"]["json"] == "string" and "regex" in data["primitives"]["date"]


def test_value_sets_include_nested_concepts() -> None:
    valuesets = definitions()["valuesets"]
    assert "corrected" in valuesets["http://hl7.org/fhir/ValueSet/observation-status"]  # under "amended"
    assert "maiden" in valuesets["http://hl7.org/fhir/ValueSet/name-use"]  # under "old"
    assert set(valuesets["http://hl7.org/fhir/ValueSet/administrative-gender"]) == {
        "male",
        "female",
        "other",
        "unknown",
    }
    # Value sets that cannot be enumerated from the download (BCP-13 mime types) are not checked.
    assert "http://hl7.org/fhir/ValueSet/mimetypes" not in valuesets


@pytest.mark.skipif(not SHARED.is_dir(), reason="the FHIR R4 downloads are not on this machine")
def test_packaged_file_is_what_the_generator_makes() -> None:
    sys.path.insert(0, str(ROOT / "tools"))
    try:
        import build_definitions
    finally:
        sys.path.remove(str(ROOT / "tools"))
    expected = json.loads(json.dumps(build_definitions.build(SHARED)))
    assert json.loads(gzip.decompress(PACKAGED.read_bytes())) == expected, "run tools/build_definitions.py"


def test_runtime_never_reads_the_shared_downloads() -> None:
    script = """
import sys
def hook(event, args):
    if event == "open" and "/work/shared" in str(args[0]):
        raise RuntimeError(f"read {args[0]}")
sys.addaudithook(hook)
from lifeline.fhir.validation import Validator
Validator().validate({"resourceType": "Patient", "name": [{"family": "Hansen"}], "gender": "male"})
print("ok")
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
