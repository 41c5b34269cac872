"""`python -m bench.skew`: two cases of issue 27 that evenly spread data never shows.

(1) **A dominant value.** `Observation?subject=Patient/X&code=C&_sort=-date` through a real
`lifeline serve` over HTTP (wrk, enough connections to saturate), beside the same search as hand-
written SQL from as many raw-driver clients (the floor: one range of search_subject_code's index,
the table Lifeline reads this search from), first on an evenly spread region (2,000 patients, a
dozen Observations each, twenty codes) and again after `lifeline import` added 250,000
Observations, 90% of one code and heaped on a few patients (one with 40,000, ten with 5,000 each).
Issue 27 saw such a region take a peer-level search down to 110/s, p99 1.0-1.7 s, 14.7 ms of
PostgreSQL CPU a request. Reported per case: rate, p50/p95/p99, PostgreSQL CPU per request,
skewed/even ratios, and EXPLAIN (ANALYZE) of the SQL Lifeline itself runs (captured from the FHIR
core) on both, to say whether the plan held.

(2) **Statistics nobody took.** A region of some 50,000 resources PUT over HTTP in 50-entry
transactions from 8 clients into a fresh schema whose tables have autovacuum off, the rate
recorded every 5,000 resources with what the planner believed the `resource` table held; then
the same load into another fresh schema while the benchmark ANALYZEs it every 5,000 resources
(statistics always current). Issue 27 saw such a load fall from 500 to 90 resources/s; Lifeline
now refreshes its statistics itself (storage/statistics.py), and this shows whether that holds.

Usage: python -m bench.skew [--patients 2000] [--skew 250000] [--seconds 10] [--connections 16]
                            [--load-patients 4000] [--parts skewed,load] [--backends postgresql]
Results: bench/results/skew.json (a part or backend not run is kept from the run before);
docs/benchmarks.md records them.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import random
import re
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import orjson
import psycopg
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from bench.__main__ import PG_URL, RESULTS, Store, _free_port, _machine, _serving, _settle, console
from bench.auth import settings as bench_settings
from bench.auth import token as bench_token
from bench.cpu import cpu_of_postgres
from bench.floor import in_threads
from bench.search import _connect, newest_first_floor
from lifeline.fhir.request import FhirRequest
from lifeline.fhir.service import FhirService
from lifeline.identity.principal import OPERATOR
from lifeline.storage import open_repository
from lifeline.storage.deferred_indexes import RECORD_TABLES
from lifeline.storage.postgres import PLANNER_SETTINGS

HERE = Path(__file__).parent
LOINC = "http://loinc.org"
CODES = ["2345-7", "718-7", "2160-0", "8867-4", "2951-2", "2823-3", "2093-3", "2085-9", "2571-8", "4548-4",
         "1742-6", "1920-8", "6768-6", "1975-2", "2885-2", "1751-7", "3016-3", "789-8", "785-6", "777-3"]  # fmt: skip
DOMINANT = "2345-7"  # glucose: 90% of the added Observations
RARE = "777-3"  # platelets: one in twenty of the even region's, about one in 200 of the added


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.skew")
    parser.add_argument("--backends", default="postgresql")
    parser.add_argument("--parts", default="skewed,load")
    parser.add_argument("--patients", type=int, default=2000)
    parser.add_argument("--per-patient", type=int, default=12)
    parser.add_argument("--skew", type=int, default=250_000, help="Observations added, mostly of one code")
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--load-patients", type=int, default=4000)
    parser.add_argument("--load-clients", type=int, default=8)
    parser.add_argument("--bundle", type=int, default=50)
    parser.add_argument("--load-limit", type=int, default=240, help="seconds a load may take at most")
    args = parser.parse_args()
    RESULTS.mkdir(exist_ok=True)
    # The benchmark's one app stands for many clients: its rate limit and requests in flight are
    # lifted by the benchmarks' server environment (bench/auth.py server_env).
    results: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": _machine(),
        "load_average_at_start": os.getloadavg(),
        "arguments": vars(args),
    }
    parts, backends = args.parts.split(","), args.backends.split(",")
    # A part (or a backend of the skewed case) not run this time is kept from the last run.
    kept = json.loads((RESULTS / "skew.json").read_text()) if (RESULTS / "skew.json").exists() else {}
    results.update({part: kept[part] for part in ("skewed", "load") if part in kept and part not in parts})
    if "skewed" in parts:
        results["skewed"] = {b: out for b, out in kept.get("skewed", {}).items() if b not in backends}
        for backend in backends:
            results["skewed"][backend] = _skewed_case(backend, args, results)
    if "load" in parts:
        results["load"] = _http_loads(args, results)
    results["load_average_at_end"] = os.getloadavg()
    _save(results)
    _print(results)


def _save(results: dict[str, Any]) -> None:
    (RESULTS / "skew.json").write_text(json.dumps(results, indent=2))


# The data: an even region, and the heap of one code added to it.


def _observation(res_id: str, patient: str, code: str, rng: random.Random) -> dict[str, Any]:
    day = f"{rng.randint(2000, 2026)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
    return {
        "resourceType": "Observation",
        "id": res_id,
        "status": "final",
        "code": {"coding": [{"system": LOINC, "code": code}]},
        "subject": {"reference": f"Patient/{patient}"},
        "effectiveDateTime": f"{day}T{rng.randint(0, 23):02d}:{rng.choice(('00', '30'))}:00Z",
        "valueQuantity": {"value": round(rng.uniform(1, 200), 1), "unit": "mmol/L",
                          "system": "http://unitsofmeasure.org", "code": "mmol/L"},
    }  # fmt: skip


def even_region(prefix: str, patients: int, per_patient: int, seed: int = 7) -> Iterator[dict[str, Any]]:
    """Each patient, then their `per_patient` Observations of codes drawn evenly from CODES."""
    rng = random.Random(seed)
    for n in range(patients):
        pid = f"{prefix}-p{n}"
        yield {
            "resourceType": "Patient",
            "id": pid,
            "name": [{"family": rng.choice(["Jensen", "Nielsen", "Hansen"]), "given": [rng.choice(["Anne", "Lars"])]}],
            "gender": rng.choice(["female", "male"]),
            "birthDate": f"{rng.randint(1930, 2020)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
        }
        for k in range(per_patient):
            yield _observation(f"{prefix}-o{n}-{k}", pid, rng.choice(CODES), rng)


def heavy_patient(prefix: str) -> str:
    return f"{prefix}-p0"  # 16% of the added Observations


def busy_patients(prefix: str) -> list[str]:
    return [f"{prefix}-p{n}" for n in range(1, 11)]  # 2% of the added Observations each


def skew_added(prefix: str, patients: int, total: int, seed: int = 11) -> Iterator[dict[str, Any]]:
    """`total` Observations, 90% of DOMINANT (the rest of the other codes evenly): 16% on one
    patient, 2% on each of ten more, the rest spread over every patient."""
    rng = random.Random(seed)
    owners = [heavy_patient(prefix)] * int(total * 0.16)
    for busy in busy_patients(prefix):
        owners += [busy] * int(total * 0.02)
    owners += [f"{prefix}-p{rng.randrange(patients)}" for _ in range(total - len(owners))]
    others = [c for c in CODES if c != DOMINANT]
    for n, owner in enumerate(owners):
        code = DOMINANT if rng.random() < 0.9 else rng.choice(others)
        yield _observation(f"{prefix}-x{n}", owner, code, rng)


def _write(path: Path, resources: Iterator[dict[str, Any]]) -> Path:
    with path.open("wb") as out:
        for resource in resources:
            out.write(orjson.dumps(resource) + b"\n")
    return path


# (1) The skewed case.


@dataclass
class Case:
    """One kind of search: `pairs` of (patient id, code) a client picks from at random."""

    name: str
    pairs: list[tuple[str, str]]
    counted: bool = True  # the total too (the default, _total=accurate), or not (_total=none)

    def paths(self) -> list[str]:
        total = "" if self.counted else "&_total=none"
        return [
            f"Observation?subject=Patient/{p}&code={quote(f'{LOINC}|{c}', safe='')}&_sort=-date{total}"
            for p, c in self.pairs
        ]

    def floor_calls(self) -> list[tuple[str, tuple[Any, ...]]]:
        """The floor's statement for each pair (bench/search.py's, on search_subject_code): the
        page, and the total where the search counts it."""
        sql = newest_first_floor(self.counted)
        return [(sql, (p, c, LOINC) * (2 if self.counted else 1)) for p, c in self.pairs]


def _cases(prefix: str, patients: int) -> list[Case]:
    rng = random.Random(3)
    ordinary = rng.sample(range(11, patients), min(500, patients - 11))
    heavy, busy = heavy_patient(prefix), busy_patients(prefix)
    return [
        Case("rare code, random patients", [(f"{prefix}-p{n}", RARE) for n in ordinary]),
        Case("dominant code, random patients", [(f"{prefix}-p{n}", DOMINANT) for n in ordinary]),
        Case("dominant code, 10 busy patients", [(p, DOMINANT) for p in busy]),
        Case("dominant code, the heaviest patient", [(heavy, DOMINANT)]),
        Case("rare code, the heaviest patient", [(heavy, RARE)]),
        Case("dominant code, the heaviest patient, _total=none", [(heavy, DOMINANT)], counted=False),
    ]


def _skewed_case(backend: str, args: argparse.Namespace, results: dict[str, Any]) -> dict[str, Any]:
    prefix = "skew"
    even = _write(RESULTS / "skew-even.ndjson", even_region(prefix, args.patients, args.per_patient))
    added = _write(RESULTS / "skew-added.ndjson", skew_added(prefix, args.patients, args.skew))
    if backend == "sqlite":
        url = f"sqlite:///{RESULTS / f'skew-{uuid.uuid4().hex[:8]}.db'}"
    else:
        url = f"{PG_URL}?schema=skew_{uuid.uuid4().hex[:8]}"
    store = Store(backend, url, RESULTS / "skew-ids.txt", [], 0, 0.0)
    cases = _cases(prefix, args.patients)
    out: dict[str, Any] = {"date": datetime.now(UTC).isoformat(timespec="seconds")}
    results.setdefault("skewed", {})[backend] = out
    try:
        repo = open_repository(url)
        repo.migrate()
        repo.close()
        for phase, source in (("even", even), ("skewed", added)):
            out[phase] = {"import": _import(url, source)}
            out[phase]["resources"] = _count(url)
            console.print(f"[bold]{backend}, {phase}[/]: {out[phase]['resources']:,} resources")
            out[phase]["cases"] = _measure(url, backend, cases, args)
            _save(results)
        out["ratios"] = {
            case.name: {
                what: out["skewed"]["cases"][case.name][side][key] / out["even"]["cases"][case.name][side][key]
                for what, side, key in (
                    ("lifeline_rate", "lifeline", "per_s"),
                    ("lifeline_p95", "lifeline", "p95_ms"),
                    ("floor_rate", "floor", "per_s"),
                    ("floor_p95", "floor", "p95_ms"),
                    ("lifeline_postgres_cpu", "lifeline", "postgres_cpu_ms_per_request"),
                )
                if key in out["even"]["cases"][case.name].get(side, {})
            }
            for case in cases
        }
        if backend == "postgresql":  # the plan survived if its nodes are the same on both
            out["plan_kept_its_shape"] = {
                case.name: out["even"]["cases"][case.name]["explain"].get("shape")
                == out["skewed"]["cases"][case.name]["explain"].get("shape")
                for case in cases
            }
    finally:
        store.drop()
        if backend == "sqlite":  # Store.drop leaves the writer's lock file
            Path(f"{url[len('sqlite:///') :]}.writer-lock").unlink(missing_ok=True)
        for made in (even, added, RESULTS / "skew-paths.txt"):  # remade in seconds by the next run
            made.unlink(missing_ok=True)
    return out


def _import(url: str, source: Path) -> dict[str, float]:
    """`lifeline import` of `source`, then settled as every benchmark settles (VACUUM ANALYZE)."""
    with console.status(f"lifeline import {source.name}"):
        started = time.perf_counter()
        command = [sys.executable, "-m", "lifeline.cli", "import", str(source), "--db", url]
        subprocess.run(command, check=True, capture_output=True)
        seconds = time.perf_counter() - started
        _settle(url)
    lines = sum(1 for _ in source.open("rb"))
    console.print(f"  imported {lines:,} in {seconds:.0f} s ({lines / seconds:,.0f}/s)")
    return {"resources": lines, "seconds": round(seconds, 1), "per_s": round(lines / seconds)}


def _count(url: str) -> int:
    repo = open_repository(url)
    with repo.reading() as session:
        count = int(session.count_current())
    repo.close()
    return count


def _measure(url: str, backend: str, cases: list[Case], args: argparse.Namespace) -> dict[str, Any]:
    """Every case through `lifeline serve`, through the floor's SQL, and explained."""
    out: dict[str, Any] = {case.name: {} for case in cases}
    port = _free_port()
    env = {**os.environ, "TOKEN": bench_token(url, port)}
    base = f"http://127.0.0.1:{port}"
    with _serving(url, port, args.workers):
        for case in cases:
            paths = RESULTS / "skew-paths.txt"
            paths.write_text("\n".join(case.paths()) + "\n")
            _wrk(base, {**env, "PATHS": str(paths)}, 3, args.connections)  # warm-up: workers, pools, pages
            cpu = cpu_of_postgres()
            load = os.getloadavg()[0]
            figures = _wrk(base, {**env, "PATHS": str(paths)}, args.seconds, args.connections)
            figures["load_average"] = round((load + os.getloadavg()[0]) / 2, 1)
            if backend == "postgresql":
                figures["postgres_cpu_ms_per_request"] = round(
                    (cpu_of_postgres() - cpu) * 1000 / max(figures["requests"], 1), 2
                )
            out[case.name]["lifeline"] = figures
            console.print(f"  {case.name}: lifeline {_line(figures)}")
    for case in cases:
        calls = case.floor_calls()
        cpu = cpu_of_postgres()
        figures = _floor(url, calls, args.seconds, args.connections)
        if backend == "postgresql":
            figures["postgres_cpu_ms_per_request"] = round(
                (cpu_of_postgres() - cpu) * 1000 / max(figures["requests"], 1), 2
            )
        out[case.name]["floor"] = figures
        console.print(f"  {case.name}: floor {_line(figures)}")
        if backend == "postgresql":
            patient, code = case.pairs[0]
            out[case.name]["explain"] = _explain_lifeline(url, patient, code, case.counted)
            console.print(
                f"    lifeline's SQL for {patient}: {out[case.name]['explain']['execution_ms']} ms in PostgreSQL"
            )
    return out


