"""`python -m bench.search`: search latency and throughput on a generated region of ≥ 1 million
resources, on SQLite and PostgreSQL, each query beside the same query written by hand in SQL
against the index tables (the floor), measured in the same run; (c) and (i) by hand on
search_subject_code, the table Lifeline answers them from since issue 27.

Queries (issue 3), named (a) … (e) in the output: (a) Patient by CPR identifier, (b) Patient by
name prefix, (c) a patient's Observations of one code sorted by date descending, first page,
(d) Patient/{id}/$everything first page for a patient with 2,000 resources, (e) Observations
chained by the patient's CPR; and the chain shapes of the R4 search page (issue 27): (f) an untyped
chain `subject.name`, (g) `general-practitioner.name` (to two target types), (h) two links
`encounter.subject:Patient.identifier`, (i) the reverse chain `_has:Observation:patient:code`.
Latency is measured through the FHIR core (FhirService.handle plus JSON serialisation: what the
server does for a request, without HTTP) and through HTTP with one client; throughput of (b)
with 16 concurrent HTTP clients (wrk) against `lifeline serve --workers 2`. Before the three
are timed, every sample is run once through the floor, so that they all find the same pages in
memory.

Usage: python -m bench.search [--patients 11000] [--backends sqlite,postgresql] [--samples 200]
The region is generated once into bench/results/region-N and imported once per backend (kept in
bench/results/search-N.db and the PostgreSQL schema bench_search_N; --fresh re-imports).
Results: bench/results/search.json; docs/benchmarks.md records them.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sqlite3
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import orjson
import psycopg
from rich.console import Console
from rich.table import Table

from bench.__main__ import _free_port, _machine, _serving, kept_database
from bench.auth import settings as bench_settings
from bench.auth import token as bench_token
from bench.floor import in_threads, spread_rate
from bench.wrk import run_wrk
from lifeline.fhir.request import FhirRequest
from lifeline.fhir.service import FhirService
from lifeline.identity.principal import OPERATOR
from lifeline.search.registry import default_registry
from lifeline.storage import open_repository, param_numbers
from lifeline.storage.postgres import PLANNER_SETTINGS

HERE = Path(__file__).parent
RESULTS = HERE / "results"
PG_URL = os.environ.get("LIFELINE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
CPR = "urn:oid:1.2.208.176.1.2"
HEAVY = "bench-heavy-patient"
HEAVY_CPR = "0101709996"
LOINC = "http://loinc.org"
console = Console()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.search")
    parser.add_argument("--patients", type=int, default=11_000)  # with the long-ill patient: over 1 million resources
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--fresh", action="store_true", help="re-import even if the database is there")
    args = parser.parse_args()
    RESULTS.mkdir(exist_ok=True)
    region = _region(args.patients)
    results: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": _machine(),
        "patients": args.patients,
        "backends": {},
    }
    for backend in args.backends.split(","):
        results["backends"][backend] = _bench_backend(backend, region, args)
        (RESULTS / "search.json").write_text(json.dumps(results, indent=2))
    _print(results)


def _region(patients: int) -> Path:
    """The generated region (NDJSON per type) plus one patient with 2,000 resources."""
    out = RESULTS / f"region-{patients}"
    if not (out / "Patient.ndjson").exists():
        console.print(f"generating a region of {patients} patients into {out}")
        subprocess.run(
            [sys.executable, "-m", "lifeline.cli", "generate", "--patients", str(patients), "--seed", "7",
             "--today", "2026-11-22", "--no-images", "--out", str(out)],
            check=True,
        )  # fmt: skip
    heavy = out / "zz-heavy-patient.ndjson"
    if not heavy.exists():
        heavy.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in _heavy_patient()))
    return out


def _heavy_patient() -> list[dict[str, Any]]:
    """A long-ill patient with 2,000 resources in their compartment, for $everything."""
    rng = random.Random(11)
    subject = {"reference": f"Patient/{HEAVY}"}
    out: list[dict[str, Any]] = [
        {
            "resourceType": "Patient",
            "id": HEAVY,
            "identifier": [{"system": CPR, "value": HEAVY_CPR}],
            "name": [{"family": "Kronisk", "given": ["Karen"]}],
            "gender": "female",
            "birthDate": "1970-01-01",
        }
    ]
    for n in range(200):
        out.append(
            {
                "resourceType": "Encounter",
                "id": f"{HEAVY}-enc{n}",
                "status": "finished",
                "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
                "subject": subject,
                "period": {"start": f"20{10 + n // 20:02d}-{1 + n % 12:02d}-10T09:00:00+01:00"},
            }
        )
    for n in range(1799):
        code = ["2345-7", "718-7", "2160-0", "8867-4"][n % 4]
        out.append(
            {
                "resourceType": "Observation",
                "id": f"{HEAVY}-obs{n}",
                "status": "final",
                "code": {"coding": [{"system": LOINC, "code": code}]},
                "subject": subject,
                "encounter": {"reference": f"Encounter/{HEAVY}-enc{n % 200}"},
                "effectiveDateTime": f"20{10 + n // 120:02d}-{1 + n % 12:02d}-{1 + n % 28:02d}T08:00:00+01:00",
                "valueQuantity": {"value": round(rng.uniform(3, 12), 1), "unit": "mmol/L"},
            }
        )
    return out


def _bench_backend(backend: str, region: Path, args: argparse.Namespace) -> dict[str, Any]:
    files = sorted(region.glob("*.ndjson*"))
    url, result = kept_database(backend, f"search_{args.patients}", files, args.fresh)
    stored = result["resources"]
    console.print(f"[bold]{backend}[/]: {stored:,} resources")
    samples = _samples(url, args.samples)
    service = FhirService(open_repository(url), bench_settings(url))
    floor = _Floor(url)
    queries = _queries(samples, postgres=backend == "postgresql")
    port = _free_port()
    token = bench_token(url, port)
    try:
        with _serving(url, port, 2):
            auth = {"Authorization": f"Bearer {token}"}
            with httpx.Client(base_url=f"http://127.0.0.1:{port}/fhir", timeout=30, headers=auth) as http:
                result["queries"] = time_queries(service, http, floor, queries)
            prefixes = RESULTS / "name-prefixes.txt"
            prefixes.write_text("\n".join(quote(p) for p in samples["prefixes"]) + "\n")
            env = {**os.environ, "PREFIXES": str(prefixes), "TOKEN": token}
            base = f"http://127.0.0.1:{port}"
            run_wrk(base, HERE / "wrk" / "search_name.lua", 5, env)  # warm-up
            load = run_wrk(base, HERE / "wrk" / "search_name.lua", args.seconds, env)
            result["name_search_16_clients"] = {"per_s": load.rate, "p50_ms": load.p50_ms, "p99_ms": load.p99_ms}
            console.print(f"  (b) under 16 clients: {load.rate:,.0f} searches/s, p99 {load.p99_ms:.1f} ms")
            # The same searches as the floor's SQL from 16 clients of the raw driver: what the
            # database alone can do on this machine, the ceiling of any server's throughput here.
            floor_rate = _floor_rate(url, queries["(b) name prefix"][1], args.seconds)
            result["name_search_floor_16_clients_per_s"] = floor_rate
            console.print(f"  (b) floor under 16 clients: {floor_rate:,.0f} searches/s")
    finally:
        service.repo.close()
        floor.close()
    return result


def time_queries(
    service: FhirService, http: httpx.Client, floor: _Floor, queries: Queries
) -> dict[str, dict[str, float]]:
    """Each query's latencies through the core, over HTTP and as the floor's SQL, p50 and p95."""
    out: dict[str, dict[str, float]] = {}
    for name, (requests, floor_calls) in queries.items():
        # One untimed pass over every sample first: whichever of the three ran first would
        # otherwise pay for reading the samples' pages from disk (the run of 2026-11-23 17:54
        # measured (c) at 108.8 ms p95 in process, then 21.9 over HTTP).
        for call in floor_calls:
            floor.run(*call)
        core = _latencies(lambda r: orjson.dumps(service.handle(r).resource), requests)
        raw = _latencies(lambda call: floor.run(*call), floor_calls)
        web = _latencies(lambda r: _get(http, r), requests)
        out[name] = figures = percentiles(core, web, raw)
        console.print(
            f"  {name}: core p50 {figures['core_p50_ms']:.2f} p95 {figures['core_p95_ms']:.2f} ms,"
            f" http p95 {figures['http_p95_ms']:.2f} ms, floor p95 {figures['floor_p95_ms']:.2f} ms"
            f" ({figures['core_to_floor_p95']:.1f}x)"
        )
    return out


def percentiles(core: list[float], web: list[float], raw: list[float]) -> dict[str, float]:
    """p50 and p95 of the latencies in process (core), over HTTP and of the floor, and the ratio
    of the p95s in process and of the floor."""
    figures = {
        "core_p50_ms": _pct(core, 50),
        "core_p95_ms": _pct(core, 95),
        "http_p50_ms": _pct(web, 50),
        "http_p95_ms": _pct(web, 95),
        "floor_p50_ms": _pct(raw, 50),
        "floor_p95_ms": _pct(raw, 95),
    }
    figures["core_to_floor_p95"] = figures["core_p95_ms"] / figures["floor_p95_ms"]
    return figures


def _get(http: httpx.Client, request: FhirRequest) -> None:
    path = request.resource_type or ""
    if request.id:
        path += f"/{request.id}"
    if request.operation:
        path += f"/{request.operation}"
    response = http.get(path, params=request.params)
    if response.status_code != 200:
        raise SystemExit(f"{path} {request.params}: {response.status_code} {response.text[:300]}")


def _samples(url: str, n: int) -> dict[str, list[Any]]:
    """Random patients (id, CPR), name prefixes and (patient, observation code) pairs, drawn once."""
    rng = random.Random(3)
    with _connect(url) as run:
        patients = run(
            "SELECT s.res_id, s.code FROM search_token s"
            f" WHERE s.pid = {param_numbers.number('Patient', 'identifier')} AND s.system = ?",
            (CPR,),
        )
        names = run(f"SELECT normalized FROM search_string WHERE pid = {param_numbers.number('Patient', 'name')}", ())
        pairs = run(
            "SELECT s.target_id, t.system, t.code FROM search_reference s JOIN search_token t"
            " ON t.res_type = s.res_type AND t.res_id = s.res_id"
            f" AND t.pid = {param_numbers.number('Observation', 'code')}"
            f" WHERE s.pid = {param_numbers.number('Observation', 'subject')} AND s.target_type = 'Patient'"
            " AND t.system IS NOT NULL AND s.target_id != ?",
            (HEAVY,),
        )
        practitioners = run(
            f"SELECT normalized FROM search_string WHERE pid = {param_numbers.number('Practitioner', 'name')}", ()
        )
    chosen = rng.sample(patients, min(n, len(patients)))
    prefixes = sorted(
        {name[: rng.choice((3, 4, 5))] for name in rng.sample([r[0] for r in names], min(2000, len(names)))}
    )
    doctors = sorted({name[:4] for name in (r[0] for r in practitioners) if len(name) >= 4})
    return {
        "patients": chosen,
        "prefixes": [p for p in prefixes if len(p) >= 3],
        "pairs": rng.sample(pairs, min(n, len(pairs))),
        "doctors": [rng.choice(doctors) for _ in range(min(n, 50))] if doctors else [],
    }


Request = FhirRequest
FloorCall = tuple[str, tuple[Any, ...]]
# Each query by name: its FHIR requests, and the floor's SQL calls doing the same work.
Queries = dict[str, tuple[list[FhirRequest], list[list[FloorCall]]]]

# The numbers of every (type, parameter) pair of the Patient compartment, as Lifeline's
# $everything asks for them (search/query/compartment.py).
_COMPARTMENT_NUMBERS = sorted(
    param_numbers.of(
        (t, p) for t in default_registry().resource_types for p in default_registry().compartment_params(t)
    )
)


def _queries(
    samples: dict[str, list[Any]], *, postgres: bool
) -> dict[str, tuple[list[Request], list[list[FloorCall]]]]:
    """Each query as FHIR requests and as the hand-written SQL doing the same work (page + total)."""
    rng = random.Random(5)
    out: dict[str, tuple[list[Request], list[list[FloorCall]]]] = {}
    page = 51  # the default _count (50) plus one, as the server fetches to know of a next page
    out["(a) CPR"] = (
        [
            FhirRequest("search", "Patient", params=[("identifier", f"{CPR}|{cpr}")], principal=OPERATOR)
            for _, cpr in samples["patients"]
        ],
        [
            [
                (
                    "SELECT r.res_id, r.content FROM search_token s JOIN resource r ON r.res_type = s.res_type"
                    f" AND r.res_id = s.res_id WHERE s.pid = {param_numbers.number('Patient', 'identifier')}"
                    " AND s.code = ? AND s.system = ? AND NOT r.deleted",
                    (cpr, CPR),
                )
            ]
            for _, cpr in samples["patients"]
        ],
    )
    prefixes = [rng.choice(samples["prefixes"]) for _ in samples["patients"]]
    name_ids = (
        "SELECT DISTINCT s.res_id FROM search_string s"
        f" WHERE s.pid = {param_numbers.number('Patient', 'name')} AND s.normalized LIKE ?"
    )
    name_page = _page_of("Patient", f"SELECT d.res_id, NULL AS k FROM ({name_ids}) d", page)
    out["(b) name prefix"] = (
        [FhirRequest("search", "Patient", params=[("name", p)], principal=OPERATOR) for p in prefixes],
        [[(name_page, (f"{p}%",))] for p in prefixes],
    )
    out["(c) obs by code, -date"] = (
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
    )
    marks = ", ".join("?" for _ in _COMPARTMENT_NUMBERS)
    referring = (
        "SELECT s.res_type, s.res_id FROM search_reference s WHERE s.target_id = ? AND s.target_type = 'Patient'"
        f" AND s.pid IN ({marks})"
    )
    # Written as each planner wants it (see Dialect.indexes_compound_in): a UNION for
    # PostgreSQL, an OR for SQLite.
    members = (
        f"NOT r.deleted AND (r.res_type, r.res_id) IN (SELECT 'Patient', ? UNION ALL {referring})"
        if postgres
        else f"NOT r.deleted AND ((r.res_type = 'Patient' AND r.res_id = ?) OR (r.res_type, r.res_id) IN ({referring}))"
    )
    everything_args = (HEAVY, HEAVY, *_COMPARTMENT_NUMBERS)
    out["(d) $everything"] = (
        [
            FhirRequest("operation", "Patient", HEAVY, operation="$everything", principal=OPERATOR)
            for _ in range(len(samples["patients"]) // 4)
        ],
        [
            [
                (
                    f"SELECT r.res_id, r.content FROM resource r WHERE {members}"
                    f" ORDER BY r.res_type, r.res_id LIMIT {page}",
                    everything_args,
                ),
                (f"SELECT COUNT(*) FROM resource r WHERE {members}", everything_args),
                (
                    "SELECT DISTINCT s.target_type, s.target_id FROM search_reference s"
                    " WHERE s.res_type = 'Observation' AND s.res_id = ? AND s.target_type IS NOT NULL",
                    (f"{HEAVY}-obs0",),
                ),
            ]
            for _ in range(len(samples["patients"]) // 4)
        ],
    )
    out["(e) chain by CPR"] = _chain_by_identifier(samples, page, CPR)
    out.update(_chain_shapes(samples, prefixes, page))
    return out


def _chain_by_identifier(
    samples: dict[str, list[Any]], page: int, system: str
) -> tuple[list[Request], list[list[FloorCall]]]:
    """Observations chained to their patient's identifier (`subject:Patient.identifier`)."""
    chain_ids = (
        "SELECT DISTINCT s.res_id FROM search_reference s"
        f" WHERE s.pid = {param_numbers.number('Observation', 'subject')} AND s.target_type = 'Patient'"
        " AND s.target_id IN (SELECT t.res_id FROM search_token t"
        f" WHERE t.pid = {param_numbers.number('Patient', 'identifier')} AND t.system = ? AND t.code = ?)"
    )
    return (
        [
            FhirRequest(
                "search",
                "Observation",
                params=[("subject:Patient.identifier", f"{system}|{value}")],
                principal=OPERATOR,
            )
            for _, value in samples["patients"]
        ],
        [
            [(_page_of("Observation", f"SELECT d.res_id, NULL AS k FROM ({chain_ids}) d", page), (system, value))]
            for _, value in samples["patients"]
        ],
    )


