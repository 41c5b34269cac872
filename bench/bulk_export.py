"""Bulk Data `$export` benchmark: the export rate (resources/s) of a generated region on SQLite and
PostgreSQL, against the floor of `lifeline export` (bulk/exporter.export_all: every current
version straight from the repository to files) of the same data in the same run.

Usage: python -m bench.bulk_export [--patients 500] [--backends sqlite,postgresql]
The region comes from `lifeline generate` and is loaded as `lifeline import` does. The $export
runs through the real ASGI app (kick-off, polling every 50 ms, every file downloaded), as a
backend service with system/*.rs; "walk" is kick-off to manifest, "with download" adds fetching
every NDJSON file; the Patient-level walk (the compartments of every patient) is timed apart.
Results go to bench/results/bulk_export.json; docs/benchmarks.md records them.
A measurement, not a test: nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import itertools
import json
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from starlette.testclient import TestClient

from bench.__main__ import PG_URL, RESULTS, _machine
from lifeline.bulk.exporter import export_all
from lifeline.bulk.importer import first_load, import_items
from lifeline.bulk.sources import Source
from lifeline.config import Settings
from lifeline.fhir.service import FhirService
from lifeline.identity.keys import new_kek
from lifeline.storage import open_repository
from lifeline.storage.repository import Repository
from lifeline.web.app import create_app

TODAY = "2026-11-22"
console = Console()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.bulk_export")
    parser.add_argument("--patients", type=int, default=500, help="the generated region's size")
    parser.add_argument("--backends", default="sqlite,postgresql")
    args = parser.parse_args()
    RESULTS.mkdir(exist_ok=True)
    region = RESULTS / f"bulk-export-region-{args.patients}"
    if not any(region.glob("*.ndjson")):
        shutil.rmtree(region, ignore_errors=True)
        command = [sys.executable, "-m", "lifeline.cli", "generate", "--patients", str(args.patients), "--seed", "1"]
        command += ["--out", str(region), "--today", TODAY, "--no-images"]
        subprocess.run(command, check=True, capture_output=True)
    results: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": _machine(),
        "patients": args.patients,
        "backends": [],
    }
    for backend in [b for b in args.backends.split(",") if b]:
        results["backends"].append(_measure(backend, region))
    (RESULTS / "bulk_export.json").write_text(json.dumps(results, indent=2))
    _print(results)


def _measure(backend: str, region: Path) -> dict[str, Any]:
    folder = Path(tempfile.mkdtemp(prefix="bench-export-"))
    url = (
        f"sqlite:///{folder / 'lifeline.db'}"
        if backend == "sqlite"
        else f"{PG_URL}?schema=bench_x_{uuid.uuid4().hex[:8]}"
    )
    repo = open_repository(url)
    repo.migrate()
    try:
        settings = Settings(db=url, kek=new_kek(), issuer="http://testserver", probe_seconds=0, log_dir="")
        service = FhirService(repo, settings)
        _load(service, repo, region)
        repo.analyze()
        started = time.perf_counter()
        counts = export_all(repo, folder / "floor")
        floor = time.perf_counter() - started
        resources = sum(counts.values())
        walk, total, exported = _export(service, "/fhir/$export")
        patient_walk, _, patient_exported = _export(service, "/fhir/Patient/$export")
        recorder = service.__dict__.get("auditor")
        if recorder is not None:
            recorder.close()
        return {
            "backend": backend,
            "resources": resources,
            "floor_resources_per_s": resources / floor,
            "export_resources": exported,
            "walk_resources_per_s": exported / walk,
            "with_download_resources_per_s": exported / total,
            "patient_level_resources": patient_exported,
            "patient_level_walk_resources_per_s": patient_exported / patient_walk,
        }
    finally:
        drop = getattr(repo, "drop_schema", None)
        if drop is not None:
            drop()
        repo.close()
        shutil.rmtree(folder, ignore_errors=True)


def _load(service: FhirService, repo: Repository, region: Path) -> None:
    sources = [Source(p) for p in sorted(region.glob("*.ndjson"))]
    with first_load(repo, sum(s.size for s in sources)):
        import_items(service, itertools.chain.from_iterable(s.items() for s in sources), batch_size=1000)
    for source in sources:
        source.close()


def _export(service: FhirService, kick_off: str) -> tuple[float, float, int]:
    """(seconds to the manifest, seconds with every file downloaded, resources exported)."""
    token = service.identity.issue(subject="bench", client_id="bench", scopes="system/*.rs", lifetime=3600)
    auth = {"Authorization": f"Bearer {token}"}
    with TestClient(create_app(service, close_on_shutdown=False), base_url="http://testserver") as web:
        started = time.perf_counter()
        kick = web.get(kick_off, headers={**auth, "Accept": "application/fhir+json", "Prefer": "respond-async"})
        assert kick.status_code == 202, kick.text
        while True:
            polled = web.get(kick.headers["content-location"], headers=auth)
            if polled.status_code != 202:
                break
            time.sleep(0.05)
        assert polled.status_code == 200, polled.text
        walk = time.perf_counter() - started
        exported = 0
        for output in polled.json()["output"]:
            file = web.get(output["url"], headers=auth)
            exported += file.text.count("\n")
        total = time.perf_counter() - started
    return walk, total, exported


def _print(results: dict[str, Any]) -> None:
    title = f"$export of {results['patients']} generated patients, {results['date']} ({results['machine']})"
    table = Table(title=title)
    columns = ("backend", "resources", "floor: lifeline export /s", "$export walk /s", "with download /s")
    for column in (*columns, "Patient/$export walk /s"):
        table.add_column(column, justify="right")
    for r in results["backends"]:
        table.add_row(
            r["backend"],
            f"{r['resources']:,}",
            f"{r['floor_resources_per_s']:,.0f}",
            f"{r['walk_resources_per_s']:,.0f}",
            f"{r['with_download_resources_per_s']:,.0f}",
            f"{r['patient_level_walk_resources_per_s']:,.0f} ({r['patient_level_resources']:,})",
        )
    console.print(table)


if __name__ == "__main__":
    main()
