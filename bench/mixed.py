"""A mixed clinical workload on 1, 2 and 4 server processes on PostgreSQL, and how it scales
(issue 28).

A generated region (`lifeline generate`) is imported into PostgreSQL. The demo ward's physicians
and nurses (cli/demo_users.py: the ward the generator fills first) each get a login and a
session, as a completed login leaves them, and a staff token for the FHIR API. Their patients are
the ones the access rule lets them open (the ward's and its department's stays), found through the
core as each of them. Then for each `--workers` count a real `lifeline serve --workers N` on
loopback meets `--clients` concurrent clients (threads in `--processes` processes, each client a
session of one of the ward's staff, in turn), each repeating one fixed round for a patient of the
ward picked at random:

- chart: GET /patients/{id}, the chart's summary as the browser asks for it (its reads and
  searches through the core, web/pages/chart/page.py, and the HTML);
- patient search: GET /fhir/Patient?name=<the first three letters of a family name of the ward>;
- observation search: GET /fhir/Observation?patient=<id>&code=<a code they have>&_sort=-date;
- note: POST /patients/{id}/notes, the chart's note form (web/pages/chart/note_form.py: the patient
  read, the stay searched, the DocumentReference created on its form key), answered 303.

Reported per worker count: operations/s, each kind's p50/p95/p99 latency and slowest answers,
every answer that was not the expected one (there should be none), the scaling against one
worker, the load average, and the CPU the server's processes, PostgreSQL and the clients took
(/proc). The floor, measured in the same run: the raw driver's primary-key read of the ward's
Patients (bench/floor.py) from as many clients.

The machine has two cores: four workers cannot do more than two, and the clients share the cores.

Usage: python -m bench.mixed [--patients 200] [--workers 1,2,4] [--clients 24] [--seconds 30]
[--warmup 10] [--rounds 2]. Results go to bench/results/mixed.json; docs/benchmarks.md records them.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import random
import secrets
import statistics
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import httpx
import psycopg
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from bench.__main__ import PG_URL, RESULTS, Store, _free_port, _machine, _serving, generated_region, loaded_store
from bench.auth import settings as bench_settings
from bench.auth import token as bench_token
from bench.cpu import cpu_busy, cpu_of_postgres, cpu_of_server
from bench.floor import in_threads, raw_lookup_rate
from lifeline.cli.demo_users import demo_users
from lifeline.config import Settings
from lifeline.fhir.found import searched
from lifeline.fhir.service import FhirService
from lifeline.identity import records
from lifeline.identity.passwords import hash_password
from lifeline.identity.principal import STAFF as STAFF_KIND
from lifeline.identity.principal import Principal
from lifeline.identity.sessions import STAFF, Sessions
from lifeline.storage import open_repository
from lifeline.web.layout import PAGES_CLIENT, STAFF_PAGE_SCOPES
from lifeline.web.login import COOKIE

console = Console()
KINDS = ("chart", "patient search", "observation search", "note")
EXPECTED = {"chart": 200, "patient search": 200, "observation search": 200, "note": 303}
LOINC = "http://loinc.org"


@dataclass
class Clinician:
    """One of the ward's staff as the clients use them: the session cookie and its CSRF token for
    the pages, a bearer token for the FHIR API."""

    username: str
    practitioner: str
    session: str
    csrf: str
    token: str


@dataclass
class Ward:
    """What the clients ask about: the ward's staff, their patients, name prefixes that find
    them, and (patient, LOINC code) pairs of Observations they have."""

    clinicians: list[Clinician]
    patients: list[str]
    prefixes: list[str]
    pairs: list[tuple[str, str]]


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.mixed")
    parser.add_argument("--patients", type=int, default=200)
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--clients", type=int, default=24)
    parser.add_argument("--processes", type=int, default=2, help="client processes (the clients are their threads)")
    parser.add_argument("--seconds", type=int, default=30, help="each measurement")
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=2, help="measurements of each worker count, interleaved")
    args = parser.parse_args()
    # The ward's staff here are load generators, far past a person's rate limit: the benchmarks'
    # server environment lifts it (bench/auth.py); each keeps the product's requests in flight.
    os.environ["LIFELINE_PRINCIPAL_IN_FLIGHT"] = str(Settings.principal_in_flight)
    RESULTS.mkdir(exist_ok=True)
    source = generated_region("mixed", args.patients)
    store = loaded_store("postgresql", source, "mixed")
    try:
        results = _measure(store, args)
    finally:
        store.drop()
    (RESULTS / "mixed.json").write_text(json.dumps(results, indent=2))
    _print(results)


def _measure(store: Store, args: argparse.Namespace) -> dict[str, Any]:
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    ward = _ward(store.url, port)
    console.print(
        f"  {len(ward.clinicians)} of the ward's staff, {len(ward.patients)} patients in their care,"
        f" {len(ward.pairs)} (patient, code) pairs, {len(ward.prefixes)} name prefixes"
    )
    results: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": _machine(),
        "settings": vars(args),
        "resources": store.written,
        "clinicians": len(ward.clinicians),
        "patients_in_care": len(ward.patients),
        "workers": {},
    }
    counts = [int(w) for w in args.workers.split(",")]
    runs: dict[int, list[dict[str, Any]]] = {workers: [] for workers in counts}
    with Progress(console=console) as progress:
        # Rounds interleave the worker counts, so that a change in what else the machine does
        # falls on all of them alike.
        for round_ in range(1, args.rounds + 1):
            for workers in counts:
                label = f"round {round_}, {workers} workers"
                with _serving(store.url, port, workers):
                    if "records_per_operation" not in results:
                        results["records_per_operation"] = _records_per_kind(base, ward, store.url)
                        console.print(f"  audit records per operation: {results['records_per_operation']}")
                    _load(base, ward, args.warmup, args, progress, f"{label}: warm-up")
                    before = _audit_records(store.url)
                    run = _load(base, ward, args.seconds, args, progress, f"{label}: measuring")
                    run["records"] = _audit_records(store.url) - before
                runs[workers].append(run)
                console.print(f"  {label}: {_figures([run])['ops_per_s']:,.1f} operations/s")
        fewest = _figures(runs[counts[0]])["ops_per_s"]  # one worker, as `--workers` is given by default
        for workers in counts:
            found = results["workers"][str(workers)] = _figures(runs[workers])
            found["scaling"] = found["ops_per_s"] / fewest
            _show(workers, found)
        floor_load = _LoadAverage()
        task = progress.add_task("floor: raw primary-key reads", total=None)
        threads = max(1, args.clients // args.processes)
        floor = raw_lookup_rate(store.url, ward.patients, args.seconds, args.processes, threads)
        progress.remove_task(task)
    results["floor"] = {"reads_per_s": floor, "clients": threads * args.processes, **floor_load.seen()}
    console.print(f"  floor: {floor:,.0f} primary-key reads/s from {threads * args.processes} raw-driver clients")
    for found in results["workers"].values():
        found["fraction_of_floor"] = found["ops_per_s"] / floor
        found["records_fraction_of_floor"] = found["records_per_s"] / floor
    return results


def _ward(url: str, port: int) -> Ward:
    """The ward's physicians and nurses logged in, and what they may open."""
    service = FhirService(open_repository(url), bench_settings(url, issuer=f"http://127.0.0.1:{port}"))
    bench_token(url, port)  # registers the benchmarks' app, whose id the staff tokens carry
    try:
        ward = demo_users()[1][1]
        staff = [m for role in ("physician", "nurse") for m in ward.staff.get(role, [])]
        sessions = Sessions(service.repo, service.identity.state, "normal")
        clinicians = []
        for member in staff:
            if service.repo.read("Practitioner", member.practitioner_id) is None:
                continue
            fhir_user = f"Practitioner/{member.practitioner_id}"
            if records.get_user(service.repo, member.key) is None:
                records.put_user(service.repo, records.User(member.key, member.practitioner_id, hash_password("bench")))
            session = sessions.create(STAFF, username=member.key, fhir_user=fhir_user)
            token = service.identity.issue(
                subject=member.key, client_id="bench", scopes="user/*.rs", fhir_user=fhir_user, lifetime=4 * 3600
            )
            clinicians.append(Clinician(member.key, member.practitioner_id, session.id, session.csrf, token))
        if not clinicians:
            raise SystemExit("the ward's staff are not in the region")
        # Patients any of them may open: each sees the ward's and its department's (care.py).
        core = service.as_user(_principal(clinicians[0]))
        patients = searched(core, "Patient", [("_count", "1000")]).matches
        if not patients:
            raise SystemExit("no patient is in the ward's care")
        prefixes = sorted({str(p["name"][0]["family"])[:3] for p in patients if p.get("name")})
        pairs: list[tuple[str, str]] = []
        for patient in patients:
            found = searched(core, "Observation", [("patient", str(patient["id"])), ("_count", "50")]).matches
            codes = {c["code"] for o in found for c in o.get("code", {}).get("coding", []) if c.get("system") == LOINC}
            pairs += [(str(patient["id"]), code) for code in sorted(codes)]
        if not pairs:
            raise SystemExit("the ward's patients have no Observations")
        return Ward(clinicians, [str(p["id"]) for p in patients], prefixes, pairs)
    finally:
        service.repo.close()


