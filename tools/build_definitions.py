"""Compile the official FHIR R4 (4.0.1) definitions into the compact file the validator ships.

Reads the StructureDefinition snapshots (profiles-types.json, profiles-resources.json) and the
ValueSets/CodeSystems (valuesets.json) from the shared copy of the FHIR downloads and writes
``src/lifeline/definitions/structure.json.gz``: per type its elements (path, cardinality,
allowed types with choice ``[x]`` expansion, contentReference, required-binding value set), the
element constraints (key, severity, human, expression), the enumerable required value sets and
the primitive types' JSON type and regex. The package never reads /work/shared at runtime.

Usage: python tools/build_definitions.py [--source /work/shared/fhir-r4] [--out path]

See https://hl7.org/fhir/R4/elementdefinition.html and https://hl7.org/fhir/R4/json.html
"""

from __future__ import annotations

import argparse
import gzip
import json
from pathlib import Path
from typing import Any

SOURCE = Path("/work/shared/fhir-r4")
OUT = Path(__file__).resolve().parent.parent / "src/lifeline/definitions/structure.json.gz"
FHIR_VERSION = "4.0.1"
SYSTEM_PREFIX = "http://hl7.org/fhirpath/System."
FHIR_TYPE_EXT = "http://hl7.org/fhir/StructureDefinition/structuredefinition-fhir-type"
REGEX_EXT = "http://hl7.org/fhir/StructureDefinition/regex"
SD_PREFIX = "http://hl7.org/fhir/StructureDefinition/"
# Profiles on datatypes that the core resources use, compiled as types of their own.
TYPE_PROFILES = {"SimpleQuantity", "MoneyQuantity"}
NUMBER_TYPES = {"decimal", "integer", "positiveInt", "unsignedInt"}