def _chain_shapes(
    samples: dict[str, list[Any]], prefixes: list[str], page: int, system: str = CPR
) -> dict[str, tuple[list[Request], list[list[FloorCall]]]]:
    """The chain shapes of https://hl7.org/fhir/R4/search.html#chaining and #has (issue 27): an
    untyped chain (followed to every target type that has the parameter), a chain to a
    practitioner, two links, and a reverse chain; each beside the same work in hand-written SQL."""
    out: dict[str, tuple[list[Request], list[list[FloorCall]]]] = {}

    # `final` gives the SQL of a target type's matching ids: each type has its parameter under its
    # own number (storage/param_numbers.py).
    def chained(res_type: str, param: str, targets: list[str], final: Callable[[str], str]) -> str:
        return " UNION ".join(
            f"SELECT s.res_id FROM search_reference s WHERE s.pid = {param_numbers.number(res_type, param)}"
            f" AND s.target_type = '{target}' AND s.target_id IN ({final(target)})"
            for target in targets
        )

    def name_of(target: str) -> str:
        return (
            f"SELECT n.res_id FROM search_string n WHERE n.pid = {param_numbers.number(target, 'name')}"
            " AND n.normalized LIKE ?"
        )

    # Observation.subject reaches Patient, Group, Device and Location; of those Patient and Location have `name`.
    subject_name = chained("Observation", "subject", ["Patient", "Location"], name_of)
    out["(f) chain subject.name"] = (
        [FhirRequest("search", "Observation", params=[("subject.name", p)], principal=OPERATOR) for p in prefixes],
        [[(_page_of("Observation", f"SELECT d.res_id, NULL AS k FROM ({subject_name}) d", page), (f"{p}%", f"{p}%"))]
         for p in prefixes],
    )  # fmt: skip
    if samples["doctors"]:
        # Patient.general-practitioner reaches Organization, Practitioner and PractitionerRole;
        # the first two have `name`.
        gp_name = chained("Patient", "general-practitioner", ["Organization", "Practitioner"], name_of)
        out["(g) chain general-practitioner.name"] = (
            [FhirRequest("search", "Patient", params=[("general-practitioner.name", d)], principal=OPERATOR)
             for d in samples["doctors"]],
            [[(_page_of("Patient", f"SELECT d.res_id, NULL AS k FROM ({gp_name}) d", page), (f"{d}%", f"{d}%"))]
             for d in samples["doctors"]],
        )  # fmt: skip

    def cpr_of(target: str) -> str:
        return (
            f"SELECT t.res_id FROM search_token t WHERE t.pid = {param_numbers.number(target, 'identifier')}"
            " AND t.system = ? AND t.code = ?"
        )

    encounter_subject = chained("Encounter", "subject", ["Patient"], cpr_of)
    two_links = chained("Observation", "encounter", ["Encounter"], lambda _: encounter_subject)
    out["(h) chain encounter.subject:Patient.identifier"] = (
        [FhirRequest("search", "Observation", params=[("encounter.subject:Patient.identifier", f"{system}|{cpr}")],
                     principal=OPERATOR) for _, cpr in samples["patients"]],
        [[(_page_of("Observation", f"SELECT d.res_id, NULL AS k FROM ({two_links}) d", page), (system, cpr))]
         for _, cpr in samples["patients"]],
    )  # fmt: skip
    codes = sorted({(system, code) for _, system, code in samples["pairs"]})[:20]
    # The floor as Lifeline answers it since issue 27: a probe of search_subject_code per Patient.
    has = (
        "SELECT p.res_id, NULL AS k FROM resource p WHERE p.res_type = 'Patient' AND NOT p.deleted"
        " AND EXISTS (SELECT 1 FROM search_subject_code c WHERE c.res_type = 'Observation'"
        " AND c.subject_id = p.res_id AND c.code = ? AND c.system = ? AND c.subject_type = 'Patient')"
    )
    out["(i) _has:Observation:patient:code"] = (
        [FhirRequest("search", "Patient", params=[("_has:Observation:patient:code", f"{system}|{code}")],
                     principal=OPERATOR) for system, code in codes],
        [[(_page_of("Patient", has, page), (code, system))] for system, code in codes],
    )  # fmt: skip
    return out


