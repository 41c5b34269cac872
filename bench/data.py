"""Deterministic benchmark data: Patients and their Observations as NDJSON."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

FAMILIES = ["Jensen", "Nielsen", "Hansen", "Pedersen", "Andersen", "Sørensen", "Ærø", "Østergaard", "Müller"]
GIVEN = ["Mette", "Søren", "Anne", "Lars", "Åse", "Jens", "Kirsten", "Mads"]


def resources(total: int, seed: int = 7) -> Iterator[dict[str, Any]]:
    """About one Patient per four Observations, until `total` resources."""
    rng = random.Random(seed)
    made = 0
    patient = 0
    while made < total:
        pid = f"bench-p{patient}"
        yield {
            "resourceType": "Patient",
            "id": pid,
            "identifier": [{"system": "urn:lifeline:bench", "value": str(patient)}],
            "name": [{"family": rng.choice(FAMILIES), "given": [rng.choice(GIVEN)]}],
            "gender": rng.choice(["female", "male"]),
            "birthDate": f"{rng.randint(1930, 2020)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
        }
        made += 1
        for n in range(min(4, total - made)):
            yield {
                "resourceType": "Observation",
                "id": f"bench-o{patient}-{n}",
                "status": "final",
                "code": {"coding": [{"system": "http://loinc.org", "code": "2345-7", "display": "Glucose"}]},
                "subject": {"reference": f"Patient/{pid}"},
                "effectiveDateTime": f"2026-{rng.randint(1, 11):02d}-{rng.randint(1, 28):02d}T08:00:00Z",
                "valueQuantity": {
                    "value": round(rng.uniform(3.5, 12.0), 1),
                    "unit": "mmol/L",
                    "system": "http://unitsofmeasure.org",
                    "code": "mmol/L",
                },
            }
            made += 1
        patient += 1


def write_ndjson(path: Path, total: int) -> Path:
    with path.open("wb") as handle:
        for resource in resources(total):
            handle.write(orjson.dumps(resource) + b"\n")
    return path
