"""web/request_id.py over the real app: the X-Request-ID header echoed, made when missing, a bad
one replaced; the request's JSON log line carries it, and never the query string."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from starlette.concurrency import run_in_threadpool
from starlette.testclient import TestClient

from lifeline import telemetry
from lifeline.config import Settings
from lifeline.fhir.service import FhirService

HEADER = "X-Request-ID"


@pytest.fixture
def log_file(tmp_path: Path) -> Iterator[Path]:
    path = telemetry.configure_logging(Settings(log_dir=str(tmp_path), node_id="tests"))
    assert path is not None
    yield path
    telemetry.stop_logging()


def request_lines(path: Path) -> list[dict[str, object]]:
    lines = [orjson.loads(line) for line in path.read_bytes().splitlines()]
    return [line for line in lines if line["logger"] == "lifeline.request"]


def test_a_sane_id_is_echoed(client: TestClient) -> None:
    for path in ("/fhir/metadata", "/status.json", "/login", "/no-such-page"):
        answer = client.get(path, headers={HEADER: "ward-7.round:42"})
        assert answer.headers[HEADER] == "ward-7.round:42", path
        assert answer.headers.get_list(HEADER) == ["ward-7.round:42"]


def test_an_id_is_made_when_missing(client: TestClient) -> None:
    first = client.get("/fhir/metadata").headers[HEADER]
    second = client.get("/fhir/metadata").headers[HEADER]
    assert first != second
    assert all(len(each) == 32 and int(each, 16) >= 0 for each in (first, second))


@pytest.mark.parametrize("bad", ["x" * 129, "two words", "semi;colon", "<script>"])
def test_a_bad_id_is_replaced(client: TestClient, bad: str) -> None:
    made = client.get("/fhir/metadata", headers={HEADER: bad}).headers[HEADER]
    assert made != bad and telemetry.sane_request_id(made) == made


def test_an_id_is_made_for_a_refused_host_too(client: TestClient) -> None:
    answer = client.get("/status.json", headers={"host": "evil.example.com"})
    assert answer.status_code == 400
    assert telemetry.sane_request_id(answer.headers[HEADER]) is not None


def test_the_log_line_carries_the_id_and_no_query_string(client: TestClient, log_file: Path) -> None:
    answer = client.get(
        "/fhir/Patient", params={"name": "Secretsen", "birthdate": "1970-01-01"}, headers={HEADER: "q-1"}
    )
    assert answer.status_code == 200
    client.get("/no-such-page?cpr=0101701234")
    unauthorised = client.get("/fhir/Patient/x", headers={"authorization": "Bearer nonsense", HEADER: "q-2"})
    assert unauthorised.status_code == 401
    lines = request_lines(log_file)
    assert len(lines) == 3
    search, missing, refused = lines
    assert search["request_id"] == "q-1" and search["method"] == "GET" and search["path"] == "/fhir/Patient"
    assert search["status"] == 200 and search["route_class"] == "fhir" and search["node"] == service_node(client)
    assert isinstance(search["duration_ms"], float)
    assert missing["path"] == "/no-such-page" and missing["route_class"] == "other" and missing["status"] == 404
    assert refused["request_id"] == "q-2" and refused["status"] == 401
    text = log_file.read_text("utf-8")
    assert "Secretsen" not in text and "1970-01-01" not in text and "0101701234" not in text and "?" not in text


def service_node(client: TestClient) -> str:
    return str(client.get("/status.json").json()["node"])


def test_starlettes_threadpool_and_the_cores_threads_see_the_id(service: FhirService) -> None:
    # Login pages run in run_in_threadpool (web/login.py), the core in its executor with a copy of
    # the context (fhir/acting.py): a line logged there carries the request's id.
    async def main() -> tuple[str | None, str | None]:
        with telemetry.correlated("thread-1"):
            in_pool = await run_in_threadpool(lambda: (threading.current_thread().name, telemetry.current_request_id()))
            assert in_pool[0] != threading.current_thread().name
            return in_pool[1], telemetry.current_request_id()

    assert asyncio.run(main()) == ("thread-1", "thread-1")
