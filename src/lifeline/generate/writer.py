"""Writing the generated record as it is made: NDJSON, one file per resource type, or one
transaction Bundle per patient (one per line of an NDJSON file) with the region as one more
Bundle. Resources arrive as serialised lines in their final order; nothing is kept in memory.

Every id is client-assigned, so each Bundle entry is a PUT to its own id
(https://hl7.org/fhir/R4/http.html#transaction) and re-importing writes nothing twice."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any

from lifeline import jsontext

Resource = dict[str, Any]
REGION_BUNDLE = "region-bundle.json"
PATIENT_BUNDLES = "patient-bundles.ndjson"


def ndjson_lines(resources: Iterable[Resource], counts: dict[str, int]) -> dict[str, list[bytes]]:
    """Serialise resources into lines grouped by type, counting them."""
    lines: dict[str, list[bytes]] = {}
    for resource in resources:
        res_type = resource["resourceType"]
        lines.setdefault(res_type, []).append(jsontext.dumps(resource))
        counts[res_type] = counts.get(res_type, 0) + 1
    return lines


def transaction_bundle(resources: Iterable[Resource], counts: dict[str, int]) -> bytes:
    entries = []
    for resource in resources:
        res_type, res_id = resource["resourceType"], resource["id"]
        counts[res_type] = counts.get(res_type, 0) + 1
        entries.append(
            {
                "fullUrl": f"urn:uuid:{res_id}",
                "resource": resource,
                "request": {"method": "PUT", "url": f"{res_type}/{res_id}"},
            }
        )
    return jsontext.dumps({"resourceType": "Bundle", "type": "transaction", "entry": entries})


class NdjsonFiles:
    """`{out}/{Type}.ndjson`, each opened when its first resource comes."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.files: dict[str, IO[bytes]] = {}

    def write(self, lines: dict[str, list[bytes]]) -> None:
        for res_type, chunk in lines.items():
            handle = self.files.get(res_type)
            if handle is None:
                handle = self.files[res_type] = (self.out / f"{res_type}.ndjson").open("wb")
            handle.write(b"\n".join(chunk))
            handle.write(b"\n")

    def close(self) -> list[Path]:
        for handle in self.files.values():
            handle.close()
        return sorted(self.out / f"{t}.ndjson" for t in self.files)


class BundleFiles:
    """The region as one transaction Bundle, then one patient Bundle per line."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.patients = (out / PATIENT_BUNDLES).open("wb")

    def write_region(self, bundle: bytes) -> None:
        (self.out / REGION_BUNDLE).write_bytes(bundle + b"\n")

    def write(self, bundles: list[bytes]) -> None:
        for bundle in bundles:
            self.patients.write(bundle)
            self.patients.write(b"\n")

    def close(self) -> list[Path]:
        self.patients.close()
        return [self.out / REGION_BUNDLE, self.out / PATIENT_BUNDLES]