_KEY = (
    "res_type = 'Observation' AND {a}.subject_id = ? AND {a}.code = ? AND {a}.system = ?"
    " AND {a}.subject_type = 'Patient'"
)


def newest_first_floor(counted: bool, page: int = 51) -> str:
    """A patient's Observations of one coding newest first, by hand on the table Lifeline reads
    them from (search_subject_code, issue 27): one index range for the page, and the range counted
    in the same statement when `counted`. Arguments: patient id, code, system (twice if counted)."""
    total = f", (SELECT COUNT(*) FROM search_subject_code x WHERE x.{_KEY.format(a='x')}) AS total" if counted else ""
    return (
        f"SELECT r.res_id, r.content{', m.total' if counted else ''} FROM (SELECT c.res_id, c.latest{total}"
        f" FROM search_subject_code c WHERE c.{_KEY.format(a='c')} ORDER BY c.latest DESC, c.res_id LIMIT {page}) m"
        " JOIN resource r ON r.res_type = 'Observation' AND r.res_id = m.res_id ORDER BY m.latest DESC, m.res_id"
    )


def _page_of(res_type: str, matches: str, page: int) -> str:
    """One page of `matches` (rows of res_id and sort key k, found on the index tables alone) in
    the order of k (descending, missing last) then id, each with the number of all matches
    counted in the same pass, joined to `resource` for the page's JSON only."""
    return (
        "SELECT r.res_id, r.content, m.total FROM (SELECT x.res_id, x.k, COUNT(*) OVER () AS total"
        f" FROM ({matches}) x ORDER BY x.k DESC NULLS LAST, x.res_id LIMIT {page}) m"
        f" JOIN resource r ON r.res_type = '{res_type}' AND r.res_id = m.res_id"
    )


