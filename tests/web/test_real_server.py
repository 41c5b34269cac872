"""The real server process driven over HTTP by the public fhirpy client."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest
from fhirpy import SyncFHIRClient

from tests.conftest import BACKENDS, database_url


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(params=BACKENDS)
def server(request, tmp_path) -> Iterator[str]:
    port = _free_port()
    url = database_url(request.param, tmp_path)
    process = subprocess.Popen(
        [sys.executable, "-m", "lifeline.cli", "serve", "--db", url, "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}/fhir"
    try:
        for _ in range(300):  # up to 30 s for start-up
            if process.poll() is not None:
                raise AssertionError(process.stdout.read().decode() if process.stdout else "server exited")
            try:
                if httpx.get(f"{base}/metadata", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        else:
            raise AssertionError("server did not start")
        yield base
    finally:
        process.terminate()
        process.wait(timeout=20)
        if process.stdout is not None:
            process.stdout.close()


def test_fhirpy_create_read_update_history_transaction(server):
    client = SyncFHIRClient(server)
    patient = client.resource(
        "Patient",
        name=[{"family": "Sørensen", "given": ["Søren"]}],
        gender="male",
        identifier=[{"system": "urn:oid:1.2.208.176.1.2", "value": "0703584127"}],
    )
    patient.save()
    assert patient.id
    fetched = client.reference("Patient", patient.id).to_resource()
    assert fetched["name"][0]["family"] == "Sørensen"
    fetched["gender"] = "other"
    fetched.save()
    assert client.reference("Patient", patient.id).to_resource()["meta"]["versionId"] == "2"
    history = httpx.get(f"{server}/Patient/{patient.id}/_history").json()
    assert [e["resource"]["meta"]["versionId"] for e in history["entry"]] == ["2", "1"]
    found = client.resources("Patient").search(identifier="urn:oid:1.2.208.176.1.2|0703584127").fetch()
    assert [p.id for p in found] == [patient.id]
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "fullUrl": "urn:uuid:61ebe359-bfdc-4613-8bf2-c5e300945f0a",
                "resource": {"resourceType": "Patient", "name": [{"family": "Åberg"}]},
                "request": {"method": "POST", "url": "Patient"},
            },
            {
                "resource": {
                    "resourceType": "Observation",
                    "status": "final",
                    "code": {"text": "pulse"},
                    "subject": {"reference": "urn:uuid:61ebe359-bfdc-4613-8bf2-c5e300945f0a"},
                },
                "request": {"method": "POST", "url": "Observation"},
            },
        ],
    }
    result = client.execute("", method="post", data=bundle)
    assert result["type"] == "transaction-response"
    observation_id = result["entry"][1]["response"]["location"].split("/")[-3]
    observation = client.reference("Observation", observation_id).to_resource()
    assert observation["subject"]["reference"].startswith("Patient/")
    patient.delete()
    assert httpx.get(f"{server}/Patient/{patient.id}").status_code == 410