def _line(f: dict[str, Any]) -> str:
    cpu = f" pg cpu {f['postgres_cpu_ms_per_request']} ms/req" if "postgres_cpu_ms_per_request" in f else ""
    failed = f" [red]{f['failed']} failed[/]" if f.get("failed") else ""
    return f"{f['per_s']:,.0f}/s p50 {f['p50_ms']:.1f} p95 {f['p95_ms']:.1f} p99 {f['p99_ms']:.1f} ms{cpu}{failed}"


def _wrk(base: str, env: dict[str, str], seconds: int, connections: int) -> dict[str, Any]:
    """wrk with bench/wrk/skew.lua; a long --timeout so that slow answers are measured, not dropped."""
    output = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--timeout", "60s", "-s", str(HERE / "wrk" / "skew.lua"),
         base],
        capture_output=True, text=True, env=env, check=True, timeout=seconds + 120,
    ).stdout  # fmt: skip
    rate = re.search(r"Requests/sec:\s+([\d.]+)", output)
    line = re.search(r"skew p50_us (\d+) p95_us (\d+) p99_us (\d+) requests (\d+) non2xx (\d+) timeouts (\d+)", output)
    if rate is None or line is None:
        raise SystemExit(f"wrk said:\n{output}")
    p50, p95, p99, requests, non2xx, timeouts = (int(g) for g in line.groups())
    return {
        "per_s": round(float(rate.group(1)), 1),
        "p50_ms": p50 / 1000,
        "p95_ms": p95 / 1000,
        "p99_ms": p99 / 1000,
        "requests": requests,
        "failed": non2xx + timeouts,
    }


