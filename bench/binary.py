"""`python -m bench.binary`: a scanned letter stored and read back in its own format (issue 26).

On each backend, a fresh database: a PDF-like content of 1 MB and 10 MB is uploaded raw
(`POST /fhir/Binary`, `Content-Type: application/pdf`, `X-Security-Context`, `Prefer:
return=minimal`), read back raw (`Accept: application/pdf`) and as FHIR JSON; each the median of
five, through the ASGI application in process (the HTTP adapter, the core and the database; no
socket). Then, once each with tracemalloc, the peak of memory Python allocated for one upload and
one raw read: what a large payload costs beyond its own size (the base64 text is 4/3 of it).
Usage: python -m bench.binary [--backends sqlite,postgresql]
Results: bench/results/binary.json; docs/benchmarks.md records them.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from starlette.testclient import TestClient
from tests.conftest import database_url, dispose

from bench.__main__ import RESULTS, _machine
from bench.auth import settings as bench_settings
from lifeline.fhir.service import FhirService
from lifeline.storage import open_repository
from lifeline.web.app import create_app

console = Console()
SIZES = (1, 10)  # MB
RUNS = 5


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.binary")
    parser.add_argument("--backends", default="sqlite,postgresql")
    args = parser.parse_args()
    results: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": _machine(),
        "backends": {},
    }
    for backend in args.backends.split(","):
        results["backends"][backend] = _run(backend)
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / "binary.json").write_text(json.dumps(results, indent=2))
    table = Table(title="A Binary in its own format (median of 5, seconds; peak MB allocated)")
    for column in ("backend", "size", "upload", "raw read", "JSON read", "upload peak", "raw read peak"):
        table.add_column(column)
    for backend, rows in results["backends"].items():
        for row in rows:
            table.add_row(
                backend,
                f"{row['mb']} MB",
                f"{row['upload_s']:.3f}",
                f"{row['raw_read_s']:.3f}",
                f"{row['json_read_s']:.3f}",
                f"{row['upload_peak_mb']:.1f}",
                f"{row['raw_read_peak_mb']:.1f}",
            )
    console.print(table)


def _run(backend: str) -> list[dict[str, Any]]:
    with tempfile.TemporaryDirectory() as folder:
        url = database_url(backend, Path(folder))
        repo = open_repository(url)
        repo.migrate()
        service = FhirService(repo, bench_settings(url, max_body_bytes=32 * 1024 * 1024, issuer="http://testserver"))
        token = service.identity.issue(subject="bench", client_id="bench", scopes="system/*.cruds", lifetime=3600)
        try:
            app = create_app(service, close_on_shutdown=False)
            with TestClient(app, base_url="http://testserver", headers={"Authorization": f"Bearer {token}"}) as client:
                client.put("/fhir/Patient/bench", json={"resourceType": "Patient", "id": "bench"})
                return [_measure(client, mb) for mb in SIZES]
        finally:
            recorder = service.__dict__.get("auditor")
            if recorder is not None:
                recorder.close()
            dispose(repo)


def _measure(client: TestClient, mb: int) -> dict[str, Any]:
    letter = b"%PDF-1.7\n" + bytes(range(256)) * (mb * 4096) + b"\n%%EOF\n"
    sent = {"Content-Type": "application/pdf", "X-Security-Context": "Patient/bench", "Prefer": "return=minimal"}

    def upload() -> str:
        answer = client.post("/fhir/Binary", content=letter, headers=sent)
        assert answer.status_code == 201, answer.text[:300]
        return str(answer.headers["Location"]).split("/_history")[0].replace("http://testserver", "")

    path = upload()

    def raw_read() -> None:
        assert client.get(path, headers={"Accept": "application/pdf"}).content == letter

    def json_read() -> None:
        assert client.get(path, headers={"Accept": "application/fhir+json"}).status_code == 200

    return {
        "mb": mb,
        "upload_s": _median(upload),
        "raw_read_s": _median(raw_read),
        "json_read_s": _median(json_read),
        "upload_peak_mb": _peak(upload),
        "raw_read_peak_mb": _peak(raw_read),
    }


def _median(step: Callable[[], object]) -> float:
    times = []
    for _ in range(RUNS):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _peak(step: Callable[[], object]) -> float:
    tracemalloc.start()
    try:
        step()
        return tracemalloc.get_traced_memory()[1] / (1024 * 1024)
    finally:
        tracemalloc.stop()


if __name__ == "__main__":
    main()
