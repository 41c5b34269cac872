"""Slow clients and shutdown, against a real `lifeline serve` over loopback with raw sockets
(web/http_protocol.py, web/asgi.py `run`; issue 28): a head sent a byte at a time, a head too large,
a body trickling in and a connection that never speaks are ended; on SIGTERM the listening socket
closes, a request in flight finishes, and one that never will does not hold the process."""

from __future__ import annotations

import select
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import BACKENDS, database_url
from tests.web.real_server import Served, serving

READ_SECONDS = 2  # the servers' LIFELINE_REQUEST_READ_SECONDS: short, so the tests are
PACE = 0.5  # seconds between a slow client's bytes
MOST_BYTES = 60  # a slow client gives up after this many (30 s): never an endless loop


@pytest.fixture(scope="module", params=BACKENDS)
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    env = {"LIFELINE_REQUEST_READ_SECONDS": str(READ_SECONDS), "LIFELINE_MAX_HEADER_BYTES": "8192"}
    folder = tmp_path_factory.mktemp("slow")
    with serving(database_url(request.param, folder), folder, env=env) as served:
        yield served


def _connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def _answer(sock: socket.socket) -> bytes:
    """What the server sends until it closes the connection (bounded by the socket's timeout)."""
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def _trickle(sock: socket.socket, data: bytes) -> tuple[int, bytes] | None:
    """Send `data` a byte every PACE seconds until the server answers or closes: how many bytes
    went, and what came back; None if all of it went with no word from the server."""
    for sent, byte in enumerate(data[:MOST_BYTES]):
        try:
            sock.sendall(bytes([byte]))
        except (BrokenPipeError, ConnectionResetError):
            return sent, b""
        readable, _, _ = select.select([sock], [], [], PACE)
        if readable:
            try:
                return sent + 1, _answer(sock)
            except ConnectionResetError:
                return sent + 1, b""
    return None


def test_a_head_sent_a_byte_at_a_time_is_cut_off(server: Served) -> None:
    head = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: slowloris\r\nAccept: */*\r\n" + b"X: y\r\n" * 10
    with _connect(server.port) as sock:
        ended = _trickle(sock, head)
    assert ended is not None, "the server waited for the whole head"
    sent, answer = ended
    assert sent < len(head)
    assert answer.startswith(b"HTTP/1.1 408 ")
    assert b"connection: close" in answer.lower()


def test_a_body_sent_a_byte_at_a_time_is_cut_off(server: Served) -> None:
    body = b"username=" + b"a" * 200
    head = b"POST /login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\n"
    with _connect(server.port) as sock:
        sock.sendall(head + b"Content-Length: %d\r\n\r\n" % len(body))
        ended = _trickle(sock, body)
    assert ended is not None, "the server waited for the whole body"
    sent, answer = ended
    assert sent < len(body)
    assert answer == b"" or answer.startswith(b"HTTP/1.1 408 ")


def test_a_head_too_large_is_refused(server: Served) -> None:
    with _connect(server.port) as sock:
        try:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + b"a" * 100_000 + b"\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass  # refused before all of it went: what was answered is still there to read
        answer = _answer(sock)
    assert answer.startswith((b"HTTP/1.1 431 ", b"HTTP/1.1 400 "))


def test_a_connection_that_never_speaks_is_closed(server: Served) -> None:
    with _connect(server.port) as sock:
        readable, _, _ = select.select([sock], [], [], READ_SECONDS * 5)
        assert readable, "the server kept a silent connection open"
        assert _answer(sock) == b""  # closed without a word: a browser's spare connection, not an error


def test_an_ordinary_client_is_unaffected(server: Served) -> None:
    with _connect(server.port) as sock:
        for _ in range(2):  # kept alive between requests
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            head = b""
            while not head.endswith(b'{"status":"alive"}'):
                chunk = sock.recv(65536)
                assert chunk, "the connection ended early"
                head += chunk
            assert head.startswith(b"HTTP/1.1 200 ")


def test_the_probes_answer_whatever_host_they_name(server: Served) -> None:
    """A load balancer names the node by its address: the Host check does not stand in the way."""
    for path in ("/healthz", "/readyz"):
        answer = httpx.get(f"http://127.0.0.1:{server.port}{path}", headers={"Host": "10.9.8.7:8080"})
        assert answer.status_code == 200, answer.text
        assert answer.headers["cache-control"] == "no-store"


def test_sigterm_finishes_requests_in_flight_and_no_more(tmp_path: Path) -> None:
    """SQLite only: the database plays no part in how uvicorn ends."""
    env = {"LIFELINE_REQUEST_READ_SECONDS": "120", "LIFELINE_SHUTDOWN_SECONDS": "2"}
    with serving(database_url("sqlite", tmp_path), tmp_path, env=env) as node:
        _stop_while_one_request_is_in_flight(node)


def _stop_while_one_request_is_in_flight(node: Served) -> None:
    body = b"username=someone&password=wrong"
    head = b"POST /login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\n"
    head += b"Content-Length: %d\r\n\r\n" % len(body)
    with _connect(node.port) as finishing, _connect(node.port) as stalled:
        finishing.sendall(head + body[:5])
        stalled.sendall(head + body[:5])  # and no more, ever
        time.sleep(PACE)  # both requests have reached the app
        node.process.send_signal(signal.SIGTERM)
        for _ in range(100):  # the listening socket closes at once
            try:
                socket.create_connection(("127.0.0.1", node.port), timeout=1).close()
            except ConnectionRefusedError:
                break
            time.sleep(0.1)
        else:
            raise AssertionError("new connections were still accepted")
        finishing.sendall(body[5:])
        answer = _answer(finishing)
        assert answer.startswith(b"HTTP/1.1 403 "), answer  # the login page's answer: no form token
        assert b"connection: close" in answer.lower()
        # The stalled request does not keep the process: it ends after LIFELINE_SHUTDOWN_SECONDS.
        assert node.process.wait(timeout=30) is not None
