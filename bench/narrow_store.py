"""`python -m bench.narrow_store`: what a narrower store would cost, prototyped in SQL (issue 27).

Issue 27 asks for at most 2.5 KB a stored resource on PostgreSQL and names the way: "small
integer ids for parameters and systems, no duplicated text", and compression "where that pays".
Before the store is rebuilt, this measures that way on the generated region as `lifeline import`
loads it (the database bench/search.py keeps, `bench_search_<patients>`):

1. A copy of every record table whose index rows carry a resource number (BIGINT) in place of
   type and id, the store's parameter number (SMALLINT, one per type and parameter, which the
   store's rows carry since migration 22), a system number (INTEGER) in place of a token's
   system, and, where a reference names a stored resource, that resource's number in place of
   its type and id. The same indexes, keyed the same way by numbers. Bytes per stored resource,
   table by table, against the store as it is.
2. PostgreSQL's CPU a row for inserting the same rows (in random order, rolled back) into each
   layout.
3. Each resource's JSON compressed on its own: zlib, zlib with a preset dictionary drawn from the
   region's resources, zstd with a dictionary trained on them, and the store's own packing
   (storage/packing.py, the shipped dictionary): bytes, and microseconds to compress and to
   decompress one resource; and the store's packing on a Synthea patient's resources.

The prototype's `resource` table is a copy of the store's, so it holds the JSON as the store
does: packed, since storage/packing.py.

It writes nothing to the measured schema (the store's inserts are timed on a copy); the
prototype's schema is dropped at the end. `--fresh` imports the region again first.

Usage: python -m bench.narrow_store [--patients 1000] [--fresh]
Results: bench/results/narrow_store.json; docs/benchmarks.md records them.
"""

from __future__ import annotations

import argparse
import json
import random
import timeit
import zlib
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import psycopg
import zstandard
from rich.table import Table

from bench.__main__ import PG_URL, RESULTS, _machine, console, kept_database
from bench.cpu import cpu_of_process
from bench.search import _region
from bench.storage import _sizes_postgresql
from lifeline import jsontext
from lifeline.storage import packing
from lifeline.storage.packing import unpack

TABLES = (
    "resource",
    "resource_version",
    "search_token",
    "search_reference",
    "search_subject_code",
    "search_composite",
    "search_date",
    "search_quantity",
    "search_string",
    "search_number",
    "search_uri",
)
PROTOTYPE = "narrow_store_prototype"
ROWS_TIMED = 100_000

