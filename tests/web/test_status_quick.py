"""The HTTP protocol repeats the kept status page before any ASGI work (web/http_protocol.py,
web/status_cache.py): the same answer as the full path, with its own Date and request id, for
pipelined, HEAD and closing requests; never for a Host the full path has not accepted, another
path, or a query; and afresh as soon as the snapshot changes."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn

from lifeline.fhir.service import FhirService
from lifeline.web import status_cache
from lifeline.web.app import create_app
from lifeline.web.http_protocol import OneWriteProtocol
from tests.replication.nodes import free_port
from tests.web.test_http_protocol import _read_head, _read_response
from tests.web.test_status_page import _incident, calm  # noqa: F401 - the fixture

ASKED: list[str] = []


@pytest.fixture
def served(calm: FhirService) -> Iterator[tuple[int, FhirService]]:  # noqa: F811
    inner = create_app(calm, close_on_shutdown=False)
    status_cache.serve_quickly()
    ASKED.clear()

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:  # counts what reaches the app
        if scope["type"] == "http":
            ASKED.append(scope["path"])
        await inner(scope, receive, send)

    port = free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, http=OneWriteProtocol, log_level="warning", lifespan="off"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(500):
        if server.started:
            break
        threading.Event().wait(0.01)
    assert server.started
    try:
        yield port, calm
    finally:
        status_cache.QUICK = None
        server.should_exit = True
        thread.join(10)


def _get(stream: Any, sock: socket.socket, path: str = "/status", host: str = "localhost", extra: str = "") -> Any:
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\n{extra}\r\n".encode())
    return _read_response(stream)


def test_the_protocol_repeats_the_kept_page(served: tuple[int, FhirService]) -> None:
    port, service = served
    quick = status_cache.QUICK
    assert quick is not None
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        stream = sock.makefile("rb")
        status, full_headers, full = _get(stream, sock)  # the full path, which keeps it
        assert status == b"HTTP/1.1 200 OK" and quick.kept and b"localhost" in quick.hosts
        # Pipelined: both repeated from the kept bytes, each with a request id of its own.
        sock.sendall(b"GET /status HTTP/1.1\r\nHost: localhost\r\n\r\n" * 2)
        one, two = _read_response(stream), _read_response(stream)
        assert ASKED == ["/status"]  # the two repeated never reached the app
        assert one[2] == two[2] == full and one[1][b"x-request-id"] != two[1][b"x-request-id"]
        same = {k: v for k, v in full_headers.items() if k not in (b"x-request-id", b"date")}
        assert {k: v for k, v in one[1].items() if k not in (b"x-request-id", b"date")} == same
        sock.sendall(b"HEAD /status HTTP/1.1\r\nHost: localhost\r\n\r\n")
        status, headers = _read_head(stream)
        assert status == b"HTTP/1.1 200 OK" and headers[b"content-length"] == str(len(full)).encode()
        # Not for another Host (the Host check answers it), nor a query.
        assert _get(stream, sock, host="evil.example")[0].startswith(b"HTTP/1.1 4")
        assert _get(stream, sock, "/status?x=1")[2] == full  # the full path: the same page
        opened = _incident(service)  # a new snapshot: made afresh, and kept again
        changed = _get(stream, sock)[2]
        assert f'id="incident-{opened.id}"'.encode() in changed
        assert _get(stream, sock)[2] == changed
        status, headers, body = _get(stream, sock, extra="Connection: close\r\n")
        assert headers[b"connection"] == b"close" and body == changed
        assert stream.read() == b""