class _Floor:
    """The raw driver running hand-written SQL, fetching every row as the server would."""

    def __init__(self, url: str) -> None:
        self._cm = _connect(url)
        self._run = self._cm.__enter__()

    def run(self, *calls: FloorCall) -> None:
        for sql, args in calls:
            self._run(sql, args)

    def close(self) -> None:
        self._cm.__exit__(None, None, None)


class _connect:  # noqa: N801 - used as a context manager like a function
    """A raw connection as `run(sql, args) -> rows`, `?` placeholders, JSON read as text."""

    def __init__(self, url: str) -> None:
        self.url = url

    def __enter__(self) -> Callable[[str, tuple[Any, ...]], list[Any]]:
        if self.url.startswith("sqlite:///"):
            conn = sqlite3.connect(self.url[len("sqlite:///") :], check_same_thread=False)
            # As Lifeline's connections do: the normalized column is already case-folded, and a
            # case-sensitive LIKE lets SQLite use the index for a prefix.
            conn.execute("PRAGMA case_sensitive_like=ON")
            self._close = conn.close
            return lambda sql, args: conn.execute(sql, args).fetchall()
        schema = self.url.rsplit("schema=", 1)[1]
        pg = psycopg.connect(PG_URL, autocommit=True)
        pg.execute(f'SET search_path TO "{schema}"')
        pg.execute("SET plan_cache_mode = force_custom_plan")  # as Lifeline's search connections
        for setting in PLANNER_SETTINGS:
            pg.execute(setting)
        self._close = pg.close
        return lambda sql, args: pg.execute(
            sql.replace("r.content", "r.content::text").replace("?", "%s"), args
        ).fetchall()

    def __exit__(self, *exc: object) -> None:
        self._close()


