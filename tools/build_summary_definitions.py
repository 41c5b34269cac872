"""Compile which top-level elements of each R4 resource are summary or mandatory elements.

`_summary=true` keeps the elements marked `isSummary` in the StructureDefinitions, `_summary=text`
and `_elements` keep the mandatory ones (min ≥ 1), see https://hl7.org/fhir/R4/search.html#summary.
Writes ``src/lifeline/definitions/summary.json.gz``: per resource type the JSON keys (choice
elements `value[x]` expanded to `valueQuantity`, `valueString`, …) of its top-level summary and
mandatory elements. The package never reads /work/shared at runtime.

Usage: python tools/build_summary_definitions.py [--source /work/shared/fhir-r4] [--out path]
"""

from __future__ import annotations

import argparse
import gzip
import json
from pathlib import Path
from typing import Any

SOURCE = Path("/work/shared/fhir-r4")
OUT = Path(__file__).resolve().parent.parent / "src/lifeline/definitions/summary.json.gz"


def json_keys(element: dict[str, Any], name: str) -> list[str]:
    """The JSON property names of a top-level element: a choice element gives one per type."""
    if not name.endswith("[x]"):
        return [name]
    stem = name[:-3]
    return [stem + t["code"][0].upper() + t["code"][1:] for t in element.get("type", [])]


def compile_summary(source: Path) -> dict[str, dict[str, list[str]]]:
    with (source / "profiles-resources.json").open(encoding="utf-8") as f:
        bundle = json.load(f)
    out: dict[str, dict[str, list[str]]] = {}
    for entry in bundle["entry"]:
        sd = entry["resource"]
        if sd.get("resourceType") != "StructureDefinition" or sd.get("kind") != "resource" or sd.get("abstract"):
            continue
        if sd.get("derivation") != "specialization" or sd.get("fhirVersion") != "4.0.1":
            continue
        name = sd["type"]
        summary: list[str] = []
        mandatory: list[str] = []
        for element in sd["snapshot"]["element"]:
            parts = element["path"].split(".")
            if len(parts) != 2:
                continue
            keys = json_keys(element, parts[1])
            if element.get("isSummary"):
                summary += keys
            if element.get("min", 0) >= 1:
                mandatory += keys
        out[name] = {"summary": sorted(summary), "mandatory": sorted(mandatory)}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--source", type=Path, default=SOURCE)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    data = compile_summary(args.source)
    payload = json.dumps(data, sort_keys=True, separators=(",", ":")).encode()
    args.out.write_bytes(gzip.compress(payload, mtime=0))
    print(f"{len(data)} resource types -> {args.out} ({args.out.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
