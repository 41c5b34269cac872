"""GET /fhir/metadata answered from what was made once (issue 28, "public answers cached"), by a
real central node and a real site node over loopback: the same statement the builder makes, an
ETag and 304, gzip, `_summary=true`, made once for many requests, with no cookie and no audit."""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from lifeline import jsontext
from lifeline.audit.store import events_after
from lifeline.fhir.interactions import capabilities
from lifeline.fhir.service import FhirService
from lifeline.search.results.summary import SUBSETTED
from tests.replication.nodes import CentralNode, SiteNode
from tests.web.browser import listening_socket, serving

PLAIN = {"Accept-Encoding": "identity"}


@dataclass
class Node:
    url: str  # http://host:port, as the node is asked
    service: FhirService
    token: str

    @property
    def metadata(self) -> str:
        return f"{self.url}/fhir/metadata"


@pytest.fixture(scope="module")
def nodes(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[Node]]:
    """A central node and a site node (its replication running), each a real server."""
    folder = tmp_path_factory.mktemp(f"metadata-{backend}")
    central = CentralNode(backend, folder / "central")
    central.start()
    try:
        with closing(listening_socket()) as sock:
            base = f"http://localhost:{sock.getsockname()[1]}"
            site = SiteNode(central, "herlev", backend, folder / "herlev", client=False, issuer=base)
            try:
                with serving(site.app, sock) as served:
                    yield [
                        Node(central.url, central.service, central.token()),
                        Node(served, site.service, site.token()),
                    ]
            finally:
                site.close()
    finally:
        central.close()


def _raw(url: str, headers: dict[str, str]) -> tuple[httpx.Response, bytes]:
    """The answer and its body as sent (not decoded)."""
    with httpx.Client(timeout=30) as client, client.stream("GET", url, headers=headers) as response:
        return response, b"".join(response.iter_raw())


def test_the_statement_is_the_one_the_builder_makes(nodes: list[Node]) -> None:
    for node in nodes:
        answer = httpx.get(node.metadata, headers=PLAIN)
        assert answer.status_code == 200 and "content-encoding" not in answer.headers
        date = answer.json()["date"]
        expected = jsontext.dumps(capabilities.statement(node.service, f"{node.url}/fhir", date))
        assert answer.content == expected
        assert httpx.get(node.metadata, headers=PLAIN).content == expected  # and the same next time
        same = httpx.get(f"{node.metadata}?_format=json&mode=full", headers=PLAIN)
        assert same.status_code == 200 and same.content == expected


def test_an_etag_and_304_and_only_metadata_is_public(nodes: list[Node]) -> None:
    for node in nodes:
        answer = httpx.get(node.metadata, headers=PLAIN)
        etag = answer.headers["etag"]
        assert etag.startswith('"') and not etag.startswith("W/")
        assert answer.headers["cache-control"] == "public, max-age=300"
        assert answer.headers["vary"] == "Accept-Encoding"
        for asked in (etag, f"W/{etag}", f'"other", {etag}', "*"):
            unchanged = httpx.get(node.metadata, headers={**PLAIN, "If-None-Match": asked})
            assert unchanged.status_code == 304 and unchanged.content == b""
            assert unchanged.headers["etag"] == etag and unchanged.headers["cache-control"].startswith("public")
        assert httpx.get(node.metadata, headers={**PLAIN, "If-None-Match": '"other"'}).status_code == 200
        # Someone's data never says public.
        search = httpx.get(f"{node.url}/fhir/Patient?_count=1", headers={"Authorization": f"Bearer {node.token}"})
        assert search.status_code == 200 and "public" not in search.headers.get("cache-control", "")