def _floor(url: str, calls: list[tuple[str, tuple[Any, ...]]], seconds: int, clients: int) -> dict[str, Any]:
    """The floor's SQL from `clients` raw-driver connections (2 processes, as the server has)."""
    processes = 2
    with multiprocessing.get_context("spawn").Pool(processes) as pool:
        parts = pool.starmap(_floor_process, [(url, calls, seconds, clients // processes, n) for n in range(processes)])
    latencies = sorted(ms for _, part in parts for ms in part)
    requests = sum(n for n, _ in parts)

    def pct(p: int) -> float:
        return round(latencies[min(len(latencies) - 1, int(len(latencies) * p / 100))], 2) if latencies else 0.0

    return {
        "per_s": round(requests / seconds, 1),
        "p50_ms": pct(50),
        "p95_ms": pct(95),
        "p99_ms": pct(99),
        "requests": requests,
    }


def _floor_process(
    url: str, calls: list[tuple[str, tuple[Any, ...]]], seconds: int, threads: int, seed: int
) -> tuple[int, list[float]]:
    latencies: list[list[float]] = [[] for _ in range(threads)]

    def client(slot: int, deadline: float) -> int:
        rng = random.Random(seed * 100 + slot)
        with _connect(url) as run:
            while time.monotonic() < deadline:
                sql, call_args = rng.choice(calls)
                started = time.perf_counter()
                run(sql, call_args)
                latencies[slot].append((time.perf_counter() - started) * 1000)
        return len(latencies[slot])

    count = in_threads(threads, seconds, client)
    return count, [ms for slot in latencies for ms in slot]


def _explain_lifeline(url: str, patient: str, code: str, counted: bool = True) -> dict[str, Any]:
    """EXPLAIN (ANALYZE, BUFFERS) of the statements the FHIR core runs for the search, captured as
    it sends them, on a connection set as Lifeline's search connections are; the slowest kept."""
    seen: list[tuple[str, Any]] = []
    original = psycopg.Connection.execute

    def traced(conn: Any, query: Any, params: Any = None, *rest: Any, **named: Any) -> Any:
        seen.append((query, params))
        return original(conn, query, params, *rest, **named)

    service = FhirService(open_repository(url), bench_settings(url))
    request = FhirRequest(
        "search",
        "Observation",
        params=[("subject", f"Patient/{patient}"), ("code", f"{LOINC}|{code}"), ("_sort", "-date")]
        + ([] if counted else [("_total", "none")]),
        principal=OPERATOR,
    )
    psycopg.Connection.execute = traced  # type: ignore[method-assign]
    try:
        service.handle(request)
    finally:
        psycopg.Connection.execute = original  # type: ignore[method-assign]
        service.repo.close()
    searches = [(q, p) for q, p in seen if isinstance(q, str) and "search_" in q and q.lstrip().startswith("SELECT")]
    schema = url.rsplit("schema=", 1)[1]
    explained = []
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f'SET search_path TO "{schema}"')
        conn.execute("SET plan_cache_mode = force_custom_plan")
        for setting in PLANNER_SETTINGS:
            conn.execute(setting)
        for sql, params in searches:
            conn.execute(f"EXPLAIN (ANALYZE) {sql}", params)  # once to bring its pages into memory
            plan = [str(r[0]) for r in conn.execute(f"EXPLAIN (ANALYZE, BUFFERS) {sql}", params).fetchall()]
            timing = next((line for line in plan if line.startswith("Execution Time")), "Execution Time: 0 ms")
            explained.append({"sql": sql, "params": [str(p) for p in params or ()], "plan": plan,
                              "execution_ms": float(re.findall(r"[\d.]+", timing)[0])})  # fmt: skip
    if not explained:
        return {"execution_ms": 0.0, "statements": 0}
    slowest = max(explained, key=lambda e: e["execution_ms"])
    return {**slowest, "statements": len(explained), "shape": _shape(slowest["plan"])}


def _shape(plan: list[str]) -> list[str]:
    """The plan's nodes (what, on which index or table), without costs, rows or timings: what
    stays the same when a plan survives new data."""
    nodes = []
    for line in plan:
        text = line.strip().removeprefix("->").strip()
        if "(cost=" in text:
            nodes.append(" " * (len(line) - len(line.lstrip())) + text.split("  (cost=")[0])
    return nodes


# (2) Loads over HTTP into a fresh database without autovacuum.


def _http_loads(args: argparse.Namespace, results: dict[str, Any]) -> dict[str, Any]:
    resources = list(even_region("load", args.load_patients, args.per_patient, seed=13))
    bundles = [resources[i : i + args.bundle] for i in range(0, len(resources), args.bundle)]
    out: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "resources": len(resources),
        "bundle": args.bundle,
        "clients": args.load_clients,
    }
    results["load"] = out
    for label, keep_current in (("autovacuum off, Lifeline's own statistics", False),
                                ("autovacuum off, the bench ANALYZEs every 5,000", True)):  # fmt: skip
        out[label] = _http_load(label, bundles, keep_current, args)
        _save(results)
    return out


def _http_load(label: str, bundles: list[list[dict[str, Any]]], keep_current: bool, args: argparse.Namespace) -> dict:
    """PUT `bundles` as transactions from `args.load_clients` clients into a fresh schema with
    autovacuum off on every table; each 5,000 resources, the time and what the planner believes."""
    url = f"{PG_URL}?schema=skew_load_{uuid.uuid4().hex[:8]}"
    schema = url.rsplit("schema=", 1)[1]
    repo = open_repository(url)
    repo.migrate()
    repo.close()
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        for (table,) in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = %s", (schema,)).fetchall():
            conn.execute(f'ALTER TABLE "{schema}"."{table}" SET (autovacuum_enabled = false)')
    port = _free_port()
    auth = {"Authorization": f"Bearer {bench_token(url, port)}", "Content-Type": "application/fhir+json",
            "Prefer": "return=minimal"}  # fmt: skip
    total = sum(len(b) for b in bundles)
    lock = threading.Lock()
    state: dict[str, Any] = {"next": 0, "done": 0, "mark": 5000, "failed": 0, "first_failure": None}
    marks: list[dict[str, Any]] = []
    started = time.monotonic()
    cpu_at_start = cpu_of_postgres()

    def milestone(done: int) -> None:
        now = time.monotonic() - started
        cpu = round(cpu_of_postgres() - cpu_at_start, 1)
        row = {"resources": done, "seconds": round(now, 1), "postgres_cpu_s": cpu}
        row.update(_planner_belief(schema))
        if keep_current:
            with psycopg.connect(PG_URL, autocommit=True) as conn:
                conn.execute(f'SET search_path TO "{schema}"')
                conn.execute(f"ANALYZE {', '.join(RECORD_TABLES)}")
        with lock:
            marks.append(row)

    def client(progress: Progress, task: Any) -> None:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}/fhir", headers=auth, timeout=300) as http:
            while True:
                with lock:
                    n = state["next"]
                    if n >= len(bundles) or time.monotonic() - started > args.load_limit:
                        return
                    state["next"] = n + 1
                entries = [{"resource": r, "request": {"method": "PUT", "url": f"{r['resourceType']}/{r['id']}"}}
                           for r in bundles[n]]  # fmt: skip
                body = orjson.dumps({"resourceType": "Bundle", "type": "transaction", "entry": entries})
                response = http.post("", content=body)
                crossed = None
                with lock:
                    if response.status_code == 200:
                        state["done"] += len(bundles[n])
                        if state["done"] >= state["mark"]:
                            crossed = state["done"]
                            state["mark"] += 5000
                    else:
                        state["failed"] += 1
                        failure = f"{response.status_code} {response.text[:300]}"
                        state["first_failure"] = state["first_failure"] or failure
                progress.advance(task, len(bundles[n]))
                if crossed is not None:
                    milestone(crossed)

    console.print(f"[bold]load over HTTP[/]: {label}")
    with _serving(url, port, args.workers):
        started = time.monotonic()
        with Progress(TextColumn("  {task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      console=console) as progress:  # fmt: skip
            task = progress.add_task("resources", total=total)
            clients = [threading.Thread(target=client, args=(progress, task)) for _ in range(args.load_clients)]
            for thread in clients:
                thread.start()
            for thread in clients:
                thread.join()
        seconds = time.monotonic() - started
    marks.sort(key=lambda m: m["resources"])
    previous = {"resources": 0, "seconds": 0.0}
    for mark in marks:
        took = max(mark["seconds"] - previous["seconds"], 1e-9)
        mark["per_s"] = round((mark["resources"] - previous["resources"]) / took)
        previous = mark
        console.print(
            f"  {mark['resources']:>7,}: {mark['per_s']:>5,}/s, the planner believes `resource` has"
            f" {mark['resource_reltuples']:,.0f} rows (analyzed {mark['resource_analyzed']} times)"
        )
    out = {
        "resources_written": state["done"],
        "seconds": round(seconds, 1),
        "per_s": round(state["done"] / seconds),
        "failed_transactions": state["failed"],
        "first_failure": state["first_failure"],
        "finished": state["done"] == total,
        "every_5000": marks,
    }
    console.print(f"  {out['resources_written']:,} resources in {seconds:.0f} s: {out['per_s']:,}/s")
    Store("postgresql", url, RESULTS / "skew-ids.txt", [], 0, 0.0).drop()
    return out


def _planner_belief(schema: str) -> dict[str, Any]:
    """What the planner holds of `resource` now: its row estimate and how often it was analyzed."""
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        row = conn.execute(
            "SELECT c.reltuples, s.n_live_tup, s.analyze_count + s.autoanalyze_count FROM pg_class c"
            " JOIN pg_stat_user_tables s ON s.relid = c.oid WHERE s.schemaname = %s AND s.relname = 'resource'",
            (schema,),
        ).fetchone()
    assert row is not None
    return {"resource_reltuples": float(row[0]), "resource_live_rows": int(row[1]), "resource_analyzed": int(row[2])}


def _print(results: dict[str, Any]) -> None:
    for backend, out in results.get("skewed", {}).items():
        table = Table(title=f"{backend}: Observation?subject&code&_sort=-date, even -> skewed ({results['date']})")
        for column in ("case", "lifeline even", "lifeline skewed", "ratio", "floor even", "floor skewed", "ratio"):
            table.add_column(column, justify="right")
        for name, ratio in out.get("ratios", {}).items():
            even, skewed = out["even"]["cases"][name], out["skewed"]["cases"][name]
            table.add_row(
                name,
                f"{even['lifeline']['per_s']:,.0f}/s p95 {even['lifeline']['p95_ms']:.0f}",
                f"{skewed['lifeline']['per_s']:,.0f}/s p95 {skewed['lifeline']['p95_ms']:.0f}",
                f"{ratio['lifeline_rate']:.2f}",
                f"{even['floor']['per_s']:,.0f}/s p95 {even['floor']['p95_ms']:.0f}",
                f"{skewed['floor']['per_s']:,.0f}/s p95 {skewed['floor']['p95_ms']:.0f}",
                f"{ratio['floor_rate']:.2f}",
            )
        console.print(table)


if __name__ == "__main__":
    main()
