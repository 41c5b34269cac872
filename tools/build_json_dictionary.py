"""Train the zstd dictionary that packs each stored resource's JSON (src/lifeline/storage/packing.py).

The samples are synthetic only, because a dictionary is made of its samples' own text and ships
inside the package: resources of a region made by `lifeline generate` (its own seed, not the seed
bench/ measures with), as `lifeline import` stores them (with their meta), and the official R4
examples (tests/r4_examples.py fetches them), which hold every resource type and the shapes the
generator never makes. Never train it on a database holding real patients.

A dictionary once shipped is never changed: rows packed with it must stay readable. A new one
gets the next id (`--dict-id`), and storage/packing.py's WRITE_DICTIONARY moves to it.

Usage: python tools/build_json_dictionary.py --dict-id N [--patients 200] [--size 65536]
Prints the bytes a resource packs to, with the new dictionary, on a second generated region.
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import zstandard

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))

from tests.r4_examples import examples  # noqa: E402

from lifeline.storage.packing import DICTIONARIES, LEVEL, unpack  # noqa: E402

SEED = 2027  # bench/ generates its regions with seed 7
CHECK_SEED = 11
LARGEST_SAMPLE = 16_384  # a few examples are large code systems; they would crowd out the rest


def _stored_region(patients: int, seed: int, work: Path) -> list[bytes]:
    """Every resource of a generated region, as the store holds it after `lifeline import`."""
    out, db = work / f"region-{seed}", work / f"region-{seed}.db"
    run = [sys.executable, "-m", "lifeline.cli"]
    subprocess.run(
        [*run, "generate", "--patients", str(patients), "--seed", str(seed), "--no-images", "--out", str(out)],
        check=True,
        capture_output=True,
    )
    files = sorted(str(p) for p in out.glob("*.ndjson*"))
    subprocess.run([*run, "db", "upgrade", "--db", f"sqlite:///{db}"], check=True, capture_output=True)
    subprocess.run([*run, "import", *files, "--db", f"sqlite:///{db}"], check=True, capture_output=True)
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT content FROM resource WHERE res_type NOT LIKE '\\_%' ESCAPE '\\'").fetchall()
    return [str(unpack(row[0])).encode() for row in rows]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--dict-id", type=int, required=True)
    parser.add_argument("--patients", type=int, default=200)
    parser.add_argument("--size", type=int, default=65_536)
    parser.add_argument("--samples", type=int, default=8_000)
    args = parser.parse_args()
    target = DICTIONARIES / f"{args.dict_id}.zdict"
    if target.exists():
        raise SystemExit(f"{target} exists: a shipped dictionary is never changed; train the next id")
    picker = random.Random(SEED)
    with tempfile.TemporaryDirectory() as tmp:
        region = _stored_region(args.patients, SEED, Path(tmp))
        samples = picker.sample(region, min(len(region), args.samples * 3 // 4))
        official = [p.read_bytes() for p in examples()]
        official = [s for s in official if len(s) <= LARGEST_SAMPLE]
        samples += picker.sample(official, min(len(official), args.samples - len(samples)))
        picker.shuffle(samples)
        trained = zstandard.train_dictionary(args.size, samples, dict_id=args.dict_id, level=LEVEL, threads=-1)
        DICTIONARIES.mkdir(exist_ok=True)
        target.write_bytes(trained.as_bytes())
        check = _stored_region(max(args.patients // 2, 20), CHECK_SEED, Path(tmp))
    compressor = zstandard.ZstdCompressor(level=LEVEL, dict_data=trained, write_checksum=True, write_dict_id=True)
    packed = [len(compressor.compress(text)) for text in check]
    print(
        f"{target.relative_to(ROOT)}: {len(trained.as_bytes()):,} bytes from {len(samples):,} samples;"
        f" on another region ({len(check):,} resources, {statistics.mean(map(len, check)):,.0f} bytes of JSON"
        f" each) a frame is {statistics.mean(packed):,.0f} bytes"
    )


if __name__ == "__main__":
    main()