def test_gzip_when_the_client_takes_it(nodes: list[Node]) -> None:
    for node in nodes:
        plain = httpx.get(node.metadata, headers=PLAIN)
        for accepted in ("gzip", "br, gzip;q=0.5", "*"):
            answer, sent = _raw(node.metadata, {"Accept-Encoding": accepted})
            assert answer.headers["content-encoding"] == "gzip", accepted
            assert int(answer.headers["content-length"]) == len(sent) < len(plain.content) / 5
            assert gzip.decompress(sent) == plain.content
            assert orjson.loads(gzip.decompress(sent)) == plain.json()
            assert answer.headers["etag"] == plain.headers["etag"]
        for refused in ("identity", "gzip;q=0", "br", ""):
            answer, sent = _raw(node.metadata, {"Accept-Encoding": refused})
            assert "content-encoding" not in answer.headers and sent == plain.content, refused


def test_summary_true_is_the_summary_of_r4(nodes: list[Node]) -> None:
    for node in nodes:
        whole = httpx.get(node.metadata, headers=PLAIN)
        answer = httpx.get(f"{node.metadata}?_summary=true", headers=PLAIN)
        assert answer.status_code == 200 and len(answer.content) < len(whole.content) / 5
        assert answer.headers["etag"] != whole.headers["etag"]
        summary = answer.json()
        node.service.validator.validate(summary, "CapabilityStatement")  # raises if it is not valid
        assert summary["resourceType"] == "CapabilityStatement" and SUBSETTED in summary["meta"]["tag"]
        rest = summary["rest"][0]
        assert rest["mode"] == "server" and "interaction" not in rest  # rest.interaction is not isSummary
        assert rest["security"]["service"][0]["coding"][0]["code"] == "SMART-on-FHIR"
        full_types = [r["type"] for r in whole.json()["rest"][0]["resource"]]
        assert [r["type"] for r in rest["resource"]] == full_types
        patient = next(r for r in rest["resource"] if r["type"] == "Patient")
        assert set(patient) == {"type", "profile", "operation"}
        assert {"name": "everything", "definition": "http://hl7.org/fhir/OperationDefinition/Patient-everything"} in (
            patient["operation"]
        )
        for asked in ("false", "data"):
            assert httpx.get(f"{node.metadata}?_summary={asked}", headers=PLAIN).content == whole.content
        text = httpx.get(f"{node.metadata}?_summary=text", headers=PLAIN).json()
        assert "rest" not in text and text["fhirVersion"] == "4.0.1"
        for bad in ("maybe", "count"):
            refused = httpx.get(f"{node.metadata}?_summary={bad}", headers=PLAIN)
            assert refused.status_code == 400 and refused.json()["resourceType"] == "OperationOutcome"


def test_made_once_for_many_requests_with_no_cookie_and_no_record(
    backend: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    made: list[tuple[str, str]] = []
    builder = capabilities.statement

    def counted(service: FhirService, base: str, date: str) -> dict[str, Any]:
        made.append((base, date))
        return builder(service, base, date)

    monkeypatch.setattr(capabilities, "statement", counted)
    central = CentralNode(backend, tmp_path / "central")
    central.start()
    try:
        node = Node(central.url, central.service, central.token())
        trail = events_after(central.repo, central.settings.node_id, 0, limit=1_000_000)
        bodies: set[bytes] = set()
        with httpx.Client(timeout=30) as client:
            for number in range(30):
                # Anonymous and with a token, gzip or not, whole and summary.
                headers = {"Authorization": f"Bearer {node.token}"} if number % 2 else {}
                answer = client.get(node.metadata, headers={**headers, **(PLAIN if number % 3 else {})})
                assert answer.status_code == 200 and "set-cookie" not in answer.headers
                bodies.add(answer.content)
                summary = client.get(f"{node.metadata}?_summary=true", headers=headers)
                assert summary.status_code == 200 and "set-cookie" not in summary.headers
                bodies.add(summary.content)
        assert len(bodies) == 2  # the same answer each time, in each form
        assert len(made) == 2 and {base for base, _ in made} == {f"{central.url}/fhir"}
        assert events_after(central.repo, central.settings.node_id, 0, limit=1_000_000) == trail
    finally:
        central.close()
