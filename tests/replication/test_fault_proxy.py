"""The fault proxy itself: the replication fault-injection tests are only as good as the faults they
inject, so each fault's semantics is checked here against a real echo server and a real HTTP server.

No timing assertions (the machine is slow and shared): only what each fault means to a client,
a connection error rather than a timeout, a timeout rather than an answer, correct bytes."""

from __future__ import annotations

import errno
import socket
import socketserver
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from tests.replication.fault_proxy import FaultProxy, FaultProxyStats

# Every socket wait in these tests is bounded by this (a hang fails, it does not stall the suite).
SOCKET_TIMEOUT = 5.0
# What a request through a cut network may fail with: a connection error, never a timeout.
CONNECTION_ERRORS = (httpx.ConnectError, httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError)


# -- servers behind the proxy ----------------------------------------------------------------


class _EchoHandler(socketserver.BaseRequestHandler):
    """Sends back whatever it receives, until end of stream, an error or the socket timeout."""

    def handle(self) -> None:
        self.request.settimeout(SOCKET_TIMEOUT)
        for _ in range(100_000):  # bounded: far more reads than any test sends
            try:
                data = self.request.recv(65536)
                if not data:
                    return
                self.request.sendall(data)
            except OSError:
                return


class _EchoServer(socketserver.ThreadingTCPServer):
    # Handler threads are joined by server_close(), so no socket outlives the test.
    daemon_threads = False
    block_on_close = True
    allow_reuse_address = True


class _HTTPHandler(BaseHTTPRequestHandler):
    """Answers every GET with "hello <path>", recording the request first (so a test can tell the
    server got a request even when the answer never reaches the client)."""

    timeout = SOCKET_TIMEOUT

    def do_GET(self) -> None:  # noqa: N802 - the name http.server dispatches to
        server = self.server
        assert isinstance(server, _RecordingHTTPServer)
        server.record(self.path)
        body = f"hello {self.path}".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the test output is for failures."""


class _RecordingHTTPServer(ThreadingHTTPServer):
    daemon_threads = False
    block_on_close = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _HTTPHandler)
        self.paths: list[str] = []
        self.got_request = threading.Event()
        self._paths_lock = threading.Lock()

    @property
    def port(self) -> int:
        return self.server_address[1]

    def record(self, path: str) -> None:
        with self._paths_lock:
            self.paths.append(path)
        self.got_request.set()

    def received(self) -> list[str]:
        with self._paths_lock:
            return list(self.paths)


def _serve_in_thread(server: socketserver.BaseServer) -> Iterator[None]:
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()
        thread.join(SOCKET_TIMEOUT)
        assert not thread.is_alive()


@pytest.fixture
def echo_port() -> Iterator[int]:
    server = _EchoServer(("127.0.0.1", 0), _EchoHandler)
    for _ in _serve_in_thread(server):
        yield server.server_address[1]


@pytest.fixture
def http_server() -> Iterator[_RecordingHTTPServer]:
    server = _RecordingHTTPServer()
    for _ in _serve_in_thread(server):
        yield server


# The proxies are torn down before the servers behind them (fixture order), so every connection
# the proxy holds to a server is closed before the server joins its handler threads.


@pytest.fixture
def echo_proxy(echo_port: int) -> Iterator[FaultProxy]:
    with FaultProxy("127.0.0.1", echo_port) as proxy:
        yield proxy


@pytest.fixture
def http_proxy(http_server: _RecordingHTTPServer) -> Iterator[FaultProxy]:
    with FaultProxy("127.0.0.1", http_server.port) as proxy:
        yield proxy


# -- clients -----------------------------------------------------------------------------------


def _client(proxy: FaultProxy, timeout: float = SOCKET_TIMEOUT) -> httpx.Client:
    # trust_env=False: an HTTP(S)_PROXY in the environment must not route around the fault proxy.
    return httpx.Client(base_url=proxy.url, timeout=timeout, trust_env=False)


def _connect(proxy: FaultProxy) -> socket.socket:
    return socket.create_connection(("127.0.0.1", proxy.port), timeout=SOCKET_TIMEOUT)


def _echo(proxy: FaultProxy, payload: bytes) -> bytes:
    """Send payload through the proxy to the echo server on a new connection, half-close, and
    return everything that comes back. A reset raises ConnectionError."""
    with _connect(proxy) as sock:
        sock.sendall(payload)
        try:
            sock.shutdown(socket.SHUT_WR)
        except OSError as error:
            if error.errno == errno.ENOTCONN:  # the connection was reset under us
                raise ConnectionResetError(errno.ECONNRESET, "reset before shutdown") from error
            raise
        chunks: list[bytes] = []
        for _ in range(len(payload) + 1):  # each recv returns at least one byte, or the end
            data = sock.recv(65536)
            if not data:
                break
            chunks.append(data)
        return b"".join(chunks)


def _recv_exactly(sock: socket.socket, size: int) -> bytes:
    chunks: list[bytes] = []
    received = 0
    for _ in range(size):
        if received >= size:
            break
        data = sock.recv(size - received)
        if not data:
            break
        chunks.append(data)
        received += len(data)
    return b"".join(chunks)


def _eventually(check: Callable[[FaultProxyStats], bool], proxy: FaultProxy) -> FaultProxyStats:
    """The stats as soon as `check` holds: the proxy counts on its own thread, a moment after the
    client may already have seen the bytes. Bounded; returns the last stats either way, so the
    caller's assertion shows them."""
    stats = proxy.stats
    for _ in range(100):
        if check(stats):
            break
        time.sleep(0.05)
        stats = proxy.stats
    return stats


