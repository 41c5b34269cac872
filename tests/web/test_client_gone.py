"""A search whose client goes away leaves no query running (issue 27: chained searches ran 20-40
minutes in PostgreSQL long after their clients had gone). Against the real server process on
PostgreSQL: a name search waits behind a lock another session holds on the string index (as
behind a long migration); the client gives up and closes its connection; the server cancels the
query in PostgreSQL at once, well before its time limit, and goes on answering. (SQLite's readers
never wait for a lock; its side of the cancellation is tested in tests/test_cancel.py.)"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest

from tests.conftest import PG_URL, database_url, require_postgres
from tests.replication.nodes import wait_until
from tests.web.real_server import Served, serving

FHIR = {"content-type": "application/fhir+json", "accept": "application/fhir+json"}


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[Served, dict[str, str]]]:
    require_postgres()
    # A time limit far beyond the test's waits: only the cancellation can end the query in time.
    with serving(database_url("postgresql", tmp_path), tmp_path, env={"LIFELINE_STATEMENT_TIMEOUT_MS": "300000"}) as s:
        s.cli("clients", "add", "ward-app", "--kind", "backend", "--scope", "system/*.cruds")
        token = s.cli("token", "issue", "--client", "ward-app", "--scope", "system/*.cruds").splitlines()[-1]
        yield s, {**FHIR, "authorization": f"Bearer {token}"}


def _blocked_by(pid: int) -> list[str]:
    """The statements of other sessions waiting for `pid`'s lock (the server's searches)."""
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT query FROM pg_stat_activity WHERE %s = ANY(pg_blocking_pids(pid)) AND query NOT ILIKE 'analyze%%'",
            (pid,),
        ).fetchall()
    return [row[0] for row in rows]


def test_a_search_whose_client_goes_away_is_cancelled_in_postgresql(server: tuple[Served, dict[str, str]]) -> None:
    served, headers = server
    patient = {"resourceType": "Patient", "name": [{"family": "Holm", "given": ["Signe"]}]}
    assert httpx.post(f"{served.base}/Patient", json=patient, headers=headers).status_code == 201
    schema = served.db.rsplit("schema=", 1)[1]
    with psycopg.connect(PG_URL) as holder:  # another session holds the string index: searches on it wait
        holder.execute(f'LOCK TABLE "{schema}".search_string IN ACCESS EXCLUSIVE MODE')
        holder_pid = holder.info.backend_pid
        with socket.create_connection(("127.0.0.1", served.port), timeout=10) as client:
            head = (
                f"GET /fhir/Patient?name=Holm HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: {headers['authorization']}"
            )
            client.sendall(f"{head}\r\nAccept: application/fhir+json\r\n\r\n".encode())
            wait_until(lambda: _blocked_by(holder_pid), 15, what="the search to reach PostgreSQL")
        # The client has closed its connection: the server must cancel the waiting query.
        wait_until(
            lambda: not _blocked_by(holder_pid), 15, what="the search of a client that went away to be cancelled"
        )
        holder.rollback()
    # The server goes on answering, the same search included.
    found = httpx.get(f"{served.base}/Patient", params={"name": "Holm"}, headers=headers, timeout=30)
    assert found.status_code == 200 and found.json()["total"] == 1