def _principal(clinician: Clinician) -> Principal:
    fhir_user = f"Practitioner/{clinician.practitioner}"
    return Principal(STAFF_KIND, clinician.username, PAGES_CLIENT, STAFF_PAGE_SCOPES, fhir_user=fhir_user)


def _load(
    base: str, ward: Ward, seconds: int, args: argparse.Namespace, progress: Progress, label: str
) -> dict[str, Any]:
    """The clients' rounds for `seconds`, in `args.processes` spawned processes; the figures."""
    threads = max(1, args.clients // args.processes)
    task = progress.add_task(label, total=seconds)
    load = _LoadAverage()
    busy, server, database = cpu_busy(), cpu_of_server(base), cpu_of_postgres()
    started = time.monotonic()
    context = multiprocessing.get_context("spawn")
    with context.Pool(args.processes) as pool:
        shared = (base, asdict(ward), seconds, threads)
        pending = pool.starmap_async(_client_process, [(*shared, n) for n in range(args.processes)])
        while not pending.ready():
            pending.wait(1)
            load.sample()
            progress.update(task, completed=min(seconds, time.monotonic() - started))
        parts = pending.get()
    wall = time.monotonic() - started  # the clients' start included: the CPU windows span it
    machine_cpu = cpu_busy() - busy
    server, database = cpu_of_server(base) - server, cpu_of_postgres() - database
    progress.remove_task(task)
    return {
        "wall_s": wall,
        "server_cpu_s": server,
        "postgres_cpu_s": database,
        "seconds": seconds,
        "clients": threads * args.processes,
        "samples": [sample for part in parts for sample in part["samples"]],
        "examples": [text for part in parts for text in part["examples"]],
        "clients_cpu_s": sum(part["cpu_s"] for part in parts),
        "machine_cpu_s": machine_cpu,
        "loads": load.seen_values,
    }


def _figures(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The figures of one worker count's measured runs together."""
    seconds = sum(run["seconds"] for run in runs)
    samples = [sample for run in runs for sample in run["samples"]]
    machine_cpu = sum(run["machine_cpu_s"] for run in runs)
    loads = [value for run in runs for value in run["loads"]]
    figures: dict[str, Any] = {
        "rounds": len(runs),
        "clients": runs[0]["clients"],
        "seconds": seconds,
        "operations": len(samples),
        "ops_per_s": len(samples) / seconds,
        "ops_per_s_by_round": [len(run["samples"]) / run["seconds"] for run in runs],
        "records_per_s": sum(run.get("records", 0) for run in runs) / seconds,
        "clients_cpu_s": sum(run["clients_cpu_s"] for run in runs),
        "machine_cpu_s": machine_cpu,
        "machine_cores_busy": machine_cpu / sum(run["wall_s"] for run in runs),
        "server_cores": sum(run["server_cpu_s"] for run in runs) / sum(run["wall_s"] for run in runs),
        "postgres_cores": sum(run["postgres_cpu_s"] for run in runs) / sum(run["wall_s"] for run in runs),
        "load_min": min(loads),
        "load_max": max(loads),
    }
    figures["clients_cpu_share"] = figures["clients_cpu_s"] / machine_cpu if machine_cpu else None
    unexpected: dict[str, int] = {}
    for kind in KINDS:
        times = sorted(sample[1] for sample in samples if sample[0] == kind)
        figures[kind] = {
            "count": len(times),
            "per_s": len(times) / seconds,
            **{f"p{p}_ms": _pct(times, p) for p in (50, 95, 99)},
        }
        # The slowest answers, when into the run they were asked and what: a tail's shape.
        mine = [(n, sample) for n, run in enumerate(runs, 1) for sample in run["samples"] if sample[0] == kind]
        slowest = sorted(mine, key=lambda tagged: -tagged[1][1])[:5]
        figures[kind]["slowest"] = [
            {"ms": ms, "round": n, "at_s": at, "asked": asked} for n, (_, ms, _, at, asked) in slowest
        ]
        for k, _, status, _, _ in samples:
            if k == kind and status != EXPECTED[kind]:
                unexpected[f"{kind} {status}"] = unexpected.get(f"{kind} {status}", 0) + 1
    figures["unexpected"] = unexpected
    figures["unexpected_examples"] = [text for run in runs for text in run["examples"]][:5]
    return figures


def _client_process(base: str, ward_fields: dict[str, Any], seconds: int, threads: int, seed: int) -> dict[str, Any]:
    """`threads` clients repeating the round for `seconds`: (kind, ms, status) of each answer
    asked before the end, the first unexpected answers' text, and this process's CPU seconds."""
    ward = Ward(
        [Clinician(**c) for c in ward_fields["clinicians"]],
        ward_fields["patients"],
        ward_fields["prefixes"],
        [tuple(p) for p in ward_fields["pairs"]],  # type: ignore[misc]
    )
    samples: list[tuple[str, float, int, float, str]] = []
    examples: list[str] = []
    cpu = time.process_time()

    def client(slot: int, deadline: float) -> int:
        rng = random.Random(seed * 1000 + slot)
        clinician = ward.clinicians[(seed * threads + slot) % len(ward.clinicians)]
        with httpx.Client(base_url=base, timeout=120, follow_redirects=False) as http:
            while time.monotonic() < deadline:
                for kind, method, path, options in _round(ward, clinician, rng):
                    if time.monotonic() >= deadline:
                        break
                    at = seconds - (deadline - time.monotonic())
                    started = time.perf_counter()
                    status, text = _ask(http, method, path, options)
                    asked = f"{path}?{urlencode(options['params'])}" if "params" in options else path
                    samples.append((kind, (time.perf_counter() - started) * 1000, status, round(at, 2), asked))
                    if status != EXPECTED[kind] and len(examples) < 5:
                        examples.append(f"{kind} {method} {path}: {status} {text[:300]}")
        return 0

    in_threads(threads, seconds, client)
    return {"samples": samples, "examples": examples, "cpu_s": time.process_time() - cpu}


def _round(ward: Ward, clinician: Clinician, rng: random.Random) -> list[tuple[str, str, str, dict[str, Any]]]:
    """One round of a client: (kind, method, path, httpx options) of its four requests."""
    page = {"Cookie": f"{COOKIE}={clinician.session}"}
    api = {"Authorization": f"Bearer {clinician.token}", "Accept": "application/fhir+json"}
    patient = rng.choice(ward.patients)
    someone, code = rng.choice(ward.pairs)
    note = {"csrf": clinician.csrf, "key": secrets.token_urlsafe(18), "type": "11506-3",
            "text": "Stuegang: har det bedre, fortsætter behandlingen."}  # fmt: skip
    return [
        ("chart", "GET", f"/patients/{patient}", {"headers": page}),
        ("patient search", "GET", "/fhir/Patient", {"params": {"name": rng.choice(ward.prefixes)}, "headers": api}),
        ("observation search", "GET", "/fhir/Observation",
         {"params": {"patient": someone, "code": f"{LOINC}|{code}", "_sort": "-date"}, "headers": api}),
        ("note", "POST", f"/patients/{patient}/notes", {"data": note, "headers": page}),
    ]  # fmt: skip


def _ask(http: httpx.Client, method: str, path: str, options: dict[str, Any]) -> tuple[int, str]:
    """The answer's status and text; a failed connection or a timeout as status 0."""
    try:
        answer = http.request(method, path, **options)
    except httpx.HTTPError as error:
        return 0, repr(error)
    return answer.status_code, answer.text


def _records_per_kind(base: str, ward: Ward, url: str, rounds: int = 5) -> dict[str, float]:
    """Audit records written per operation of each kind (one a FHIR interaction through the core),
    from `rounds` of each asked alone, one at a time."""
    rng = random.Random(3)
    written: dict[str, float] = {}
    with httpx.Client(base_url=base, timeout=120, follow_redirects=False) as http:
        for index, kind in enumerate(KINDS):
            before = _audit_records(url)
            for n in range(rounds):
                _, method, path, options = _round(ward, ward.clinicians[n % len(ward.clinicians)], rng)[index]
                status, text = _ask(http, method, path, options)
                if status != EXPECTED[kind]:
                    raise SystemExit(f"{kind} {method} {path} answered {status}: {text[:500]}")
            written[kind] = (_audit_records(url) - before) / rounds
    return written


def _audit_records(url: str) -> int:
    schema = url.rsplit("schema=", 1)[1]
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f'SET search_path TO "{schema}"')
        row = conn.execute("SELECT count(*) FROM audit_event").fetchone()
    return int(row[0]) if row else 0


class _LoadAverage:
    """The one-minute load average as seen during a measurement."""

    def __init__(self) -> None:
        self.seen_values = [os.getloadavg()[0]]

    def sample(self) -> None:
        self.seen_values.append(os.getloadavg()[0])

    def seen(self) -> dict[str, float]:
        self.sample()
        return {"load_min": min(self.seen_values), "load_max": max(self.seen_values)}


def _pct(values: list[float], p: int) -> float:
    if not values:
        return float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[p - 1] if len(values) > 1 else values[0]


def _show(workers: int, found: dict[str, Any]) -> None:
    kinds = ", ".join(f"{k} p50 {found[k]['p50_ms']:.0f} / p99 {found[k]['p99_ms']:.0f} ms" for k in KINDS)
    console.print(
        f"  {workers} workers: {found['ops_per_s']:,.1f} operations/s ({found['scaling']:.2f}x one worker);"
        f" {kinds}; unexpected {found['unexpected'] or 'none'}; load {found['load_min']:.1f}-{found['load_max']:.1f},"
        f" clients took {found['clients_cpu_share']:.0%} of the CPU used, the server {found['server_cores']:.2f}"
        f" cores, PostgreSQL {found['postgres_cores']:.2f};"
        f" {found['records_per_s']:,.0f} audited FHIR interactions/s"
    )
    for example in found["unexpected_examples"]:
        console.print(f"    [red]{example}[/]")


def _print(results: dict[str, Any]) -> None:
    """One row a worker count and kind of operation (it fits a terminal)."""
    table = Table(title=f"A mixed clinical workload on PostgreSQL {results['date']} ({results['machine']})")
    for column in ("workers", "operation", "/s", "p50 ms", "p95 ms", "p99 ms", "unexpected"):
        table.add_column(column, justify="right")
    for workers, found in results["workers"].items():
        table.add_row(
            workers, f"all ({found['scaling']:.2f}x one worker)", f"{found['ops_per_s']:,.1f}", "", "", "",
            str(sum(found["unexpected"].values())),
        )  # fmt: skip
        for kind in KINDS:
            shown = found[kind]
            figures = (shown["per_s"], shown["p50_ms"], shown["p95_ms"], shown["p99_ms"])
            table.add_row("", kind, *(f"{value:,.1f}" for value in figures), "")
    console.print(table)
    floor = results["floor"]["reads_per_s"]
    console.print(f"floor: {floor:,.0f} raw primary-key reads/s from {results['floor']['clients']} clients")
    for workers, found in results["workers"].items():
        console.print(
            f"{workers} workers: {found['records_per_s']:,.0f} audited FHIR interactions/s"
            f" ({found['records_fraction_of_floor']:.1%} of the floor)"
        )


if __name__ == "__main__":
    main()