def _payload(size: int) -> bytes:
    """Not a repeated byte, so reordered, duplicated or lost pieces would show."""
    return bytes(i * 7 % 251 for i in range(size))


# -- normal forwarding ----------------------------------------------------------------------------


def test_echo_roundtrip_and_stats(echo_proxy: FaultProxy) -> None:
    payload = _payload(10_000)
    assert _echo(echo_proxy, payload) == payload
    assert _echo(echo_proxy, b"again") == b"again"

    stats = _eventually(lambda s: s.bytes_to_client == len(payload) + 5, echo_proxy)
    assert stats.connections_accepted == 2
    assert stats.bytes_to_target == len(payload) + 5
    assert stats.bytes_to_client == len(payload) + 5
    assert stats.connections_reset == 0
    assert stats.bytes_dropped == 0


def test_http_get_is_forwarded(http_proxy: FaultProxy, http_server: _RecordingHTTPServer) -> None:
    assert http_proxy.url == f"http://127.0.0.1:{http_proxy.port}"
    with _client(http_proxy) as client:
        response = client.get("/ping")
    assert response.status_code == 200
    assert response.text == "hello /ping"
    assert http_server.received() == ["/ping"]
    assert http_proxy.stats.connections_accepted == 1


# -- cut -------------------------------------------------------------------------------------------


def test_cut_fails_fast_with_a_connection_error_and_heal_restores(
    http_proxy: FaultProxy, http_server: _RecordingHTTPServer
) -> None:
    with _client(http_proxy) as client:
        assert client.get("/before").status_code == 200

        http_proxy.cut()
        # A connection error, not the client's 5 s timeout: a cut network fails fast.
        with pytest.raises(CONNECTION_ERRORS):
            client.get("/during")
        assert http_proxy.stats.connections_reset >= 1

        http_proxy.heal()
        response = client.get("/after")
    assert response.text == "hello /after"
    assert http_server.received() == ["/before", "/after"]


def test_cut_resets_open_connections(echo_proxy: FaultProxy) -> None:
    with _connect(echo_proxy) as sock:
        sock.sendall(b"ping")
        assert _recv_exactly(sock, 4) == b"ping"

        echo_proxy.cut()
        # cut() returns once open connections are reset: the client sees a reset, not silence.
        with pytest.raises(ConnectionError):
            sock.recv(1024)
    assert echo_proxy.stats.connections_reset == 1


def test_blackhole_times_out_and_heal_restores(http_proxy: FaultProxy, http_server: _RecordingHTTPServer) -> None:
    http_proxy.cut(mode="blackhole")
    with _client(http_proxy, timeout=0.5) as client:
        with pytest.raises(httpx.TimeoutException):
            client.get("/lost")
    assert http_server.received() == []

    http_proxy.heal()
    with _client(http_proxy) as client:
        assert client.get("/found").text == "hello /found"
    assert http_proxy.stats.connections_reset == 0


def test_blackhole_holds_bytes_of_open_connections_until_heal(echo_proxy: FaultProxy) -> None:
    with _connect(echo_proxy) as sock:
        sock.sendall(b"one")
        assert _recv_exactly(sock, 3) == b"one"

        echo_proxy.cut(mode="blackhole")
        sock.sendall(b"two")
        sock.settimeout(0.5)
        with pytest.raises(TimeoutError):
            sock.recv(1024)

        # Held, not lost (as TCP would retransmit them across an outage).
        echo_proxy.heal()
        sock.settimeout(SOCKET_TIMEOUT)
        assert _recv_exactly(sock, 3) == b"two"


