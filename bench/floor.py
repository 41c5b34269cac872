"""The floor: the raw database driver doing the same primary-key lookup as a FHIR read, with no
HTTP and no Lifeline code, from 16 concurrent clients (2 processes x 8 threads, as many as the
server's workers see)."""

from __future__ import annotations

import multiprocessing
import random
import sqlite3
import threading
import time
from urllib.parse import parse_qsl, urlsplit

import psycopg

SQL = "SELECT version_id, last_updated, deleted, content FROM resource WHERE res_type = ? AND res_id = ?"


def raw_lookup_rate(url: str, ids: list[str], seconds: int, processes: int = 2, threads: int = 8) -> float:
    with multiprocessing.get_context("spawn").Pool(processes) as pool:
        counts = pool.starmap(_process, [(url, ids, seconds, threads, n) for n in range(processes)])
    return sum(counts) / seconds


def _process(url: str, ids: list[str], seconds: int, threads: int, seed: int) -> int:
    counts = [0] * threads
    deadline = time.monotonic() + seconds

    def client(slot: int) -> None:
        rng = random.Random(seed * 100 + slot)
        lookup = _connect(url)
        n = 0
        while time.monotonic() < deadline:
            for _ in range(100):
                lookup(rng.choice(ids))
            n += 100
        counts[slot] = n

    workers = [threading.Thread(target=client, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return sum(counts)


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