# Each table of the prototype from the store's own rows ({src} is the measured schema). Index rows
# keep the store's parameter numbers; `param` is the store's list of them (search_param) and a
# number per type after them for search_subject_code's rows, which name no parameter.
_PROTOTYPE_SQL = """
CREATE TABLE resource AS SELECT (row_number() OVER ())::bigint AS rid, * FROM {src}.resource;
ALTER TABLE resource ADD PRIMARY KEY (rid);
CREATE UNIQUE INDEX ON resource (res_type, res_id);
CREATE INDEX ON resource (res_type, last_updated);
CREATE TABLE resource_version AS SELECT * FROM {src}.resource_version;
ALTER TABLE resource_version ADD PRIMARY KEY (write_id);
CREATE UNIQUE INDEX ON resource_version (change_seq);
CREATE UNIQUE INDEX ON resource_version (res_type, res_id, version_id);
CREATE INDEX ON resource_version (res_type, last_updated);
CREATE INDEX ON resource_version (write_id) WHERE change_seq IS NULL;
CREATE INDEX ON resource_version (last_updated);
CREATE TABLE param AS SELECT pid, res_type, code FROM {src}.search_param
  UNION ALL SELECT (m.pid + row_number() OVER (ORDER BY t.res_type))::smallint, t.res_type, ''
  FROM (SELECT DISTINCT res_type FROM {src}.search_subject_code) t, (SELECT MAX(pid) AS pid FROM {src}.search_param) m;
CREATE TABLE system AS SELECT (row_number() OVER ())::int AS sid, system FROM (
  SELECT system FROM {src}.search_token WHERE system IS NOT NULL
  UNION SELECT system FROM {src}.search_quantity WHERE system IS NOT NULL
  UNION SELECT c1_system FROM {src}.search_composite WHERE c1_system IS NOT NULL
  UNION SELECT c2_system FROM {src}.search_composite WHERE c2_system IS NOT NULL
  UNION SELECT system FROM {src}.search_subject_code) s;
CREATE TABLE search_token AS SELECT r.rid, s.pid, y.sid, s.code, s.text FROM {src}.search_token s
  JOIN resource r USING (res_type, res_id) LEFT JOIN system y USING (system);
CREATE INDEX ON search_token (rid); CREATE INDEX ON search_token (pid, code, sid);
CREATE TABLE search_string AS SELECT r.rid, s.pid, s.normalized, s.exact FROM {src}.search_string s
  JOIN resource r USING (res_type, res_id);
CREATE INDEX ON search_string (rid); CREATE INDEX ON search_string (pid, normalized text_pattern_ops);
CREATE TABLE search_date AS SELECT r.rid, s.pid, s.low, s.high FROM {src}.search_date s
  JOIN resource r USING (res_type, res_id);
CREATE INDEX ON search_date (rid); CREATE INDEX ON search_date (pid, low, high);
CREATE TABLE search_number AS SELECT r.rid, s.pid, s.value, s.low, s.high FROM {src}.search_number s
  JOIN resource r USING (res_type, res_id);
CREATE INDEX ON search_number (rid); CREATE INDEX ON search_number (pid, value);
CREATE TABLE search_quantity AS SELECT r.rid, s.pid, s.value, s.low, s.high, y.sid, s.code, s.unit
  FROM {src}.search_quantity s JOIN resource r USING (res_type, res_id)
  LEFT JOIN system y USING (system);
CREATE INDEX ON search_quantity (rid); CREATE INDEX ON search_quantity (pid, code, value);
CREATE TABLE search_reference AS SELECT r.rid, s.pid, t.rid AS target_rid,
  CASE WHEN t.rid IS NULL THEN s.target_type END AS target_type,
  CASE WHEN t.rid IS NULL THEN s.target_id END AS target_id, s.url
  FROM {src}.search_reference s JOIN resource r USING (res_type, res_id)
  LEFT JOIN resource t ON t.res_type = s.target_type AND t.res_id = s.target_id;
CREATE INDEX ON search_reference (rid); CREATE INDEX ON search_reference (pid, target_rid);
CREATE INDEX ON search_reference (target_rid);
CREATE TABLE search_uri AS SELECT r.rid, s.pid, s.value FROM {src}.search_uri s
  JOIN resource r USING (res_type, res_id);
CREATE INDEX ON search_uri (rid); CREATE INDEX ON search_uri (pid, value);
CREATE TABLE search_composite AS SELECT r.rid, s.pid, y1.sid AS c1_sid, s.c1_code, s.c1_target_type,
  s.c1_target_id, s.c1_url, y2.sid AS c2_sid, s.c2_code, s.c2_value, s.c2_low, s.c2_high, s.c2_unit,
  s.c2_date_low, s.c2_date_high, s.c2_normalized, s.c2_exact, s.c2_target_type, s.c2_target_id, s.c2_url,
  s.c2_uri, s.c3_value, s.c3_low, s.c3_high
  FROM {src}.search_composite s JOIN resource r USING (res_type, res_id)
  LEFT JOIN system y1 ON y1.system = s.c1_system LEFT JOIN system y2 ON y2.system = s.c2_system;
CREATE INDEX ON search_composite (rid); CREATE INDEX ON search_composite (pid, c1_code, c1_sid, c2_value);
CREATE TABLE search_subject_code AS SELECT r.rid, p.pid AS tid, t.rid AS subject_rid, y.sid, s.code, s.latest
  FROM {src}.search_subject_code s JOIN resource r USING (res_type, res_id)
  JOIN param p ON p.res_type = s.res_type AND p.code = ''
  JOIN resource t ON t.res_type = s.subject_type AND t.res_id = s.subject_id JOIN system y USING (system);
CREATE INDEX ON search_subject_code (rid);
CREATE INDEX ON search_subject_code (tid, subject_rid, code, sid, latest DESC, rid);
"""


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.narrow_store")
    parser.add_argument("--patients", type=int, default=1000)
    parser.add_argument("--fresh", action="store_true", help="import the region again first")
    args = parser.parse_args()
    RESULTS.mkdir(exist_ok=True)
    region = _region(args.patients)
    url, _ = kept_database("postgresql", f"search_{args.patients}", sorted(region.glob("*.ndjson*")), args.fresh)
    source = url.rsplit("schema=", 1)[1]
    results: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": _machine(),
        "patients": args.patients,
    }
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        try:
            console.print(f"building the prototype from {source}")
            conn.execute(f"DROP SCHEMA IF EXISTS {PROTOTYPE} CASCADE")
            conn.execute(f"CREATE SCHEMA {PROTOTYPE}")
            conn.execute(f"SET search_path TO {PROTOTYPE}")
            for statement in _PROTOTYPE_SQL.format(src=source).split(";"):
                if statement.strip():
                    conn.execute(statement)
            conn.execute("VACUUM ANALYZE")
            resources = int(conn.execute(f"SELECT count(*) FROM {source}.resource").fetchone()[0])
            results["resources"] = resources
            results["bytes"] = {name: _sizes(name, resources) for name in (source, PROTOTYPE)}
            results["insert_cpu_us_a_row"] = {t: _insert_cpu(conn, source, t) for t in TABLES[2:7]}
            # The JSON itself, as storage/packing.py gives it back (the store packs it since then).
            contents = [unpack(row[0]).encode() for row in conn.execute(f"SELECT content FROM {source}.resource")]
        finally:
            conn.execute(f"DROP SCHEMA IF EXISTS {PROTOTYPE} CASCADE")
    results["compression"] = _compression([c for c in contents if c])
    results["compression"]["the store's packing, on one Synthea patient's resources (data it was not trained on)"] = (
        _packing_synthea()
    )
    (RESULTS / "narrow_store.json").write_text(json.dumps(results, indent=2))
    _print(results, source)


