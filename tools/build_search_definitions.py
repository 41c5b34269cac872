"""Build the compact search definitions that the lifeline package ships.

Reads the official FHIR R4 (4.0.1) definition files and writes two gzipped JSON files into
src/lifeline/definitions/:

- search-parameters.json.gz: every SearchParameter (code, base, type, expression, target,
  modifier, comparator, multipleOr/And, component with each definition resolved to its code, url),
  plus the concrete resource types and the choice elements (`value[x]` → its allowed types) that
  the search-path compiler needs to turn `Observation.value` into `valueQuantity`, ….
- compartment-patient.json.gz: the Patient compartment, resource type → membership params.

Usage: python tools/build_search_definitions.py [SOURCE_DIR] (default /work/shared/fhir-r4).
The output is deterministic (sorted, gzip mtime 0), so rebuilding an unchanged source is a no-op.
See https://hl7.org/fhir/R4/searchparameter.html and https://hl7.org/fhir/R4/compartmentdefinition.html
"""

from __future__ import annotations

import gzip
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "src" / "lifeline" / "definitions"
DEFAULT_SOURCE = Path("/work/shared/fhir-r4")

_KEPT = ("url", "code", "base", "type", "expression", "target", "modifier", "comparator", "multipleOr", "multipleAnd")


def _read(path: Path) -> Any:
    with path.open(encoding="utf-8") as f:
        return json.load(f)


def _write(name: str, data: Any) -> Path:
    raw = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    target = OUT / name
    with target.open("wb") as f, gzip.GzipFile(fileobj=f, mode="wb", mtime=0, filename="") as gz:
        gz.write(raw)
    return target


def _structure_definitions(*bundles: Any) -> list[dict[str, Any]]:
    return [
        e["resource"]
        for bundle in bundles
        for e in bundle["entry"]
        if e["resource"].get("resourceType") == "StructureDefinition"
    ]


def resource_types(definitions: list[dict[str, Any]]) -> list[str]:
    """The concrete resource types (Patient, Observation, …; not Resource or DomainResource)."""
    return sorted(
        d["id"]
        for d in definitions
        if d["kind"] == "resource" and not d.get("abstract") and d.get("derivation") == "specialization"
    )


def choice_elements(definitions: list[dict[str, Any]]) -> dict[str, list[str]]:
    """Element name → type suffixes of every `name[x]` element, e.g. value → [Quantity, String, …].

    Keyed by the bare name rather than the full path: search expressions walk through data types
    (useContext.value is UsageContext.value[x]), and a JSON object never holds both `name` and
    `nameType`, so a name-level table is enough to resolve the JSON key.
    """
    found: dict[str, set[str]] = {}
    for d in definitions:
        if d.get("derivation") != "specialization":
            continue
        for element in d.get("snapshot", {}).get("element", []):
            path = element["path"]
            if path.endswith("[x]"):
                name = path.rsplit(".", 1)[-1][:-3]
                codes = {t["code"] for t in element.get("type", [])}
                found.setdefault(name, set()).update(c[0].upper() + c[1:] for c in codes)
    return {name: sorted(types) for name, types in sorted(found.items())}


def search_parameters(bundle: Any) -> list[dict[str, Any]]:
    """The kept fields of each SearchParameter, components resolved from definition URL to code."""
    resources = [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "SearchParameter"]
    code_by_url = {r["url"]: r["code"] for r in resources}
    type_by_url = {r["url"]: r["type"] for r in resources}
    kept: list[dict[str, Any]] = []
    for r in resources:
        item = {k: r[k] for k in _KEPT if k in r}
        if "component" in r:
            item["component"] = [
                {
                    "definition": c["definition"],
                    "code": code_by_url.get(c["definition"]),
                    "type": type_by_url.get(c["definition"]),
                    "expression": c["expression"],
                }
                for c in r["component"]
            ]
        kept.append(item)
    return sorted(kept, key=lambda p: (p["code"], p["url"]))


def patient_compartment(definition: Any) -> dict[str, Any]:
    return {
        "url": definition["url"],
        "code": definition["code"],
        "resource": {r["code"]: r.get("param", []) for r in definition["resource"]},
    }


def main(argv: list[str]) -> int:
    source = Path(argv[1]) if len(argv) > 1 else DEFAULT_SOURCE
    definitions = _structure_definitions(
        _read(source / "profiles-resources.json"), _read(source / "profiles-types.json")
    )
    bundle = _read(source / "search-parameters.json")
    params = search_parameters(bundle)
    written = [
        _write(
            "search-parameters.json.gz",
            {
                "fhirVersion": "4.0.1",
                "resourceTypes": resource_types(definitions),
                "choiceElements": choice_elements(definitions),
                "parameters": params,
            },
        ),
        _write(
            "compartment-patient.json.gz",
            patient_compartment(_read(source / "compartmentdefinition-patient.json")),
        ),
    ]
    for path in written:
        print(f"wrote {path.relative_to(ROOT)} ({path.stat().st_size} bytes)")
    print(f"{len(params)} search parameters")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
