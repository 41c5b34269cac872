"""`python -m bench.access`: what the access rule (issue 19) costs, on a generated region, on SQLite
and PostgreSQL.

Four principals ask through the FHIR core (FhirService.handle plus JSON, as in bench/search.py):
the operator (system/*.cruds: no rule, the ceiling); a staff member (user/*.cruds; the first
Practitioner, by id, with a role in the department whose Encounters put the most patients in
care: a large care set, so a dear rule); a patient (patient/*.rs; the one with the most
Observations); and a narrow backend app (system/Observation.rs). The queries, named (a) … (f):

(a) read of a Patient in care; (b) a patient's Observations of one code, `_sort=-date`, first
page; (c) `Patient?family=<3 letters>&_count=3` (a page small enough that the staff member's
matches run to a second); (d) `Patient/{id}/$everything`, first page; (e) the second page of (c)
through its sealed `next` cursor (the cursor's opening included); (f) a read of a Patient outside
care (the refusal path).

Operator, staff member and app ask about the staff member's patients (the "care" samples); the
operator and the patient about the patient's own record (the "own" samples). Each principal is
compared with the operator on the same requests (what the rule costs) and with the same lookups
written by hand in SQL on the index tables (the floor, as in bench/search.py), in the same run:
one untimed pass through the floor, then sample by sample, the floor and each principal in turn
(the order rotating). Also counted: the SQL statements each answer sends (one untimed answer);
and timed alone: the rule's set of patients each may see (raw SQL), and the cursor's seal and
open (fhir/paging.py CursorSeal).

The region is generated with a fixed today and the service's clock is set to it, so the same
staff member has the same patients in care whatever the date of the run.

Usage: python -m bench.access [--patients 2000] [--backends sqlite,postgresql] [--samples 200] [--fresh]
The region is generated once into bench/results/region-N-seed1 and imported once per backend
(bench/results/access-N.db, PostgreSQL schema bench_access_N; --fresh re-imports).
Results: bench/results/access.json; docs/benchmarks.md records them.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import time
import timeit
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from bench.__main__ import _machine, kept_database
from bench.auth import KEK
from bench.auth import settings as bench_settings
from bench.search import _connect, _page_of, _pct
from lifeline.access.care import ACTIVE_ENCOUNTER, micros
from lifeline.access.enforce import rule_for
from lifeline.errors import FhirError
from lifeline.fhir import urls
from lifeline.fhir.paging import CursorSeal
from lifeline.fhir.request import FhirRequest
from lifeline.fhir.service import FhirService
from lifeline.identity.keys import load_kek
from lifeline.identity.principal import OPERATOR, Principal, principal_from_token
from lifeline.search.query.compartment import outside_types
from lifeline.search.registry import default_registry
from lifeline.storage import open_repository, param_numbers
from lifeline.storage.session import Session

RESULTS = Path(__file__).parent / "results"
TODAY = "2026-11-22"
NOW = datetime(2026, 11, 22, 12, tzinfo=UTC)  # the service's clock: the region's today
BASE = "http://localhost/fhir"
PAGE = 3  # (c)'s _count
QUERIES = (
    "(a) read in care",
    "(b) obs by code, -date",
    "(c) family prefix",
    "(d) $everything",
    "(e) (c)'s next page",
    "(f) read outside care",
)
SETS = {"care": ("operator", "staff", "app"), "own": ("operator", "patient")}
console = Console(width=max(Console().width, 120))  # the table's columns, unwrapped

Run = Callable[[str, tuple[Any, ...]], list[Any]]


@dataclass
class Sample:
    """One question: the floor's lookups, and the same question as each principal's request."""

    floor: Callable[[Run], object]
    requests: dict[str, FhirRequest] = field(default_factory=dict)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.access")
    parser.add_argument("--patients", type=int, default=2000)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--fresh", action="store_true", help="re-import even if the database is there")
    args = parser.parse_args()
    RESULTS.mkdir(exist_ok=True)
    region = _region(args.patients)
    results: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": _machine(),
        "patients": args.patients,
        "samples": args.samples,
        "today": TODAY,
        "cursor_seal": _seal_timings(load_kek(KEK)),
        "backends": {},
    }
    seal = results["cursor_seal"]
    console.print(f"{results['machine']}; {args.patients:,} patients, {args.samples} samples a query")
    console.print(
        f"CursorSeal: seal {seal['seal_us']:.1f} µs, open {seal['open_us']:.1f} µs ({seal['chars']} characters)"
    )
    for backend in args.backends.split(","):
        results["backends"][backend] = _bench_backend(backend, region, args)
        (RESULTS / "access.json").write_text(json.dumps(results, indent=2))


def _region(patients: int) -> Path:
    out = RESULTS / f"region-{patients}-seed1"
    if not out.exists():
        console.print(f"generating a region of {patients} patients into {out}")
        partial = out.with_name(f"{out.name}.tmp")  # renamed once whole: an interrupted run starts again
        shutil.rmtree(partial, ignore_errors=True)
        subprocess.run(
            [sys.executable, "-m", "lifeline.cli", "generate", "--patients", str(patients), "--seed", "1",
             "--today", TODAY, "--no-images", "--out", str(partial)],
            check=True,
        )  # fmt: skip
        partial.rename(out)
    return out


def _bench_backend(backend: str, region: Path, args: argparse.Namespace) -> dict[str, Any]:
    url, result = kept_database(backend, f"access_{args.patients}", sorted(region.glob("*.ndjson")), args.fresh)
    console.print(f"[bold]{backend}[/]: {result['resources']:,} resources")
    service = FhirService(open_repository(url), bench_settings(url), clock=lambda: NOW)
    result["load_before"] = os.getloadavg()[0]
    try:
        with _connect(url) as run:
            cast = _cast(service, run)
            result["cast"] = {k: v for k, v in cast.items() if not isinstance(v, Principal | list | dict)}
            console.print(
                f"  staff: Practitioner/{cast['practitioner']}, {cast['in_care']} patients in care;"
                f" patient: Patient/{cast['patient_id']}, {cast['own_observations']} Observations"
            )
            sets = {
                "care": _samples(cast, "care", args.samples, backend == "postgresql"),
                "own": _samples(cast, "own", args.samples, backend == "postgresql"),
            }
            for name, samples in sets.items():
                samples[QUERIES[4]] = _next_pages(service, samples[QUERIES[2]], SETS[name])
            total = sum(len(s) * (1 + len(SETS[name])) for name, qs in sets.items() for s in qs.values())
            result["queries"] = {q: {} for q in QUERIES}
            with _progress() as progress:
                task = progress.add_task(f"{backend}: timing", total=total)
                for query in QUERIES:
                    for name, samples in sets.items():
                        progress.update(task, description=f"{backend}: {query}, {name} samples")
                        figures = _measure(service, run, samples[query], SETS[name], progress, task)
                        result["queries"][query][name] = figures
            result["allowed_sets"] = _allowed_timings(run, cast["allowed_sql"])
    finally:
        service.repo.close()
    result["load_after"] = os.getloadavg()[0]
    _print(backend, result)
    return result


def _cast(service: FhirService, run: Run) -> dict[str, Any]:
    """The principals, with the staff member and the patient chosen from the region, and the
    patients each may see."""
    since = micros(NOW) - service.settings.care_window_days * 86_400_000_000
    # The department with the most patients in care now, by the rule's own test for Encounters.
    # Index rows name their parameter by number (storage/param_numbers.py), which names the type too.
    marks = ", ".join("?" for _ in ACTIVE_ENCOUNTER)
    department, _ = run(
        "SELECT c.target_id, COUNT(DISTINCT p.target_id) FROM search_reference c JOIN search_reference p"
        " ON p.res_type = c.res_type AND p.res_id = c.res_id"
        f" AND p.pid = {param_numbers.number('Encounter', 'subject')} AND p.target_type = 'Patient'"
        f" WHERE c.pid = {param_numbers.number('Encounter', 'service-provider')}"
        " AND c.target_type = 'Organization' AND (c.res_id IN (SELECT d.res_id FROM search_date d"
        f" WHERE d.pid = {param_numbers.number('Encounter', 'date')} AND d.high >= ?) OR c.res_id IN"
        f" (SELECT t.res_id FROM search_token t WHERE t.pid = {param_numbers.number('Encounter', 'status')}"
        f" AND t.code IN ({marks})))"
        " GROUP BY c.target_id ORDER BY COUNT(DISTINCT p.target_id) DESC, c.target_id LIMIT 1",
        (since, *ACTIVE_ENCOUNTER),
    )[0]
    practitioner = run(
        "SELECT MIN(p.target_id) FROM search_reference o JOIN search_reference p ON p.res_type = o.res_type"
        f" AND p.res_id = o.res_id AND p.pid = {param_numbers.number('PractitionerRole', 'practitioner')}"
        f" AND p.target_type = 'Practitioner' WHERE o.pid = {param_numbers.number('PractitionerRole', 'organization')}"
        " AND o.target_id = ?",
        (department,),
    )[0][0]
    patient_id, own_observations = run(
        f"SELECT target_id, COUNT(*) FROM search_reference WHERE pid = {param_numbers.number('Observation', 'subject')}"
        " AND target_type = 'Patient' GROUP BY target_id ORDER BY COUNT(*) DESC, target_id LIMIT 1",
        (),
    )[0]
    identity = service.identity

    def principal(subject: str, scopes: str, fhir_user: str | None = None) -> Principal:
        token = identity.issue(
            subject=subject, client_id=f"{subject}-app", scopes=scopes, fhir_user=fhir_user, lifetime=4 * 3600
        )
        return principal_from_token(identity.verify(token))

    cast: dict[str, Any] = {
        "operator": OPERATOR,
        "staff": principal("bench-staff", "user/*.cruds", f"Practitioner/{practitioner}"),
        "patient": principal("bench-citizen", "patient/*.rs", f"Patient/{patient_id}"),
        "app": principal("bench-lab", "system/Observation.rs"),
        "department": department,
        "practitioner": practitioner,
        "patient_id": patient_id,
        "own_observations": own_observations,
    }
    everyone = sorted(str(r[0]) for r in run("SELECT res_id FROM resource WHERE res_type = 'Patient'", ()))
    for who, key in (("staff", "care"), ("patient", "own")):
        with service.repo.reading() as session:
            rule = rule_for(service, session, FhirRequest("read", "Patient", principal=cast[who]))
        assert rule is not None
        cast.setdefault("allowed_sql", {})[who] = (f"SELECT * FROM ({rule.allowed}) x", rule.allowed_args)
        allowed = {str(r[0]) for r in run(*cast["allowed_sql"][who])}
        cast[key] = [p for p in everyone if p in allowed]
        cast[f"outside_{key}"] = [p for p in everyone if p not in allowed]
    cast["in_care"] = len(cast["care"])
    pairs = run(
        "SELECT DISTINCT s.target_id, t.system, t.code FROM search_reference s JOIN search_token t"
        " ON t.res_type = s.res_type AND t.res_id = s.res_id"
        f" AND t.pid = {param_numbers.number('Observation', 'code')}"
        f" WHERE s.pid = {param_numbers.number('Observation', 'subject')} AND s.target_type = 'Patient'"
        " AND t.system IS NOT NULL",
        (),
    )
    care = set(cast["care"])
    cast["pairs_care"] = sorted(tuple(p) for p in pairs if p[0] in care)
    cast["pairs_own"] = sorted(tuple(p) for p in pairs if p[0] == patient_id)
    # (c)'s prefixes: the first three letters of the family names of the staff member's patients
    # that match more of them than a page holds, so that (e) has a second page to ask for.
    families = {str(r[0]): str(r[1]) for r in run(FAMILIES, ())}
    shared = Counter(families[p][:3] for p in cast["care"] if p in families)
    cast["prefixes_care"] = sorted(p for p, n in shared.items() if n > PAGE) or [p for p, _ in shared.most_common(5)]
    cast["prefixes_own"] = [families[patient_id][:3]]
    cast["prefixes"] = ", ".join(cast["prefixes_care"])
    return cast


# The lookups by parameter number alone (it names the type too), as Lifeline's own queries; the
# rows of the same Observation by their owner.
OBS_MATCHES = (
    "SELECT d.res_id, (SELECT MAX(t.high) FROM search_date t WHERE t.res_type = 'Observation' AND t.res_id = d.res_id"
    f" AND t.pid = {param_numbers.number('Observation', 'date')}) AS k FROM (SELECT DISTINCT s.res_id"
    f" FROM search_reference s WHERE s.pid = {param_numbers.number('Observation', 'subject')}"
    " AND s.target_type = 'Patient' AND s.target_id = ?) d"
    " WHERE EXISTS (SELECT 1 FROM search_token t WHERE t.res_type = 'Observation' AND t.res_id = d.res_id"
    f" AND t.pid = {param_numbers.number('Observation', 'code')} AND t.system = ? AND t.code = ?)"
)
FAMILIES = (
    "SELECT res_id, MIN(normalized) FROM search_string"
    f" WHERE pid = {param_numbers.number('Patient', 'family')} GROUP BY res_id"
)
FAMILY_IDS = (
    "SELECT DISTINCT s.res_id FROM search_string s"
    f" WHERE s.pid = {param_numbers.number('Patient', 'family')} AND s.normalized LIKE ?"
)


def _samples(cast: dict[str, Any], which: str, n: int, postgres: bool) -> dict[str, list[Sample]]:
    """(a)–(d) and (f) for the care or own samples, each as the floor and as every principal's request."""
    rng = random.Random(5)
    principals = {name: cast[name] for name in SETS[which]}
    patients = cast["care"] if which == "care" else [cast["patient_id"]]
    out: dict[str, list[Sample]] = {}

    def sample(floor: Callable[[Run], object], path: str, query: list[tuple[str, str]] | None = None) -> Sample:
        requests = {}
        for name, principal in principals.items():
            request = urls.parse("GET", path, query or [], base=BASE)
            request.principal = principal
            requests[name] = request
        return Sample(floor, requests)

    def cycled(items: list[Any], k: int) -> list[Any]:
        shuffled = rng.sample(items, len(items))
        return [shuffled[i % len(shuffled)] for i in range(k)]

    read_sql = (
        "SELECT r.res_id, r.content FROM resource r WHERE r.res_type = 'Patient' AND r.res_id = ? AND NOT r.deleted"
    )
    out[QUERIES[0]] = [sample(_sql(read_sql, (p,)), f"Patient/{p}") for p in cycled(patients, n)]
    out[QUERIES[1]] = [
        sample(
            _sql(_page_of("Observation", OBS_MATCHES, 51), (p, system, code)),
            "Observation",
            [("subject", f"Patient/{p}"), ("code", f"{system}|{code}"), ("_sort", "-date")],
        )
        for p, system, code in cycled(cast[f"pairs_{which}"], n)
    ]
    family_page = _page_of("Patient", f"SELECT d.res_id, NULL AS k FROM ({FAMILY_IDS}) d", PAGE + 1)
    out[QUERIES[2]] = [
        sample(_sql(family_page, (f"{prefix}%",)), "Patient", [("family", prefix), ("_count", str(PAGE))])
        for prefix in cycled(cast[f"prefixes_{which}"], n)
    ]
    out[QUERIES[3]] = [
        sample(_everything_floor(p, postgres), f"Patient/{p}/$everything") for p in cycled(patients, max(10, n // 4))
    ]
    out[QUERIES[5]] = [sample(_sql(read_sql, (p,)), f"Patient/{p}") for p in cycled(cast[f"outside_{which}"], n)]
    return out


def _sql(sql: str, args: tuple[Any, ...]) -> Callable[[Run], object]:
    return lambda run: run(sql, args)


def _everything_floor(patient: str, postgres: bool) -> Callable[[Run], object]:
    """$everything's first page with its total in one pass, then the resources outside any
    compartment that the page refers to. The members are found as bench/search.py finds them, by
    the numbers of every (type, parameter) pair of the compartment, so that the reference index's
    lookup drives it."""
    registry = default_registry()
    numbers = param_numbers.of(
        (res_type, param)
        for res_type in sorted(registry.resource_types)
        for param in registry.compartment_params(res_type)
    )
    which, pair_args = param_numbers.condition("s", numbers)
    referring = (
        "SELECT s.res_type, s.res_id FROM search_reference s WHERE s.target_id = ? AND s.target_type = 'Patient'"
        f" AND {which}"
    )
    members = (
        f"NOT c.deleted AND (c.res_type, c.res_id) IN (SELECT 'Patient', ? UNION ALL {referring})"
        if postgres
        else f"NOT c.deleted AND ((c.res_type = 'Patient' AND c.res_id = ?) OR (c.res_type, c.res_id) IN ({referring}))"
    )
    page = (
        "SELECT r.res_type, r.res_id, r.content, m.total FROM (SELECT * FROM (SELECT c.res_type, c.res_id,"
        f" COUNT(*) OVER () AS total FROM resource c WHERE {members}) t ORDER BY t.res_type, t.res_id LIMIT 51) m"
        " JOIN resource r ON r.res_type = m.res_type AND r.res_id = m.res_id"
    )
    outside = sorted(outside_types(registry))
    outside_marks = ", ".join("?" for _ in outside)

    def floor(run: Run) -> object:
        rows = run(page, (patient, patient, *pair_args))
        owners, owner_args = _keys_condition("s", [(row[0], row[1]) for row in rows])
        targets = run(
            f"SELECT DISTINCT s.target_type, s.target_id FROM search_reference s WHERE ({owners})"
            f" AND s.target_type IN ({outside_marks})",
            (*owner_args, *outside),
        )
        if not targets:
            return rows
        keys, key_args = _keys_condition("r", [(row[0], row[1]) for row in targets])
        return run(f"SELECT r.res_type, r.res_id, r.content FROM resource r WHERE NOT r.deleted AND ({keys})", key_args)

    return floor


def _keys_condition(alias: str, keys: list[tuple[str, str]]) -> tuple[str, tuple[str, ...]]:
    """`(a.res_type = ? AND a.res_id IN (…)) OR …`: the form each planner finds by the key's index."""
    by_type: dict[str, list[str]] = {}
    for res_type, res_id in keys:
        by_type.setdefault(res_type, []).append(res_id)
    parts = [
        f"({alias}.res_type = ? AND {alias}.res_id IN ({', '.join('?' for _ in ids)}))" for ids in by_type.values()
    ]
    return " OR ".join(parts) or "1 = 0", tuple(a for res_type, ids in by_type.items() for a in (res_type, *ids))


def _next_pages(service: FhirService, first_pages: list[Sample], principals: tuple[str, ...]) -> list[Sample]:
    """(e): each principal's request of the second page of (c), by the `next` link of its own first
    page (a cursor is sealed for one person); the floor continues after the operator's first page."""
    links: dict[tuple[str, str], tuple[FhirRequest | None, str | None]] = {}
    out = []
    for sample in first_pages:
        requests = {}
        last_id: str | None = None
        for name in principals:
            first = sample.requests[name]
            key = (name, repr(first.params))
            if key not in links:
                links[key] = _next_of(service, first)
            request, last = links[key]
            if request is not None:
                requests[name] = request
                if name == "operator":
                    last_id = last
        if last_id is None or len(requests) < 2:
            continue  # nobody but the operator has a second page to compare
        prefix = next(v for k, v in sample.requests["operator"].params if k == "family")
        sql = (
            "SELECT r.res_id, r.content, m.total FROM (SELECT x.res_id, x.total FROM (SELECT d.res_id,"
            f" COUNT(*) OVER () AS total FROM ({FAMILY_IDS}) d) x WHERE x.res_id > ?"
            f" ORDER BY x.res_id LIMIT {PAGE + 1}) m"
            " JOIN resource r ON r.res_type = 'Patient' AND r.res_id = m.res_id"
        )
        out.append(Sample(_sql(sql, (f"{prefix}%", last_id)), requests))
    return out


def _next_of(service: FhirService, first: FhirRequest) -> tuple[FhirRequest | None, str | None]:
    """The request of the `next` link of `first`'s answer, and the id its page ended on."""
    try:
        bundle = orjson.loads(orjson.dumps(service.handle(first).resource))
    except FhirError:
        return None, None
    url = next((link["url"] for link in bundle.get("link", []) if link["relation"] == "next"), None)
    if url is None:
        return None, None
    path, query = urls.relative(url, BASE)
    request = urls.parse("GET", path, query, base=BASE)
    request.principal = first.principal
    matches = [e["resource"] for e in bundle["entry"] if e["search"]["mode"] == "match"]
    return request, str(matches[-1]["id"])


def _answer(service: FhirService, request: FhirRequest) -> int:
    """What the server does for the request without HTTP: the core's answer as JSON bytes (a
    refusal as its OperationOutcome)."""
    try:
        response = service.handle(request)
    except FhirError as error:
        orjson.dumps({"resourceType": "OperationOutcome", "issue": [i.to_fhir() for i in error.issues]})
        return error.status
    if response.resource is not None:
        orjson.dumps(response.resource)
    return response.status


def _measure(
    service: FhirService,
    run: Run,
    samples: list[Sample],
    principals: tuple[str, ...],
    progress: Progress,
    task: Any,
) -> dict[str, Any]:
    if not samples:
        return {}
    for sample in samples:  # every sample's pages read from disk before anything is timed
        sample.floor(run)
    for sample in samples[:10]:
        for request in sample.requests.values():
            _answer(service, request)
    names = ["floor", *principals]
    times: dict[str, list[float]] = {name: [] for name in names}
    statuses: dict[str, Counter[int]] = {name: Counter() for name in principals}
    for i, sample in enumerate(samples):
        for name in names[i % len(names) :] + names[: i % len(names)]:
            request = sample.requests.get(name)
            if name != "floor" and request is None:
                continue
            started = time.perf_counter()
            if request is None:
                sample.floor(run)
            else:
                statuses[name][_answer(service, request)] += 1
            times[name].append((time.perf_counter() - started) * 1000)
        progress.advance(task, len(names))
    out: dict[str, Any] = {}
    for name in names:
        if not times[name]:
            continue
        figures: dict[str, Any] = {
            "p50_ms": _pct(times[name], 50),
            "p95_ms": _pct(times[name], 95),
            "n": len(times[name]),
        }
        if name != "floor":
            figures["status"] = dict(statuses[name])
            figures["statements"] = _statements(service, next(s.requests[name] for s in samples if name in s.requests))
        out[name] = figures
    for name, figures in out.items():
        for base in ("operator", "floor"):
            if name not in (base, "floor") and base in out:
                for p in ("p50", "p95"):
                    figures[f"{p}_to_{base}"] = figures[f"{p}_ms"] / out[base][f"{p}_ms"]
    return out


def _allowed_timings(run: Run, queries: dict[str, tuple[str, tuple[Any, ...]]], n: int = 100) -> dict[str, Any]:
    """The rule's set of patients each principal may see, computed alone by the raw driver: what
    every statement that carries the rule computes once."""
    times: dict[str, list[float]] = {who: [] for who in queries}
    for query in queries.values():
        run(*query)
    for _ in range(n):
        for who, query in queries.items():
            started = time.perf_counter()
            run(*query)
            times[who].append((time.perf_counter() - started) * 1000)
    return {who: {"p50_ms": _pct(t, 50), "p95_ms": _pct(t, 95)} for who, t in times.items()}


def _statements(service: FhirService, request: FhirRequest) -> int:
    with _counting() as count:
        _answer(service, request)
    return count[0]


@contextmanager
def _counting() -> Iterator[list[int]]:
    """Counts the SQL statements the core sends through its reading sessions, for one untimed answer."""
    count = [0]
    sent_all, sent_one = Session._all, Session._one

    def counted_all(self: Session, sql: str, params: Any = ()) -> list[Any]:
        count[0] += 1
        return sent_all(self, sql, params)

    def counted_one(self: Session, sql: str, params: Any = ()) -> Any:
        count[0] += 1
        return sent_one(self, sql, params)

    Session._all, Session._one = counted_all, counted_one  # type: ignore[method-assign]
    try:
        yield count
    finally:
        Session._all, Session._one = sent_all, sent_one  # type: ignore[method-assign]


def _seal_timings(kek: bytes, number: int = 20_000) -> dict[str, Any]:
    """A page cursor's seal and open (AES-SIV over its JSON, bound to the search and the person),
    best of five runs of `number`."""
    seal = CursorSeal(kek, "staff:bench-staff")
    params = [("family", "han"), ("_count", str(PAGE))]
    data = {"after": ["Patient", "6f1c1a52-7c1e-4b8e-9a63-0b0d7c2f5e11"]}
    token = seal.seal("Patient", params, data)
    sealing = min(timeit.repeat(lambda: seal.seal("Patient", params, data), number=number, repeat=5)) / number
    opening = min(timeit.repeat(lambda: seal.open("Patient", params, token), number=number, repeat=5)) / number
    return {"seal_us": sealing * 1e6, "open_us": opening * 1e6, "chars": len(token)}


def _progress() -> Progress:
    return Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    )


def _print(backend: str, result: dict[str, Any]) -> None:
    """One table a backend: each query and principal beside the operator and the floor."""
    cast = result["cast"]
    table = Table(
        title=f"{backend}: {result['resources']:,} resources; staff with {cast['in_care']} patients in care",
        caption="x op: the principal's latency over the operator's on the same requests; SQL: statements sent",
    )
    for column in ("query", "principal", "status", "p50 ms", "p95 ms", "x op p50", "x op p95", "floor p50",
                   "floor p95", "x floor p95", "SQL"):  # fmt: skip
        table.add_column(column, justify="left" if column in ("query", "principal") else "right")
    for query, sets in result["queries"].items():
        for name, figures in sets.items():
            floor = figures.get("floor", {})
            for who, f in figures.items():
                if who == "floor":
                    continue
                table.add_row(
                    f"{query[:3]} {name}",
                    who,
                    "/".join(str(s) for s in f["status"]),
                    f"{f['p50_ms']:.2f}",
                    f"{f['p95_ms']:.2f}",
                    "" if who == "operator" else f"{f['p50_to_operator']:.2f}",
                    "" if who == "operator" else f"{f['p95_to_operator']:.2f}",
                    f"{floor['p50_ms']:.2f}",
                    f"{floor['p95_ms']:.2f}",
                    f"{f['p95_to_floor']:.1f}",
                    str(f["statements"]),
                )
    console.print(table)
    for who, f in result["allowed_sets"].items():
        console.print(f"  {who}'s allowed set alone (raw SQL): p50 {f['p50_ms']:.2f} ms, p95 {f['p95_ms']:.2f} ms")


if __name__ == "__main__":
    main()