def _packing_synthea() -> dict[str, float]:
    """Mean JSON bytes and stored bytes of bench/transactions.py's Synthea patient, each resource
    packed on its own as the store packs it: data neither Lifeline's generator nor the shipped
    dictionary's training has seen."""
    from bench.transactions import patient_bundle

    texts = [jsontext.dumps(e["resource"]).decode() for e in patient_bundle(100_000)["entry"]]
    stored = [packing.pack("Resource", t) or "" for t in texts]
    assert all(packing.unpack(p) == t for p, t in zip(stored, texts, strict=True))
    return {
        "resources": len(texts),
        "json_bytes": sum(map(len, texts)) / len(texts),
        "bytes": sum(map(len, stored)) / len(stored),
    }


def _sizes(schema: str, resources: int) -> dict[str, list[float]]:
    """Each table's heap (with its TOAST) and indexes, in bytes per stored resource."""
    found = _sizes_postgresql(schema, [*TABLES, "param", "system"])
    return {name: [size["heap"] / resources, size["indexes"] / resources] for name, size in found.items()}


def _insert_cpu(conn: psycopg.Connection[Any], source: str, table: str) -> dict[str, float]:
    """PostgreSQL's CPU a row inserting ROWS_TIMED of a table's own rows, in random order, into
    each layout, rolled back; the better of two tries each. The store's layout is timed on a copy
    of the table in the prototype's schema, so the measured database takes no dead rows."""
    copy = f"{PROTOTYPE}.text_{table}"
    backend = conn.execute("SELECT pg_backend_pid()").fetchone()[0]  # this connection's server process
    conn.execute(f"CREATE TABLE {copy} (LIKE {source}.{table} INCLUDING INDEXES)")
    conn.execute(f"INSERT INTO {copy} SELECT * FROM {source}.{table}")
    found: dict[str, float] = {}
    for target in (copy, f"{PROTOTYPE}.{table}", copy, f"{PROTOTYPE}.{table}"):
        with conn.transaction(force_rollback=True):
            conn.execute(
                f"CREATE TEMP TABLE rows_timed ON COMMIT DROP AS"
                f" SELECT * FROM {target} ORDER BY random() LIMIT {ROWS_TIMED}"
            )
            before = cpu_of_process(backend)
            conn.execute(f"INSERT INTO {target} SELECT * FROM rows_timed")
            used = (cpu_of_process(backend) - before) / ROWS_TIMED * 1e6
        found[target] = min(found.get(target, used), used)
    conn.execute(f"DROP TABLE {copy}")
    return {"text_keys": found[copy], "number_keys": found[f"{PROTOTYPE}.{table}"]}


