"""The real server process driven over HTTP by the public fhirpy client."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from fhirpy import SyncFHIRClient
from joserfc.jwk import ECKey

from tests.conftest import BACKENDS, database_url
from tests.web.real_server import Served, serving


@dataclass
class Server:
    base: str
    served: Served

    def token(self, scope: str) -> str:
        """An operator's token, as the README shows: `lifeline token issue` for a registered app."""
        return self.served.cli("token", "issue", "--client", "integration", "--scope", scope)


@pytest.fixture(params=BACKENDS)
def server(request, tmp_path) -> Iterator[Server]:
    # The server and the command line share the node's key-encryption key, never stored in the database,
    # and its port: the issuer of the tokens `lifeline token issue` prints is http://127.0.0.1:PORT.
    with serving(database_url(request.param, tmp_path), tmp_path) as served:
        jwks = tmp_path / "integration.jwks.json"
        jwks.write_text(json.dumps({"keys": [ECKey.generate_key("P-256").as_dict(private=False)]}))
        served.cli(
            "clients", "add", "integration", "--kind", "backend", "--scope", "system/*.cruds", "--jwks", str(jwks)
        )
        yield Server(served.base, served)


def test_without_a_token_only_the_capability_statement_answers(server):
    assert httpx.get(f"{server.base}/metadata").status_code == 200
    refused = httpx.get(f"{server.base}/Patient")
    assert refused.status_code == 401
    assert refused.headers["www-authenticate"].startswith("Bearer")
    assert refused.json()["issue"][0]["code"] == "login"
    forged = httpx.get(f"{server.base}/Patient", headers={"Authorization": "Bearer not.a.token"})
    assert forged.status_code == 401


def test_a_token_reads_what_its_scopes_allow_and_no_more(server):
    reader = {"Authorization": f"Bearer {server.token('system/Patient.rs')}"}
    assert httpx.get(f"{server.base}/Patient", headers=reader).status_code == 200
    refused = httpx.get(f"{server.base}/Observation", headers=reader)
    assert refused.status_code == 403
    assert refused.json()["issue"][0]["code"] == "forbidden"
    written = httpx.post(f"{server.base}/Patient", headers=reader, json={"resourceType": "Patient"})
    assert written.status_code == 403


def test_fhirpy_create_read_update_history_transaction(server):
    token = server.token("system/*.cruds")
    client = SyncFHIRClient(server.base, authorization=f"Bearer {token}")
    server = server.base
    auth = {"Authorization": f"Bearer {token}"}
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
    history = httpx.get(f"{server}/Patient/{patient.id}/_history", headers=auth).json()
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
    assert httpx.get(f"{server}/Patient/{patient.id}", headers=auth).status_code == 410


def test_fhirpy_calls_that_would_make_duplicates_are_refused_with_the_way_to_do_it(server):
    """fhirpy's create(identifier=...) and get_or_create send their criteria in the POST's query
    string, and its patch() a merge patch as plain JSON: refused, naming what works, never a
    second Patient (issue 26)."""
    from fhirpy.base.exceptions import OperationOutcome

    token = server.token("system/*.cruds")
    client = SyncFHIRClient(server.base, authorization=f"Bearer {token}")
    cpr = {"system": "urn:oid:1.2.208.176.1.2", "value": "1207814437"}
    first = client.resource("Patient", name=[{"family": "Lund"}], identifier=[cpr])
    first.save()
    criteria = f"{cpr['system']}|{cpr['value']}"
    with pytest.raises(OperationOutcome, match="If-None-Exist"):
        client.resource("Patient", name=[{"family": "Lund"}], identifier=[cpr]).create(identifier=criteria)
    with pytest.raises(OperationOutcome, match="If-None-Exist"):
        client.resources("Patient").search(identifier=criteria).get_or_create(
            client.resource("Patient", name=[{"family": "Lund"}], identifier=[cpr])
        )
    assert [p.id for p in client.resources("Patient").search(identifier=criteria).fetch_all()] == [first.id]
    with pytest.raises(OperationOutcome, match="merge-patch"):
        first.patch(gender="female")
    auth = {"Authorization": f"Bearer {token}"}
    merged = httpx.patch(
        f"{server.base}/Patient/{first.id}",
        content=json.dumps({"gender": "female"}),
        headers={**auth, "Content-Type": "application/merge-patch+json"},
    )
    assert merged.status_code == 200, merged.text
    assert client.reference("Patient", first.id).to_resource()["gender"] == "female"
