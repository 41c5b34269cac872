"""The Host check (web/hosts.py): links never point at a host the request made up, because a
request naming a host this node does not answer for is refused before anything else runs."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from starlette.responses import PlainTextResponse
from starlette.testclient import TestClient

from lifeline.config import SettingError, Settings, allowed_hosts_of, from_environment
from lifeline.web.hosts import host_checked
from tests.conftest import assert_outcome, new_patient

FHIR = {"Content-Type": "application/fhir+json"}
EVIL = {"Host": "evil.example.com"}


def test_a_made_up_host_gets_no_links_and_writes_nothing(client: TestClient) -> None:
    patient = new_patient()
    refused = client.post("/fhir/Patient", json=patient, headers=FHIR | EVIL)
    assert_outcome(refused, 400, "invalid", "Host")
    assert "location" not in refused.headers and "evil" not in refused.text
    family = patient["name"][0]["family"]
    assert_outcome(client.get(f"/fhir/Patient?family={family}&_count=1", headers=EVIL), 400)
    found = client.get(f"/fhir/Patient?family={family}")
    assert found.json()["total"] == 0  # the refused create wrote nothing
    assert client.get("/login", headers=EVIL).status_code == 400
    assert client.get("/login", headers=EVIL).headers["content-type"].startswith("text/plain")


def test_the_configured_hosts_get_links_on_themselves(client: TestClient) -> None:
    for host in ("testserver", "localhost:8080", "127.0.0.1:9", "[::1]:8080", "TestServer"):
        created = client.post("/fhir/Patient", json=new_patient(), headers=FHIR | {"Host": host})
        assert created.status_code == 201, (host, created.text)
        assert created.headers["location"].startswith(f"http://{host}/fhir/Patient/")


def _echo(settings: Settings) -> TestClient:
    async def inner(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await PlainTextResponse("answered")(scope, receive, send)

    return TestClient(host_checked(inner, settings, "/fhir"))


@pytest.mark.parametrize(
    ("settings", "host", "answered"),
    [
        (Settings(base_url="https://lifeline.region.example/fhir"), "lifeline.region.example", True),
        (Settings(base_url="https://lifeline.region.example/fhir"), "testserver", False),
        (Settings(issuer="https://herlev.region.example"), "herlev.region.example:443", True),
        (Settings(host="10.0.0.5"), "10.0.0.5:8080", True),
        (Settings(host="0.0.0.0"), "0.0.0.0:8080", False),  # listening everywhere names no host
        (Settings(), "evil.example.com", False),
        (Settings(), "localhost", True),
        (Settings(), "evil.example.com@localhost", False),  # user info is no host
        (Settings(), "localhost:80 evil", False),
        (Settings(allowed_hosts="lifeline.example:8443, api.example"), "lifeline.example:8443", True),
        (Settings(allowed_hosts="lifeline.example:8443, api.example"), "lifeline.example:80", False),
        (Settings(allowed_hosts="lifeline.example:8443, api.example"), "API.example:1", True),
        (Settings(allowed_hosts="lifeline.example:8443, api.example"), "localhost", False),  # the list replaces
        (Settings(allowed_hosts="*"), "anything.example", True),
    ],
)
def test_which_hosts_are_answered(settings: Settings, host: str, answered: bool) -> None:
    for path in ("/fhir/metadata", "/login"):
        answer = _echo(settings).get(path, headers={"Host": host})
        assert answer.status_code == (200 if answered else 400), (host, path)
        if not answered and path.startswith("/fhir"):
            assert_outcome(answer, 400, "invalid")


def test_two_host_headers_are_refused() -> None:
    answer = _echo(Settings()).get("/", headers=[("Host", "localhost"), ("Host", "evil.example.com")])
    assert answer.status_code == 400


def test_a_malformed_allowed_hosts_setting_is_named() -> None:
    with pytest.raises(SettingError, match="LIFELINE_ALLOWED_HOSTS: 'http://x.example/' is not a host name"):
        from_environment({"LIFELINE_ALLOWED_HOSTS": f"ok.example, http://x.example/, {uuid.uuid4().hex}"})
    assert allowed_hosts_of(Settings(issuer="http://testserver")) == {
        ("testserver", None),
        ("localhost", None),
        ("127.0.0.1", None),
        ("[::1]", None),
    }