def _per_resource(work: Callable[[], object], n: int) -> float:
    return min(timeit.repeat(work, number=1, repeat=3)) / n * 1e6


def _compression(contents: list[bytes]) -> dict[str, dict[str, float]]:
    """Each resource's JSON compressed on its own, three ways: mean bytes, µs to compress and to
    decompress one (over 5,000 of them)."""
    rng = random.Random(1)
    sample = rng.sample(contents, min(5000, len(contents)))
    timed = contents[:5000]
    out: dict[str, dict[str, float]] = {"json": {"bytes": sum(map(len, contents)) / len(contents)}}

    def measure(name: str, compress: Callable[[bytes], bytes], decompress: Callable[[bytes], bytes]) -> None:
        packed = [compress(c) for c in contents]
        assert all(decompress(p) == c for p, c in zip(packed[:1000], contents[:1000], strict=True))
        out[name] = {
            "bytes": sum(map(len, packed)) / len(packed),
            "compress_us": _per_resource(lambda: [compress(c) for c in timed], len(timed)),
            "decompress_us": _per_resource(lambda: [decompress(p) for p in packed[: len(timed)]], len(timed)),
        }

    measure("zlib", lambda c: zlib.compress(c, 6), zlib.decompress)
    zdict = b"".join(sample)[-32768:]  # zlib's window: its preset dictionary is at most 32 KB

    def with_zdict(c: bytes) -> bytes:
        packer = zlib.compressobj(6, zdict=zdict)
        return packer.compress(c) + packer.flush()

    def from_zdict(p: bytes) -> bytes:
        return zlib.decompressobj(zdict=zdict).decompress(p)

    measure("zlib, 32 KB of the region as its dictionary", with_zdict, from_zdict)
    trained = zstandard.train_dictionary(65536, sample)
    packer, unpacker = (
        zstandard.ZstdCompressor(level=3, dict_data=trained),
        zstandard.ZstdDecompressor(dict_data=trained),
    )
    measure(
        f"zstd {zstandard.__version__}, a 64 KB dictionary trained on the region", packer.compress, unpacker.decompress
    )
    # What the store does (storage/packing.py): the dictionary Lifeline ships, trained on another
    # seed's region and the official examples, and the frame stored as base64 text.
    measure(
        f"the store's packing: zstd with the shipped dictionary {packing.WRITE_DICTIONARY}, as base64 text",
        lambda c: (packing.pack("Resource", c.decode()) or "").encode(),
        lambda p: (packing.unpack(p.decode()) or "").encode(),
    )
    return out


def _print(results: dict[str, Any], source: str) -> None:
    now, narrow = results["bytes"][source], results["bytes"][PROTOTYPE]
    table = Table(title=f"Bytes per stored resource, {results['resources']:,} resources: the store and the prototype")
    for column in ("table", "store: heap + indexes", "number keys: heap + indexes"):
        table.add_column(column, justify="left" if column == "table" else "right")
    for name in sorted(set(now) | set(narrow), key=lambda t: -sum(now.get(t, [0, 0]))):
        cells = [
            f"{a:,.0f} + {b:,.0f}" if (a, b) != (0, 0) else "—"
            for a, b in (now.get(name, [0, 0]), narrow.get(name, [0, 0]))
        ]
        table.add_row(name, *cells)
    table.add_row("all", f"{sum(map(sum, now.values())):,.0f}", f"{sum(map(sum, narrow.values())):,.0f}")
    console.print(table)
    for name, figures in results["insert_cpu_us_a_row"].items():
        console.print(
            f"  insert {name}: {figures['text_keys']:.1f} µs a row by text, {figures['number_keys']:.1f} by number"
        )
    for name, figures in results["compression"].items():
        times = (
            f", {figures['compress_us']:.1f} / {figures['decompress_us']:.1f} µs" if "compress_us" in figures else ""
        )
        of = f" of {figures['json_bytes']:,.0f} ({figures['resources']:,} resources)" if "json_bytes" in figures else ""
        console.print(f"  {name}: {figures['bytes']:,.0f} bytes{of}{times}")


if __name__ == "__main__":
    main()
