"""`lifeline generate`: write a synthetic region of Denmark as FHIR R4 NDJSON (or Bundles), and
its images as DICOM files (unless --no-images)."""

from __future__ import annotations

import datetime
import os
import shutil
import time
from pathlib import Path

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from lifeline.cli.common import clear_errors, console
from lifeline.clock import today as clock_today
from lifeline.config import SettingError


@clear_errors
def generate(
    patients: int = typer.Option(..., "--patients", help="How many patients"),
    seed: int = typer.Option(1, "--seed", help="The same seed (and --today) gives the same bytes"),
    out: Path = typer.Option(..., "--out", help="An empty or new folder for the files"),
    today: str = typer.Option(None, "--today", help="The record's today, YYYY-MM-DD [default: the real date]"),
    start_date: str = typer.Option(
        None, "--start-date", help="Where the record begins [default: 8 years before today]"
    ),
    bundles: bool = typer.Option(
        False, "--bundles", help="One transaction Bundle per patient instead of NDJSON per type"
    ),
    workers: int = typer.Option(None, "--workers", help="Processes [default: the number of cores]"),
    images: bool = typer.Option(
        True, "--images/--no-images", help="Write a DICOM study for every ImagingStudy, under OUT/dicom"
    ),
) -> None:
    """Generate a synthetic region: hospitals, staff, patients and their records, as FHIR R4."""
    from lifeline.generate import Options
    from lifeline.generate import generate as run

    # The files are written beside `out` and moved there whole at the end: a folder that exists
    # is a complete region, even after an interrupted run (make demo tests only that it exists).
    target = _empty_folder(out)
    partial = target.with_name(f"{target.name}.partial")
    shutil.rmtree(partial, ignore_errors=True)
    options = Options(
        patients=_positive("--patients", patients),
        seed=seed,
        out=partial,
        today=_date("--today", today) if today else clock_today(),
        start=_date("--start-date", start_date) if start_date else None,
        bundles=bundles,
        workers=_positive("--workers", workers) if workers is not None else os.cpu_count() or 1,
        images=images,
    )
    if options.first_day >= options.today:
        raise SettingError(f"--start-date {options.first_day} must be before --today {options.today}")
    if options.today.year > 2036 or options.first_day.year < 1900:
        raise SettingError("the record must lie between 1900 and 2036 (the CPR numbers' centuries)")
    started = time.monotonic()
    with Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console
    ) as progress:
        task = progress.add_task("patients", total=options.patients)

        def advance(done: int, resources: int) -> None:
            rate = resources / max(time.monotonic() - started, 1e-6)
            progress.update(task, completed=done, description=f"{resources:,} resources, {rate:,.0f}/s")

        studies: list[TaskID] = []

        def advance_images(done: int, total: int) -> None:
            if not studies:
                studies.append(progress.add_task("DICOM studies", total=total))
            progress.update(studies[0], completed=done)

        summary = run(options, advance, advance_images)
    if target.exists():
        target.rmdir()  # empty, as checked
    partial.rename(target)
    table = Table(title=f"Generated in {out}")
    table.add_column("resource type")
    table.add_column("resources", justify="right")
    for res_type, n in sorted(summary.counts.items()):
        table.add_row(res_type, f"{n:,}")
    table.add_row("total", f"{summary.resources:,}", style="bold")
    console.print(table)
    files = " ".join(str(target / p.name) for p in summary.files) if bundles else f"{out}/*.ndjson"
    console.print(
        f"{options.patients:,} patients, {summary.resources:,} resources in {summary.seconds:.1f} s "
        f"({summary.resources / max(summary.seconds, 1e-6):,.0f}/s); load with: lifeline import {files}"
    )
    if summary.images is not None:
        made = summary.images
        console.print(
            f"{made.studies:,} DICOM studies, {made.instances:,} images, {made.bytes / 1e6:,.0f} MB in "
            f"{summary.image_seconds:.1f} s, in {target / 'dicom'} (for lifeline images load)"
        )


def _positive(name: str, value: int) -> int:
    if value < 1:
        raise SettingError(f"{name} must be at least 1, not {value}")
    return value


def _date(name: str, text: str) -> datetime.date:
    try:
        return datetime.date.fromisoformat(text)
    except ValueError:
        raise SettingError(f"{name} must be a date like 2026-11-22, not {text!r}") from None


def _empty_folder(out: Path) -> Path:
    if out.exists() and not out.is_dir():
        raise SettingError(f"--out {out} is a file, not a folder")
    if out.is_dir() and any(out.iterdir()):
        raise SettingError(f"--out {out} is not empty: generate into a new or empty folder")
    return out
