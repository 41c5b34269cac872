"""`python -m bench.r4_examples`: all 5,306 official R4 examples through the core (issue 26).

Each example of the `hl7.fhir.r4.examples` package (npm registry, fetched once: tests/r4_examples.py)
is written as it is (PUT by its id, as the operator) into a fresh database per backend, and read
back; counted: stored, refused as invalid (4xx, with the reason), broken (5xx: must be none), and
of the stored, read back equal in value and precision (every decimal as written, on both
backends). The rate is examples written and read per second
through the core, one client.
Usage: python -m bench.r4_examples [--backends sqlite,postgresql]
Results: bench/results/r4_examples.json; docs/benchmarks.md records them.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import Progress
from rich.table import Table
from tests.conftest import database_url, dispose
from tests.r4_examples import examples, judge

from bench.__main__ import RESULTS, _machine
from bench.auth import settings as bench_settings
from lifeline.fhir.service import FhirService

console = Console()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.r4_examples")
    parser.add_argument("--backends", default="sqlite,postgresql")
    args = parser.parse_args()
    files = examples()
    results: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": _machine(),
        "examples": len(files),
        "backends": {},
    }
    for backend in args.backends.split(","):
        results["backends"][backend] = _run(backend, files)
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / "r4_examples.json").write_text(json.dumps(results, indent=2))
    table = Table(title=f"The official R4 examples ({len(files):,})")
    for column in ("backend", "stored", "read back equal", "refused", "broken", "per second"):
        table.add_column(column)
    for backend, found in results["backends"].items():
        table.add_row(
            backend,
            f"{found['stored']:,}",
            f"{found['equal']:,}",
            f"{found['refused']:,}",
            str(found["broken"]),
            f"{found['per_second']:.0f}",
        )
    console.print(table)


def _run(backend: str, files: list[Path]) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as folder:
        url = database_url(backend, Path(folder))
        service = FhirService(_migrated(url), bench_settings(url))
        counts: Counter[str] = Counter()
        refusals: Counter[str] = Counter()
        unequal: list[str] = []
        broken: list[str] = []
        started = time.perf_counter()
        try:
            with Progress(console=console) as progress:
                task = progress.add_task(f"{backend}: writing and reading back", total=len(files))
                for path in files:
                    judged = judge(service, path, backend)
                    counts[judged.kind] += 1
                    if judged.kind == "refused":
                        refusals[judged.detail.split(":", 1)[0]] += 1
                    elif judged.kind == "broken":
                        broken.append(f"{judged.name}: {judged.detail}")
                    elif judged.equal:
                        counts["equal"] += 1
                    else:
                        unequal.append(f"{judged.name}: {judged.detail}")
                    progress.advance(task)
            seconds = time.perf_counter() - started
        finally:
            recorder = service.__dict__.get("auditor")  # its writer first: the store goes next
            if recorder is not None:
                recorder.close()
            dispose(service.repo)
    return {
        "stored": counts["stored"],
        "equal": counts["equal"],
        "refused": counts["refused"],
        "refused_by_status": dict(refusals),
        "broken": counts["broken"],
        "broken_examples": broken,
        "not_equal": unequal,
        "seconds": seconds,
        "per_second": len(files) / seconds,
    }


def _migrated(url: str) -> Any:
    from lifeline.storage import open_repository

    repo = open_repository(url)
    repo.migrate()
    return repo


if __name__ == "__main__":
    main()