# -- one way ---------------------------------------------------------------------------------------


def test_cut_to_client_times_out_although_the_server_got_the_request(
    http_proxy: FaultProxy, http_server: _RecordingHTTPServer
) -> None:
    http_proxy.cut_one_way("to_client")
    with _client(http_proxy, timeout=1.0) as client:
        with pytest.raises(httpx.TimeoutException):
            client.get("/unanswered")
    assert http_server.got_request.wait(SOCKET_TIMEOUT)
    assert http_server.received() == ["/unanswered"]
    assert _eventually(lambda s: s.bytes_dropped > 0, http_proxy).bytes_dropped > 0

    http_proxy.heal()
    with _client(http_proxy) as client:
        assert client.get("/answered").text == "hello /answered"


def test_cut_to_target_drops_the_request(echo_proxy: FaultProxy) -> None:
    echo_proxy.cut_one_way("to_target")
    with _connect(echo_proxy) as sock:
        sock.sendall(b"dropped")
        sock.settimeout(0.5)
        with pytest.raises(TimeoutError):
            sock.recv(1024)
    stats = _eventually(lambda s: s.bytes_dropped == 7, echo_proxy)
    assert stats.bytes_dropped == 7
    assert stats.bytes_to_target == 0

    echo_proxy.heal()
    assert _echo(echo_proxy, b"delivered") == b"delivered"


# -- slow and lossy --------------------------------------------------------------------------------


def test_slow_still_delivers_correct_bytes(echo_proxy: FaultProxy, http_server: _RecordingHTTPServer) -> None:
    echo_proxy.slow(0.2)
    payload = _payload(50_000)
    assert _echo(echo_proxy, payload) == payload

    echo_proxy.slow(0.0, bandwidth_bytes_per_second=500_000)
    payload = _payload(20_000)
    assert _echo(echo_proxy, payload) == payload

    with FaultProxy("127.0.0.1", http_server.port) as http_proxy:
        http_proxy.slow(0.2)
        with _client(http_proxy) as client:
            assert client.get("/slow").text == "hello /slow"


def test_lossy_delivers_correct_bytes_or_a_connection_error(echo_port: int) -> None:
    payload = _payload(100_000)
    with FaultProxy("127.0.0.1", echo_port) as proxy:
        proxy.lossy(0.5, seed=1)
        outcomes: list[str] = []
        for _ in range(3):
            try:
                echoed = _echo(proxy, payload)
            except ConnectionError:
                outcomes.append("reset")
                continue
            # Never corrupted, truncated or reordered.
            assert echoed == payload
            outcomes.append("delivered")
        assert proxy.stats.connections_reset == outcomes.count("reset")

        proxy.heal()
        assert _echo(proxy, payload) == payload


# -- the proxy itself ------------------------------------------------------------------------------


def test_only_loopback_and_known_faults() -> None:
    with pytest.raises(ValueError):
        FaultProxy("10.0.0.1", 80)
    with pytest.raises(ValueError):
        FaultProxy("127.0.0.1", 80, listen_host="0.0.0.0")
    with pytest.raises(ValueError):
        FaultProxy("example.org", 80)
    proxy = FaultProxy("127.0.0.1", 80)
    with pytest.raises(ValueError):
        proxy.cut_one_way("sideways")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        proxy.cut(mode="unplug")  # type: ignore[arg-type]


def test_stop_is_idempotent_and_resets_open_connections(echo_port: int) -> None:
    proxy = FaultProxy("127.0.0.1", echo_port).start()
    try:
        sock = _connect(proxy)
        sock.sendall(b"up")
        assert _recv_exactly(sock, 2) == b"up"
    finally:
        proxy.stop()
    with sock, pytest.raises(ConnectionError):
        sock.recv(1024)
    proxy.stop()
    assert proxy.stats.connections_accepted == 1
    assert proxy.stats.connections_reset == 0  # a stop is not a fault


def test_unreachable_target_resets_the_client() -> None:
    # A port nothing listens on: bind one, then close it.
    with socket.socket() as placeholder:
        placeholder.bind(("127.0.0.1", 0))
        port = placeholder.getsockname()[1]
    with FaultProxy("127.0.0.1", port) as proxy, _client(proxy) as client:
        with pytest.raises(CONNECTION_ERRORS):
            client.get("/")
        assert _eventually(lambda s: s.target_connect_failures == 1, proxy).target_connect_failures == 1
