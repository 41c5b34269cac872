"""lifeline.web.http_protocol: a response leaves in one write, and joining writes changes nothing
a client can see — keep-alive, pipelining, HEAD, closing, and bodies larger than what is held."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn

from lifeline.web.http_protocol import HOLD_AT_MOST, JoiningTransport, OneWriteProtocol
from tests.replication.nodes import free_port


class Counting:
    """A real transport, with the calls to its `write` counted."""

    def __init__(self, transport: asyncio.Transport) -> None:
        self.transport, self.writes = transport, 0

    def write(self, data: bytes) -> None:
        self.writes += 1
        self.transport.write(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.transport, name)


async def _pair() -> tuple[Counting, JoiningTransport, socket.socket]:
    """A real transport on one end of a socket pair (its writes counted), the joining transport
    over it, and the other end."""
    loop = asyncio.get_running_loop()
    ours, theirs = socket.socketpair()
    transport, _ = await loop.connect_accepted_socket(asyncio.Protocol, ours)
    theirs.settimeout(5)
    real = Counting(transport)
    return real, JoiningTransport(real, loop), theirs  # type: ignore[arg-type]


def _receive(peer: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = peer.recv(size - len(data))
        assert chunk, "the connection ended early"
        data += chunk
    return data


def test_the_writes_of_one_turn_reach_the_socket_as_one() -> None:
    async def scenario() -> None:
        real, joined, peer = await _pair()
        joined.write(b"HTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\n")
        joined.write(b"")
        joined.write(b"body")
        assert real.writes == 0  # held until the end of the turn
        await asyncio.sleep(0)
        assert real.writes == 1
        assert _receive(peer, 42) == b"HTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\nbody"
        joined.write(b"next")  # a later turn: its own write
        joined.writelines([b" and", b" more"])  # joined too, not past what is held
        await asyncio.sleep(0)
        assert real.writes == 2 and _receive(peer, 13) == b"next and more"
        joined.close()
        peer.close()

    asyncio.run(scenario())


def test_a_large_write_is_not_held_and_keeps_its_place() -> None:
    async def scenario() -> None:
        real, joined, peer = await _pair()
        big = bytes(range(256)) * (HOLD_AT_MOST // 256 + 1)
        joined.write(b"head")
        joined.write(big)
        assert real.writes == 2  # what was held, then the large write, at once
        received = await asyncio.to_thread(_receive, peer, 4 + len(big))
        assert received == b"head" + big
        joined.close()
        peer.close()

    asyncio.run(scenario())


def test_close_sends_what_is_held_first() -> None:
    async def scenario() -> None:
        real, joined, peer = await _pair()
        joined.write(b"last words")
        joined.close()
        assert joined.is_closing()  # asked of the real transport
        await asyncio.sleep(0.05)
        assert _receive(peer, 10) == b"last words"
        assert peer.recv(1) == b""  # then the end of the stream
        peer.close()

    asyncio.run(scenario())


def test_writes_to_a_connection_the_peer_closed_are_dropped() -> None:
    async def scenario() -> None:
        real, joined, peer = await _pair()
        peer.close()
        real.close()
        joined.write(b"nobody listens")
        await asyncio.sleep(0)
        assert real.writes == 0

    asyncio.run(scenario())


async def _app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """An ASGI app answering `/big` with a body over the held limit, in three parts, anything
    else with its path."""
    if scope["type"] != "http":
        return
    if scope["path"] == "/big":
        part = b"x" * HOLD_AT_MOST
        await send(
            {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"%d" % (3 * len(part)))]}
        )
        for last in (False, False, True):
            await send({"type": "http.response.body", "body": part, "more_body": not last})
        return
    body = scope["path"].encode()
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"%d" % len(body))]})
    await send({"type": "http.response.body", "body": body})


@pytest.fixture
def port() -> Iterator[int]:
    port = free_port()
    config = uvicorn.Config(
        _app, host="127.0.0.1", port=port, http=OneWriteProtocol, log_level="warning", lifespan="off"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(500):  # up to 5 s to start
        if server.started:
            break
        threading.Event().wait(0.01)
    assert server.started
    yield port
    server.should_exit = True
    thread.join(10)


def _read_head(stream: Any) -> tuple[bytes, dict[bytes, bytes]]:
    status = stream.readline().rstrip()
    headers = {}
    while (line := stream.readline().rstrip()) != b"":
        name, value = line.split(b": ", 1)
        headers[name.lower()] = value
    return status, headers


def _read_response(stream: Any) -> tuple[bytes, dict[bytes, bytes], bytes]:
    status, headers = _read_head(stream)
    length = int(headers.get(b"content-length", b"0"))
    return status, headers, stream.read(length) if length else b""


def test_a_served_connection_answers_pipelined_head_and_closing_requests(port: int) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        stream = sock.makefile("rb")
        sock.sendall(b"GET /one HTTP/1.1\r\nHost: x\r\n\r\nGET /two HTTP/1.1\r\nHost: x\r\n\r\n")
        assert _read_response(stream)[::2] == (b"HTTP/1.1 200 OK", b"/one")
        assert _read_response(stream)[::2] == (b"HTTP/1.1 200 OK", b"/two")
        sock.sendall(b"HEAD /three HTTP/1.1\r\nHost: x\r\n\r\n")
        status, headers = _read_head(stream)  # a HEAD answer has no body to read
        assert status == b"HTTP/1.1 200 OK" and headers[b"content-length"] == b"6"
        sock.sendall(b"GET /big HTTP/1.1\r\nHost: x\r\n\r\n")
        _, headers, body = _read_response(stream)
        assert body == b"x" * (3 * HOLD_AT_MOST)
        sock.sendall(b"GET /last HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        status, headers, body = _read_response(stream)
        assert (status, body, headers[b"connection"]) == (b"HTTP/1.1 200 OK", b"/last", b"close")
        assert stream.read() == b""  # and the server closed the connection