def read_bundle(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as f:
        return [entry["resource"] for entry in json.load(f)["entry"]]


def structure_definitions(source: Path) -> dict[str, dict[str, Any]]:
    """The R4 StructureDefinitions by id; later-version additions (e.g. R4B backports) are dropped."""
    sds = {}
    for name in ("profiles-types.json", "profiles-resources.json"):
        for res in read_bundle(source / name):
            if res["resourceType"] == "StructureDefinition" and res.get("fhirVersion") == FHIR_VERSION:
                sds[res["id"]] = res
    return sds


def primitive_types(sds: dict[str, dict[str, Any]]) -> dict[str, dict[str, str]]:
    """JSON type and regex of every primitive type, from its ``.value`` element."""
    out = {}
    for sd in sds.values():
        if sd["kind"] != "primitive-type":
            continue
        name = sd["id"]
        value = next(e for e in sd["snapshot"]["element"] if e["path"] == f"{name}.value")
        exts = {x["url"]: x for x in value["type"][0].get("extension", [])}
        json_type = "boolean" if name == "boolean" else "number" if name in NUMBER_TYPES else "string"
        entry = {"json": json_type}
        if REGEX_EXT in exts:
            entry["regex"] = exts[REGEX_EXT]["valueString"]
        out[name] = entry
    return out


class ValueSets:
    """Enumerates the codes of a ValueSet when the R4 download holds everything it includes."""

    def __init__(self, resources: list[dict[str, Any]]) -> None:
        self.value_sets = {r["url"]: r for r in resources if r["resourceType"] == "ValueSet"}
        self.code_systems = {r["url"]: r for r in resources if r["resourceType"] == "CodeSystem"}
        self.used: dict[str, list[str]] = {}

    def codes(self, url: str, seen: frozenset[str] = frozenset()) -> set[str] | None:
        """All codes of the value set, or None when it cannot be enumerated (filters, external systems)."""
        vs = self.value_sets.get(url.split("|")[0])
        if vs is None or url in seen or "compose" not in vs:
            return None
        codes: set[str] = set()
        for include in vs["compose"].get("include", []):
            part = self._include(include, seen | {url})
            if part is None:
                return None
            codes |= part
        for exclude in vs["compose"].get("exclude", []):
            if "concept" not in exclude or "filter" in exclude or "valueSet" in exclude:
                return None
            codes -= {c["code"] for c in exclude["concept"]}
        return codes

    def _include(self, include: dict[str, Any], seen: frozenset[str]) -> set[str] | None:
        if "filter" in include or ("valueSet" in include and "system" in include):
            return None
        if "valueSet" in include:
            codes: set[str] = set()
            for url in include["valueSet"]:
                part = self.codes(url, seen)
                if part is None:
                    return None
                codes |= part
            return codes
        if "concept" in include:
            return {c["code"] for c in include["concept"]}
        cs = self.code_systems.get(include.get("system", ""))
        if cs is None or cs.get("content") != "complete":
            return None
        return set(_concept_codes(cs.get("concept", [])))

    def binding(self, url: str) -> str | None:
        """Register a required binding; returns the value set key, or None to skip the check."""
        key = url.split("|")[0]
        if key not in self.used:
            codes = self.codes(key)
            if codes is None:
                return None
            self.used[key] = sorted(codes)
        return key


def _concept_codes(concepts: list[dict[str, Any]]) -> list[str]:
    codes = []
    for concept in concepts:
        codes.append(concept["code"])
        codes.extend(_concept_codes(concept.get("concept", [])))
    return codes


class Constraints:
    """Deduplicated constraint table: elements refer to constraints by index."""

    def __init__(self) -> None:
        self.table: list[dict[str, str]] = []
        self.index: dict[tuple[str, str, str], int] = {}

    def ref(self, c: dict[str, Any]) -> int:
        key = (c["key"], c["severity"], c.get("expression", ""))
        if key not in self.index:
            self.index[key] = len(self.table)
            entry = {"key": c["key"], "severity": c["severity"], "human": c["human"]}
            entry["expression"] = c.get("expression", "")
            self.table.append(entry)
        return self.index[key]


def element_type(el: dict[str, Any], t: dict[str, Any], root: str, is_resource: bool) -> str:
    code = t["code"]
    if code.startswith(SYSTEM_PREFIX):
        if is_resource and el["path"] == f"{root}.id":
            return "id"  # Resource.id is an id (https://hl7.org/fhir/R4/resource.html#id)
        for ext in t.get("extension", []):
            if ext["url"] == FHIR_TYPE_EXT:
                return str(ext["valueUrl"])
        return "string"
    for profile in t.get("profile", []):
        name = profile.removeprefix(SD_PREFIX)
        if name in TYPE_PROFILES:
            return name
    return str(code)


def compile_type(
    sd: dict[str, Any], primitives: set[str], vsets: ValueSets, constraints: Constraints
) -> dict[str, Any]:
    name = sd["id"]
    base_path = sd["type"]  # a profile such as SimpleQuantity keeps the paths of its base type
    is_resource = sd["kind"] == "resource"
    elements = []
    for el in sd["snapshot"]["element"]:
        path = name + el["path"][len(base_path) :]
        out: dict[str, Any] = {"path": path}
        if "." in path:
            out["min"] = el.get("min", 0)
            out["max"] = el.get("max", "*")
        types = [element_type(el, t, base_path, is_resource) for t in el.get("type", [])]
        if types and "." in path:
            out["types"] = types
            if path.endswith("[x]"):
                # The JSON name comes from the base type (doseQuantity), the rules from the
                # profile when there is one (SimpleQuantity): https://hl7.org/fhir/R4/formats.html#choice
                stem = path.rsplit(".", 1)[1][:-3]
                codes = [str(t["code"]) for t in el["type"]]
                out["choices"] = {stem + c[0].upper() + c[1:]: t for c, t in zip(codes, types, strict=True)}
        if "contentReference" in el:
            out["contentReference"] = name + el["contentReference"][1 + len(base_path) :]
        if "xmlAttr" in el.get("representation", []):
            out["attribute"] = True
        binding = el.get("binding", {})
        # Only coded primitives are checked; a CodeableConcept binding needs a terminology server.
        coded = bool(types) and all(t in primitives for t in types)
        if coded and binding.get("strength") == "required" and "valueSet" in binding:
            key = vsets.binding(binding["valueSet"])
            if key is not None:
                out["binding"] = key
        refs = [constraints.ref(c) for c in el.get("constraint", [])]
        if refs:
            out["constraints"] = refs
        elements.append(out)
    return {"kind": sd["kind"], "abstract": bool(sd.get("abstract")), "elements": elements}


def build(source: Path) -> dict[str, Any]:
    sds = structure_definitions(source)
    vsets = ValueSets(read_bundle(source / "valuesets.json"))
    constraints = Constraints()
    primitives = primitive_types(sds)
    types = {}
    for sd in sds.values():
        complex_type = sd["kind"] == "complex-type" and (
            sd.get("derivation") == "specialization" or sd["id"] in TYPE_PROFILES
        )
        if (complex_type and not sd.get("abstract")) or sd["kind"] == "resource":
            types[sd["id"]] = compile_type(sd, set(primitives), vsets, constraints)
    resources = sorted(n for n, t in types.items() if t["kind"] == "resource" and not t["abstract"])
    return {
        "fhirVersion": FHIR_VERSION,
        "primitives": primitives,
        "resources": resources,
        "types": types,
        "constraints": constraints.table,
        "valuesets": dict(sorted(vsets.used.items())),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=SOURCE)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    data = build(args.source)
    raw = json.dumps(data, separators=(",", ":"), sort_keys=True).encode()
    # mtime=0 keeps the committed file byte-identical across rebuilds.
    args.out.write_bytes(gzip.compress(raw, compresslevel=9, mtime=0))
    print(
        f"{args.out}: {len(data['types'])} types, {len(data['resources'])} resources, "
        f"{len(data['constraints'])} constraints, {len(data['valuesets'])} value sets, "
        f"{len(raw)} bytes JSON, {args.out.stat().st_size} bytes gz"
    )


if __name__ == "__main__":
    main()
