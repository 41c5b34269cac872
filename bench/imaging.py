"""Scans and X-rays through Lifeline (issue 22): time to the first image of a study and frames per
second while scrolling, through Lifeline's image proxy and straight from Orthanc in the same run
(the floor), as ratios. Targets: first image under 500 ms, scrolling at least 10 frames/s.

A small generated region with its DICOM (`lifeline generate`, `lifeline images load` into an
Orthanc started for the run) is served by `lifeline serve` (SQLite, one process, as `make demo`);
a doctor gets a stay with the patient of the region's largest CT or MR study and a session. Then:

- first image: the viewer page of the study (when the page exists) and the middle image of its
  largest series, rendered with a window, as the viewer asks for them; the floor is the same frame
  straight from Orthanc; each round asks another slice with another window, so nothing is a
  repeat of the last answer;
- scrolling: every image of that series one after the other (one request at a time, as a wheel
  with no look-ahead), with 4 in flight (the viewer's look-ahead), and with 16 in flight (many
  viewers at once: the server's capacity for frames), through both.

Every request through Lifeline is authorised and written to the audit trail before its image is
sent: that is the cost measured. Usage: python -m bench.imaging [--patients 30] [--rounds 30].
Results go to bench/results/imaging.json; docs/benchmarks.md records them.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
from rich.console import Console
from rich.table import Table

from bench.__main__ import RESULTS, _free_port, _machine, _serving
from bench.auth import KEK
from bench.auth import settings as bench_settings
from lifeline.fhir.request import FhirRequest
from lifeline.fhir.service import FhirService
from lifeline.identity import records
from lifeline.identity.passwords import hash_password
from lifeline.identity.principal import OPERATOR
from lifeline.identity.records import User
from lifeline.identity.sessions import STAFF, Sessions
from lifeline.imaging.orthanc import Orthanc
from lifeline.storage import open_repository
from lifeline.web.login import COOKIE

console = Console()
WINDOWS = ("40,400,linear", "-600,1500,linear", "300,1500,linear", "40,80,linear")  # as the viewer sends them
LOOK_AHEAD = 4
CAPACITY = 16  # many viewers at once: enough to keep the server's core busy (capacity, not one viewer)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.imaging")
    parser.add_argument("--patients", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()
    RESULTS.mkdir(exist_ok=True)
    work = RESULTS / "imaging"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    region = work / "region"
    db = f"sqlite:///{work / 'lifeline.db'}"
    env = {**os.environ, "LIFELINE_KEK": KEK, "LIFELINE_DB": db, "LIFELINE_LOG_DIR": str(work / "log")}
    with _pacs(work) as pacs:
        console.print(f"generating {args.patients} patients with their images, importing, loading the PACS")

        def lifeline(*command: str) -> None:
            subprocess.run([sys.executable, "-m", "lifeline.cli", *command], check=True, env=env, capture_output=True)

        lifeline("generate", "--patients", str(args.patients), "--seed", "3", "--out", str(region))
        lifeline("db", "upgrade")
        lifeline("import", *map(str, sorted(region.glob("*.ndjson"))))
        lifeline("images", "load", str(region / "dicom"), "--pacs", pacs.url)
        study = _largest_study(region)
        cookie = _doctor_for(db, study)
        port = _free_port()
        os.environ.update({**env, "LIFELINE_PACS_URL": pacs.url})  # what bench.__main__'s server is given
        with _serving(db, port, 1):
            base = f"http://127.0.0.1:{port}"
            results = {
                "date": datetime.now(UTC).isoformat(timespec="seconds"),
                "machine": _machine(),
                "study": {"modality": study["modality"][0]["code"], "description": study.get("description")},
                **asyncio.run(_measure(base, pacs.url, cookie, study, args.rounds)),
            }
    (RESULTS / "imaging.json").write_text(json.dumps(results, indent=2))
    _print(results)


@contextmanager
def _pacs(work: Path) -> Iterator[Orthanc]:
    pacs = Orthanc(work / "pacs", _free_port())
    pacs.start()
    try:
        yield pacs
    finally:
        pacs.stop()


def _largest_study(region: Path) -> dict[str, Any]:
    studies = [orjson.loads(line) for line in (region / "ImagingStudy.ndjson").read_bytes().splitlines()]
    return max(studies, key=lambda s: max(len(series.get("instance", [])) for series in s["series"]))


def _doctor_for(db: str, study: dict[str, Any]) -> str:
    """A doctor with the study's patient in their care (a current stay), and their session's id."""
    repo = open_repository(db)
    service = FhirService(repo, bench_settings(db))
    try:
        role = {
            "practitioner": {"reference": "Practitioner/bench-doctor"},
            "organization": {"reference": "Organization/bench-department"},
        }
        stay = {
            "status": "in-progress",
            "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "IMP"},
            "subject": study["subject"],
            "serviceProvider": {"reference": "Organization/bench-department"},  # care: the department's stay
            "participant": [{"individual": {"reference": "PractitionerRole/bench-doctor"}}],
        }
        for resource in (
            {"resourceType": "Organization", "id": "bench-department", "name": "Billeddiagnostisk Afdeling"},
            {"resourceType": "Practitioner", "id": "bench-doctor", "name": [{"family": "Billedlæge"}]},
            {"resourceType": "PractitionerRole", "id": "bench-doctor", "active": True, **role},
            {"resourceType": "Encounter", "id": "bench-stay", **stay},
        ):
            request = FhirRequest("update", resource["resourceType"], resource["id"], body=resource)
            request.principal = OPERATOR
            service.handle(request)
        if records.get_user(repo, "bench-doctor") is None:
            user = User("bench-doctor", "bench-doctor", hash_password("not-used-by-the-bench-1"))
            records.put_user(repo, user, create=True)
        sessions = Sessions(repo, service.identity.state, "normal")
        return sessions.create(STAFF, username="bench-doctor", fhir_user="Practitioner/bench-doctor").id
    finally:
        repo.close()


async def _measure(base: str, pacs: str, cookie: str, study: dict[str, Any], rounds: int) -> dict[str, Any]:
    uid = study["identifier"][0]["value"].removeprefix("urn:oid:")
    series = max(study["series"], key=lambda s: len(s.get("instance", [])))
    instances = [i["uid"] for i in sorted(series["instance"], key=lambda i: i["number"])]

    def frame(root: str, index: int) -> str:
        return f"{root}/studies/{uid}/series/{series['uid']}/instances/{instances[index]}/frames/1/rendered"

    viewer = f"{base}/patients/{study['subject']['reference'].removeprefix('Patient/')}/imaging/{study['id']}"
    async with (
        httpx.AsyncClient(cookies={COOKIE: cookie}, timeout=30) as lifeline,
        httpx.AsyncClient(timeout=30) as orthanc,
    ):
        has_viewer = (await lifeline.get(viewer)).status_code == 200
        proxy, direct = f"{base}/imaging", pacs
        probe = await lifeline.get(frame(proxy, 0), headers={"accept": "image/jpeg"})
        if probe.status_code != 200:
            raise SystemExit(f"the proxy refused the bench's frame: {probe.status_code} {probe.text[:200]}")

        async def first_image(root: str, client: httpx.AsyncClient, page: bool, n: int) -> float:
            started = time.perf_counter()
            if page:
                assert (await client.get(viewer)).status_code == 200
            index = (len(instances) // 2 + n) % len(instances)
            answer = await client.get(f"{frame(root, index)}?window={WINDOWS[n % len(WINDOWS)]}")
            assert answer.status_code == 200, answer.text[:200]
            return (time.perf_counter() - started) * 1000

        async def scroll(root: str, client: httpx.AsyncClient, in_flight: int, window: str) -> float:
            gate = asyncio.Semaphore(in_flight)

            async def one(index: int) -> None:
                async with gate:
                    answer = await client.get(f"{frame(root, index)}?window={window}")
                    assert answer.status_code == 200

            started = time.perf_counter()
            await asyncio.gather(*(one(i) for i in range(len(instances))))
            return len(instances) / (time.perf_counter() - started)

        first: dict[str, list[float]] = {"page": [], "lifeline": [], "orthanc": []}
        for n in range(rounds):  # interleaved, so all three see the same machine
            if has_viewer:
                first["page"].append(await first_image(proxy, lifeline, True, n))
            first["lifeline"].append(await first_image(proxy, lifeline, False, n + 1))
            first["orthanc"].append(await first_image(direct, orthanc, False, n + 1))
        scrolling: dict[str, dict[str, float]] = {}
        for in_flight in (1, LOOK_AHEAD, CAPACITY):
            through = [await scroll(proxy, lifeline, in_flight, w) for w in WINDOWS]
            straight = [await scroll(direct, orthanc, in_flight, w) for w in WINDOWS]
            scrolling[f"{in_flight} in flight"] = {
                "lifeline_fps": round(statistics.median(through), 1),
                "orthanc_fps": round(statistics.median(straight), 1),
                "ratio": round(statistics.median(through) / statistics.median(straight), 2),
            }
    return {
        "images_in_series": len(instances),
        "first_image_ms": {
            **(
                {
                    "viewer_page_and_frame_p50": round(statistics.median(first["page"]), 1),
                    "viewer_page_and_frame_p95": round(_p95(first["page"]), 1),
                }
                if first["page"]
                else {}
            ),
            "lifeline_p50": round(statistics.median(first["lifeline"]), 1),
            "lifeline_p95": round(_p95(first["lifeline"]), 1),
            "orthanc_p50": round(statistics.median(first["orthanc"]), 1),
            "orthanc_p95": round(_p95(first["orthanc"]), 1),
        },
        "scrolling": scrolling,
    }


def _p95(values: list[float]) -> float:
    return sorted(values)[max(0, round(0.95 * len(values)) - 1)]


def _print(results: dict[str, Any]) -> None:
    table = Table(title=f"images: {results['study']['description']} ({results['images_in_series']} images a series)")
    for column in ("measure", "through Lifeline", "Orthanc alone (floor)", "ratio"):
        table.add_column(column)
    first = results["first_image_ms"]
    if "viewer_page_and_frame_p50" in first:
        page = f"{first['viewer_page_and_frame_p50']} / {first['viewer_page_and_frame_p95']}"
        table.add_row("first image: viewer page + frame, p50 / p95 ms", page, "", "")
    table.add_row(
        "one frame, p50 / p95 ms",
        f"{first['lifeline_p50']} / {first['lifeline_p95']}",
        f"{first['orthanc_p50']} / {first['orthanc_p95']}",
        f"{first['lifeline_p50'] / first['orthanc_p50']:.1f}x",
    )
    for name, row in results["scrolling"].items():
        table.add_row(
            f"scrolling frames/s, {name}", f"{row['lifeline_fps']}", f"{row['orthanc_fps']}", f"{row['ratio']}"
        )
    console.print(table)


if __name__ == "__main__":
    main()
