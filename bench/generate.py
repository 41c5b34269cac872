"""The population generator's benchmark: generation rate (resources/s) and peak memory for a
region of N patients, and the import of one such region into PostgreSQL.

Usage: python -m bench.generate [--patients 10000,100000] [--import-patients 10000] [--workers 2]
The generator runs as its own process (`lifeline generate`), so its memory is measured alone: the
peak of the whole process tree (the command and its workers), sampled from /proc, and the
largest single process's ru_maxrss. Results go to bench/results/generate.json; docs/benchmarks.md
records them. A measurement, not a test: nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import shutil
import subprocess
import sys
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console
from rich.table import Table

from bench.__main__ import PG_URL, RESULTS, _machine
from lifeline.bulk.importer import first_load, import_items
from lifeline.bulk.sources import Source
from lifeline.config import Settings
from lifeline.fhir.service import FhirService
from lifeline.storage import open_repository

TODAY = "2026-11-22"
console = Console()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.generate")
    parser.add_argument("--patients", default="10000,100000", help="comma-separated region sizes to generate")
    parser.add_argument("--import-patients", type=int, default=10000, help="import this size into PostgreSQL (0: none)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    RESULTS.mkdir(exist_ok=True)
    results: dict[str, object] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": _machine(),
        "workers": args.workers,
        "generate": [],
    }
    sizes = [int(n) for n in args.patients.split(",") if n]
    for patients in sorted(set(sizes) | ({args.import_patients} if args.import_patients else set())):
        out = RESULTS / f"generate-{patients}"
        shutil.rmtree(out, ignore_errors=True)
        figures = _generate(patients, out, args.workers)
        results["generate"].append(figures)  # type: ignore[attr-defined]
        console.print(
            f"{patients:,} patients: {figures['resources']:,} resources in {figures['seconds']:.0f} s, "
            f"{figures['resources_per_s']:,.0f}/s, peak {figures['peak_tree_mb']:.0f} MB (tree), "
            f"{figures['max_process_mb']:.0f} MB (largest process), {figures['megabytes_on_disk']:,.0f} MB written"
        )
        if patients == args.import_patients:
            results["import_postgresql"] = _import(out)
            console.print(f"  PostgreSQL import: {results['import_postgresql']}")
        shutil.rmtree(out, ignore_errors=True)
        (RESULTS / "generate.json").write_text(json.dumps(results, indent=2))
    _print(results)


def _generate(patients: int, out: Path, workers: int) -> dict[str, float]:
    command = [sys.executable, "-m", "lifeline.cli", "generate", "--patients", str(patients), "--seed", "1"]
    command += ["--out", str(out), "--today", TODAY, "--workers", str(workers), "--no-images"]  # FHIR alone
    # A small wrapper runs the command and reports ru_maxrss of its descendants: this run's alone.
    wrapper = (
        "import resource, subprocess, sys; subprocess.run(sys.argv[1:]); "
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
    )
    started = time.perf_counter()
    child = subprocess.Popen(
        [sys.executable, "-c", wrapper, *command], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    sampler = _TreeMemory(child.pid)
    sampler.start()
    stdout, stderr = child.communicate()
    seconds = time.perf_counter() - started
    sampler.stop()
    lines = [line for line in stderr.splitlines() if "│ total" in line]
    if child.returncode != 0 or not lines:
        raise SystemExit(f"lifeline generate failed: {stderr.strip().splitlines()[-1:]}")
    resources = int(lines[-1].split("│")[2].replace(",", "").strip())
    size = sum(p.stat().st_size for p in out.iterdir())
    return {
        "patients": patients,
        "resources": resources,
        "seconds": seconds,
        "resources_per_s": resources / seconds,
        "peak_tree_mb": sampler.peak / 2**20,
        "max_process_mb": int(stdout.split()[-1]) / 1024,
        "megabytes_on_disk": size / 2**20,
    }


class _TreeMemory(threading.Thread):
    """Samples the resident memory of a process and all its descendants, keeping the peak."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.peak, self._done = pid, 0, threading.Event()

    def run(self) -> None:
        while not self._done.wait(0.25):
            self.peak = max(self.peak, _tree_rss(self.pid))

    def stop(self) -> None:
        self._done.set()
        self.join()


def _tree_rss(root: int) -> int:
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    tree, grew = {root}, True
    while grew:
        more = {pid for pid, parent in parents.items() if parent in tree} - tree
        tree |= more
        grew = bool(more)
    total = 0
    for pid in tree:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
        except OSError:
            continue
    return total


def _import(out: Path) -> dict[str, float]:
    """`import_items` (what `lifeline import` runs), all files as one stream, into a fresh schema."""
    url = f"{PG_URL}?schema=bench_gen_{uuid.uuid4().hex[:8]}"
    repo = open_repository(url)
    repo.migrate()
    try:
        service = FhirService(repo, Settings(db=url))
        sources = [Source(p) for p in sorted(out.glob("*.ndjson"))]
        started = time.perf_counter()
        done = [0]

        def progress(n: int) -> None:
            done[0] += n
            if done[0] % 500_000 < n:
                console.print(f"  imported {done[0]:,} in {time.perf_counter() - started:.0f} s")

        # As `lifeline import` does: a first load this large builds its indexes at the end.
        with first_load(repo, sum(s.size for s in sources), lambda name: console.print(f"  building {name}")):
            items = itertools.chain.from_iterable(s.items() for s in sources)
            stats = import_items(service, items, batch_size=1000, on_progress=progress)
        seconds = time.perf_counter() - started
        for source in sources:
            source.close()
        return {"resources": stats.written, "seconds": seconds, "resources_per_s": stats.written / seconds}
    finally:
        drop = getattr(repo, "drop_schema", None)
        if drop is not None:
            drop()
        repo.close()


def _print(results: dict[str, object]) -> None:
    table = Table(title=f"lifeline generate, {results['date']} ({results['machine']}, {results['workers']} workers)")
    for column in ("patients", "resources", "seconds", "resources/s", "peak MB (tree)", "largest process MB"):
        table.add_column(column, justify="right")
    for r in results["generate"]:  # type: ignore[attr-defined]
        table.add_row(
            f"{r['patients']:,}",
            f"{r['resources']:,}",
            f"{r['seconds']:.0f}",
            f"{r['resources_per_s']:,.0f}",
            f"{r['peak_tree_mb']:.0f}",
            f"{r['max_process_mb']:.0f}",
        )
    console.print(table)
    if "import_postgresql" in results:
        console.print(f"PostgreSQL import: {results['import_postgresql']}")


if __name__ == "__main__":
    main()
