"""No clinical data leaves without its audit record being durable (issue 6): a server killed with
SIGKILL under read load still has, after restart, the record of every answer a client received,
and its trail verifies."""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path

import httpx
import orjson
from joserfc.jwk import ECKey

from lifeline.audit import index
from lifeline.identity.keys import new_kek
from lifeline.storage import open_repository
from tests.audit.crashing import serve
from tests.replication.nodes import free_port, wait_until
from tests.replication.region import lifeline

READERS = 6


def test_every_answer_received_before_a_sigkill_has_its_audit_record(db: str, tmp_path: Path) -> None:
    port = free_port()  # the command line's tokens name the server's issuer, http://127.0.0.1:PORT
    env = {**os.environ, "LIFELINE_KEK": new_kek(), "LIFELINE_PORT": str(port)}
    patients = tmp_path / "patients.ndjson"
    ids = [f"crash-{n}" for n in range(3000)]
    patients.write_bytes(b"\n".join(orjson.dumps({"resourceType": "Patient", "id": i}) for i in ids) + b"\n")
    lifeline("db", "upgrade", "--db", db, env=env)
    lifeline("import", str(patients), "--db", db, env=env)
    jwks = tmp_path / "reader.jwks.json"
    jwks.write_text(orjson.dumps({"keys": [ECKey.generate_key("P-256").as_dict(private=False)]}).decode())
    lifeline("clients", "add", "reader", "--kind", "backend", "--scope", "system/*.rs", "--jwks", str(jwks),
             "--db", db, env=env)  # fmt: skip
    token = lifeline("token", "issue", "--client", "reader", "--scope", "system/*.rs", "--db", db, env=env)
    process = serve(db, port, env, tmp_path / "server.log")
    received: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()

    def read(share: list[str]) -> None:
        with httpx.Client(
            base_url=f"http://127.0.0.1:{port}/fhir", headers={"authorization": f"Bearer {token}"}
        ) as http:
            for res_id in share:
                if stop.is_set():
                    return
                try:
                    answer = http.get(f"/Patient/{res_id}", timeout=5)
                except httpx.HTTPError:
                    return  # the server died under this request: nothing was received
                if answer.status_code == 200 and answer.json()["id"] == res_id:
                    with lock:
                        received.append(res_id)

    readers = [threading.Thread(target=read, args=(ids[n::READERS],), daemon=True) for n in range(READERS)]
    for reader in readers:
        reader.start()
    wait_until(lambda: len(received) >= 300, 60, "reads under load")
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(10)
    stop.set()
    for reader in readers:
        reader.join(10)
    repo = open_repository(db)
    try:
        index.catch_up(repo)
        with repo.reading() as session:
            recorded = {row[0] for row in session._all("SELECT value FROM audit_index WHERE param = 'patient'")}
    finally:
        repo.close()
    missing = sorted(set(received) - recorded)
    assert not missing, f"{len(missing)} of {len(received)} received answers have no audit record: {missing[:5]}"
    assert len(received) < len(ids), "the kill came after the load; nothing was proven"
    process = serve(db, port, env, tmp_path / "server.log")  # and it starts again on its trail
    try:
        assert "audit trail intact" in lifeline("audit", "verify", "--db", db, env=env)
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(20)