def _floor_rate(url: str, calls: list[list[FloorCall]], seconds: int, processes: int = 2, threads: int = 8) -> float:
    """Searches/s of the floor's SQL from `processes` x `threads` raw-driver clients, each
    running the sample calls in its own shuffled order for `seconds`."""
    return spread_rate(_floor_clients, (url, calls, seconds, threads), seconds, processes)


def _floor_clients(url: str, calls: list[list[FloorCall]], seconds: int, threads: int, seed: int) -> int:
    def client(slot: int, deadline: float) -> int:
        order = random.Random(seed * 100 + slot).sample(calls, len(calls))
        with _connect(url) as run:
            n = 0
            while time.monotonic() < deadline:
                for sql, args in order[n % len(order)]:
                    run(sql, args)
                n += 1
        return n

    return in_threads(threads, seconds, client)


def _latencies(call: Callable[[Any], Any], items: list[Any]) -> list[float]:
    for item in items[:10]:  # warm caches
        call(item)
    out = []
    for item in items:
        started = time.perf_counter()
        call(item)
        out.append((time.perf_counter() - started) * 1000)
    return out


def _pct(values: list[float], p: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[p - 1] if len(values) > 1 else values[0]


def _print(results: dict[str, Any]) -> None:
    table = Table(title=f"Search benchmark {results['date']} ({results['machine']})")
    for column in ("backend", "query", "core p50", "core p95", "http p95", "floor p95", "core/floor"):
        table.add_column(column, justify="right")
    for backend, r in results["backends"].items():
        for name, q in r["queries"].items():
            table.add_row(
                backend,
                name,
                f"{q['core_p50_ms']:.2f}",
                f"{q['core_p95_ms']:.2f}",
                f"{q['http_p95_ms']:.2f}",
                f"{q['floor_p95_ms']:.2f}",
                f"{q['core_to_floor_p95']:.1f}x",
            )
        load = r["name_search_16_clients"]
        floor = r.get("name_search_floor_16_clients_per_s")
        table.add_row(
            backend,
            "(b) 16 clients",
            f"{load['per_s']:,.0f}/s",
            "",
            f"p99 {load['p99_ms']:.1f}",
            "" if floor is None else f"{floor:,.0f}/s",
            "" if floor is None else f"{load['per_s'] / floor:.0%}",
        )
    console.print(table)


if __name__ == "__main__":
    main()
