"""$export as a backend service does it against the real server process over loopback: a signed
client assertion for a `system/` token (SMART Backend Services), kick-off, polling, download, with
plain httpx (no FHIR client library has bulk support)."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import ECKey

from lifeline import jsontext
from tests.conftest import BACKENDS, database_url
from tests.web.real_server import serving


@dataclass
class Backend:
    origin: str
    client_id: str
    key: ECKey

    def token(self, scope: str) -> str:
        """A token by client_credentials with a private_key_jwt assertion, as a backend service gets one."""
        now = int(time.time())
        claims = {
            "iss": self.client_id,
            "sub": self.client_id,
            "aud": f"{self.origin}/oauth/token",
            "exp": now + 120,
            "jti": uuid.uuid4().hex,
        }
        signed = jwt.encode({"alg": "ES384", "kid": self.key.kid}, claims, self.key, algorithms=["ES384"])
        form = {
            "grant_type": "client_credentials",
            "scope": scope,
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": signed,
        }
        answer = httpx.post(f"{self.origin}/oauth/token", data=form)
        assert answer.status_code == 200, answer.text
        return str(answer.json()["access_token"])


@pytest.fixture(params=BACKENDS)
def backend_service(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    with serving(database_url(request.param, tmp_path), tmp_path) as served:
        key = ECKey.generate_key("P-384", parameters={"kid": uuid.uuid4().hex}, private=True)
        jwks = tmp_path / "exporter.jwks.json"
        jwks.write_text(json.dumps({"keys": [key.as_dict(private=False)]}))
        served.cli("clients", "add", "exporter", "--kind", "backend", "--scope", "system/*.cruds", "--jwks", str(jwks))
        yield Backend(served.origin, "exporter", key)


def test_a_backend_service_exports_over_http(backend_service: Backend) -> None:
    fhir = f"{backend_service.origin}/fhir"
    writer = {"Authorization": f"Bearer {backend_service.token('system/*.cruds')}"}
    body = b'{"resourceType":"Patient","id":"eksport-1","name":[{"family":"Holm"}],"multipleBirthInteger":2}'
    created = httpx.put(
        f"{fhir}/Patient/eksport-1", content=body, headers={**writer, "Content-Type": "application/fhir+json"}
    )
    assert created.status_code == 201, created.text
    capabilities = httpx.get(f"{fhir}/metadata").json()
    assert "http://hl7.org/fhir/uv/bulkdata/CapabilityStatement/bulk-data" in capabilities["instantiates"]
    assert capabilities["rest"][0]["operation"][0]["name"] == "export"

    reader = {"Authorization": f"Bearer {backend_service.token('system/Patient.rs')}"}
    kick = httpx.get(
        f"{fhir}/$export?_type=Patient",
        headers={**reader, "Accept": "application/fhir+json", "Prefer": "respond-async"},
    )
    assert kick.status_code == 202, kick.text
    status_url = kick.headers["content-location"]
    for _ in range(600):
        polled = httpx.get(status_url, headers=reader)
        if polled.status_code != 202:
            break
        time.sleep(0.1)
    assert polled.status_code == 200, polled.text
    manifest = polled.json()
    assert manifest["requiresAccessToken"] is True
    [output] = manifest["output"]
    file = httpx.get(output["url"], headers={**reader, "Accept": "application/fhir+ndjson"})
    assert file.status_code == 200 and file.headers["content-type"] == "application/fhir+ndjson"
    [line] = file.text.splitlines()
    assert jsontext.loads(line)["id"] == "eksport-1"
    assert httpx.get(output["url"]).status_code == 401  # the files need the token too
    assert httpx.delete(status_url, headers=reader).status_code == 202
