"""A write's audit record is in the write's own transaction (issue 19.10): a server killed with
SIGKILL during a stream of writes has, after restart, the record of every version that committed,
acknowledged or not, and its trail verifies."""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path

import httpx
import orjson
from joserfc.jwk import ECKey

from lifeline.identity.keys import new_kek
from lifeline.storage import open_repository
from tests.audit.crashing import serve
from tests.replication.nodes import free_port, wait_until
from tests.replication.region import lifeline

WRITERS = 8


def test_every_write_committed_before_a_sigkill_has_its_audit_record(db: str, tmp_path: Path) -> None:
    port = free_port()  # the command line's tokens name the server's issuer, http://127.0.0.1:PORT
    env = {**os.environ, "LIFELINE_KEK": new_kek(), "LIFELINE_PORT": str(port)}
    lifeline("db", "upgrade", "--db", db, env=env)
    jwks = tmp_path / "writer.jwks.json"
    jwks.write_text(orjson.dumps({"keys": [ECKey.generate_key("P-256").as_dict(private=False)]}).decode())
    lifeline("clients", "add", "writer", "--kind", "backend", "--scope", "system/*.cruds", "--jwks", str(jwks),
             "--db", db, env=env)  # fmt: skip
    token = lifeline("token", "issue", "--client", "writer", "--scope", "system/*.cruds", "--db", db, env=env)
    process = serve(db, port, env, tmp_path / "server.log")
    acknowledged: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()

    def write(writer: int) -> None:
        """Patients made at their own id, updated, and given Observations: every kind of write."""
        with httpx.Client(
            base_url=f"http://127.0.0.1:{port}/fhir", headers={"authorization": f"Bearer {token}"}, timeout=5
        ) as http:
            for n in range(100_000):
                if stop.is_set():
                    return
                pid = f"w{writer}-{n}"
                observation = {"resourceType": "Observation", "status": "final", "code": {"text": "pulse"},
                               "subject": {"reference": f"Patient/{pid}"}}  # fmt: skip
                try:
                    for method, path, body in (
                        ("PUT", f"/Patient/{pid}", {"resourceType": "Patient", "id": pid}),
                        ("PUT", f"/Patient/{pid}", {"resourceType": "Patient", "id": pid, "gender": "other"}),
                        ("POST", "/Observation", observation),
                    ):
                        answer = http.request(method, path, json=body)
                        if answer.status_code in (200, 201):
                            with lock:
                                acknowledged.append(
                                    answer.headers.get("location") or answer.headers["content-location"]
                                )
                except httpx.HTTPError:
                    return  # the server died under this request

    writers = [threading.Thread(target=write, args=(n,), daemon=True) for n in range(WRITERS)]
    try:
        for writer in writers:
            writer.start()
        wait_until(lambda: len(acknowledged) >= 300, 60, "writes under load")
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)
        stop.set()
        for writer in writers:
            writer.join(10)
    process = serve(db, port, env, tmp_path / "server.log")  # it moves what the crash left into the chain
    repo = open_repository(db)
    try:

        def drained() -> bool:
            with repo.reading() as session:
                return not session.audit_outbox_waiting()

        wait_until(drained, 30, "the restarted server to move the outbox into the chain")
        with repo.reading() as session:
            versions = {
                f"{row[0]}/{row[1]}/_history/{row[2]}"
                for row in session._all("SELECT res_type, res_id, version_id FROM resource_version")
                if not str(row[0]).startswith("_")  # the app's registration, an identity record
            }
            recorded = {
                entity["what"]["reference"]
                for row in session.audit_events_after("central", 0, 10_000_000)
                for entity in orjson.loads(row[3]).get("entity") or []
                if "what" in entity
            }
        assert {location.split("/fhir/", 1)[1] for location in acknowledged} <= versions
        missing = sorted(versions - recorded)
        assert not missing, f"{len(missing)} of {len(versions)} committed writes have no audit record: {missing[:5]}"
        assert "audit trail intact" in lifeline("audit", "verify", "--db", db, env=env)
    finally:
        repo.close()
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(20)
