"""The floor: the raw database driver doing the same primary-key lookup as a FHIR read, with no
HTTP and no Lifeline code, from 16 concurrent clients (2 processes x 8 threads, as many as the
server's workers see)."""

from __future__ import annotations

import multiprocessing
import random
import sqlite3
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import psycopg

SQL = "SELECT version_id, last_updated, deleted, content FROM resource WHERE res_type = ? AND res_id = ?"


def raw_lookup_rate(url: str, ids: list[str], seconds: int, processes: int = 2, threads: int = 8) -> float:
    return spread_rate(_process, (url, ids, seconds, threads), seconds, processes)


def spread_rate(process: Callable[..., int], args: tuple[Any, ...], seconds: int, processes: int) -> float:
    """Operations/s of `process(*args, seed)` run in `processes` spawned processes at once (each
    returns how many operations it did in `seconds`)."""
    with multiprocessing.get_context("spawn").Pool(processes) as pool:
        counts = pool.starmap(process, [(*args, n) for n in range(processes)])
    return sum(counts) / seconds


def in_threads(threads: int, seconds: int, client: Callable[[int, float], int]) -> int:
    """Run `client(slot, deadline)` in `threads` threads until the monotonic `deadline`, `seconds`
    from now; the sum of the operations they report."""
    counts = [0] * threads
    deadline = time.monotonic() + seconds

    def run(slot: int) -> None:
        counts[slot] = client(slot, deadline)

    workers = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return sum(counts)


def _process(url: str, ids: list[str], seconds: int, threads: int, seed: int) -> int:
    def client(slot: int, deadline: float) -> int:
        rng = random.Random(seed * 100 + slot)
        lookup = _connect(url)
        n = 0
        while time.monotonic() < deadline:
            for _ in range(100):
                lookup(rng.choice(ids))
            n += 100
        return n

    return in_threads(threads, seconds, client)


def _connect(url: str):  # type: ignore[no-untyped-def]
    if url.startswith("sqlite:///"):
        conn = sqlite3.connect(url[len("sqlite:///") :], check_same_thread=False)
        return lambda res_id: conn.execute(SQL, ("Patient", res_id)).fetchone()
    parts = urlsplit(url)
    schema = dict(parse_qsl(parts.query)).get("schema")
    conn = psycopg.connect(f"{parts.scheme}://{parts.netloc}{parts.path}", autocommit=True)
    if schema:
        conn.execute(f'SET search_path TO "{schema}"')
    sql = SQL.replace("content", "content::text").replace("?", "%s")
    return lambda res_id: conn.execute(sql, ("Patient", res_id)).fetchone()
