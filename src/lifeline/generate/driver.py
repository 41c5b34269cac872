"""`lifeline generate`: the region first, then the patients in chunks, made in worker processes
and written in patient order as the chunks come back (a few chunks in flight at most, so memory
stays flat however many patients). The same options give the same bytes: each chart depends
only on (seed, patient number, patients, today, start). With `images`, the DICOM files of every
ImagingStudy follow, made from the written folder (dicom.py)."""

from __future__ import annotations

import datetime
import multiprocessing
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lifeline.generate.chart import Context
from lifeline.generate.organisations import region_resources
from lifeline.generate.patient import make_chart
from lifeline.generate.region import region_plan
from lifeline.generate.writer import BundleFiles, NdjsonFiles, ndjson_lines, transaction_bundle

if TYPE_CHECKING:
    from lifeline.generate.dicom import ImageSummary

CHUNK = 50  # patients per piece of work handed to a worker
HISTORY_YEARS = 8  # the record's default length, before --today


@dataclass(frozen=True)
class Options:
    patients: int
    seed: int
    out: Path
    today: datetime.date
    start: datetime.date | None = None  # default: HISTORY_YEARS before today
    bundles: bool = False
    workers: int = 1
    images: bool = False  # write a DICOM study per ImagingStudy under out/dicom

    @property
    def first_day(self) -> datetime.date:
        if self.start is not None:
            return self.start
        try:
            return self.today.replace(year=self.today.year - HISTORY_YEARS)
        except ValueError:  # 29 February
            return self.today.replace(year=self.today.year - HISTORY_YEARS, day=28)


@dataclass
class Summary:
    counts: dict[str, int] = field(default_factory=dict)
    files: list[Path] = field(default_factory=list)
    seconds: float = 0.0
    images: ImageSummary | None = None
    image_seconds: float = 0.0

    @property
    def resources(self) -> int:
        return sum(self.counts.values())


Progress = Callable[[int, int], None]  # (patients done, resources done)
ImageProgress = Callable[[int, int], None]  # (studies done, studies in all)


def generate(
    options: Options,
    on_progress: Progress = lambda patients, resources: None,
    on_images: ImageProgress = lambda done, total: None,
) -> Summary:
    started = time.perf_counter()
    options.out.mkdir(parents=True, exist_ok=True)
    summary = Summary()
    context = _context(options)
    region = list(region_resources(context.plan, options.seed, options.patients, context.today))
    if options.bundles:
        bundle_files = BundleFiles(options.out)
        bundle_files.write_region(transaction_bundle(region, summary.counts))
        writer: NdjsonFiles | BundleFiles = bundle_files
    else:
        ndjson_files = NdjsonFiles(options.out)
        ndjson_files.write(ndjson_lines(region, summary.counts))
        writer = ndjson_files
    del region
    on_progress(0, summary.resources)
    try:
        done = 0
        for counts, rendered in _chunks(options):
            writer.write(rendered)
            for res_type, n in counts.items():
                summary.counts[res_type] = summary.counts.get(res_type, 0) + n
            done = min(done + CHUNK, options.patients)
            on_progress(done, summary.resources)
    finally:
        summary.files = writer.close()
    summary.seconds = time.perf_counter() - started
    if options.images:  # numpy and pydicom are imported only here: the chart workers do without
        from lifeline.generate.dicom import write_images

        total = summary.counts.get("ImagingStudy", 0)
        on_images(0, total)
        summary.images = write_images(options.out, total, options.workers, lambda done: on_images(done, total))
        summary.image_seconds = time.perf_counter() - started - summary.seconds
    return summary


def _context(options: Options) -> Context:
    return Context(
        options.seed, options.patients, options.today.toordinal(), options.first_day.toordinal(), region_plan()
    )


def _chunks(options: Options) -> Any:
    """Each chunk's (counts, rendered) in patient order, made here or in worker processes."""
    starts = range(0, options.patients, CHUNK)
    if options.workers <= 1 or options.patients <= 2 * CHUNK:
        for first in starts:
            yield render_chunk(options, first)
        return
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(options.workers, mp_context=context) as pool:
        in_flight: deque[Future[tuple[dict[str, int], Any]]] = deque()
        for first in starts:
            in_flight.append(pool.submit(render_chunk, options, first))
            if len(in_flight) >= 3 * options.workers:
                yield in_flight.popleft().result()
        while in_flight:
            yield in_flight.popleft().result()


def render_chunk(options: Options, first: int) -> tuple[dict[str, int], Any]:
    """Make and serialise patients first .. first+CHUNK-1 (run in a worker process)."""
    context = _context(options)
    counts: dict[str, int] = {}
    stop = min(first + CHUNK, options.patients)
    if options.bundles:
        return counts, [transaction_bundle(make_chart(context, i), counts) for i in range(first, stop)]
    lines: dict[str, list[bytes]] = {}
    for index in range(first, stop):
        for res_type, chunk in ndjson_lines(make_chart(context, index), counts).items():
            lines.setdefault(res_type, []).extend(chunk)
    return counts, lines
