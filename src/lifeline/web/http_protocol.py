"""uvicorn's HTTP protocol (httptools), sending each response in one write.

uvicorn writes a response's status line and headers, then its body, each with its own
`transport.write`, and each becomes a `send()` system call and a TCP segment of its own. Under
16 clients reading, the two calls took 17% of a worker's interpreter time, and joined 13%; reads
without the audit trail went about 10% faster (docs/benchmarks.md). Here the connection's
transport is wrapped so that everything written in one turn of the event loop leaves together
at the end of that turn: a response head and a body sent in the same step (as Starlette sends
them) go in one call. Large writes are not held (flow control stays the real transport's), and
nothing is held across a close.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle

from lifeline import telemetry
from lifeline.web import status_cache

HOLD_AT_MOST = 64 * 1024  # bytes; a write that would make the held data larger goes at once


class OneWriteProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol on a transport that joins the writes of one loop turn, which
    answers a GET of the public status page from the kept bytes when it can (web/status_cache.py):
    everyone refreshes it in an outage, and an answer that never becomes an ASGI task costs the
    clinicians' requests beside it the least."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.transport = JoiningTransport(transport, self.loop)  # type: ignore[assignment]

    def _start_asgi_task(self, cycle: RequestResponseCycle, app: Any) -> None:
        quick = status_cache.QUICK
        if quick is not None and cycle.scope.get("path") == status_cache.PATH:
            kept = quick.answer(cycle.scope)  # type: ignore[arg-type]
            if kept is not None:
                self._answer_kept(cycle, kept)
                return
        super()._start_asgi_task(cycle, app)

    def _answer_kept(self, cycle: RequestResponseCycle, kept: status_cache.Kept) -> None:
        """The kept answer, with this moment's Date and Server headers and a request id of its
        own, as the ASGI path would send it; then on to the next request as uvicorn does."""
        request_id = telemetry.new_request_id().encode()
        parts = [kept.head]
        parts += [name + b": " + value + b"\r\n" for name, value in self.server_state.default_headers]
        parts.append(b"x-request-id: " + request_id + b"\r\n")
        if not cycle.keep_alive:
            parts.append(b"connection: close\r\n")
        parts.append(b"\r\n")
        if cycle.scope["method"] == "GET":
            parts.append(kept.body)
        self.transport.write(b"".join(parts))
        cycle.response_started = cycle.response_complete = True
        telemetry.count_request("status", 200, 0.0)
        if not cycle.keep_alive:
            self.transport.close()
            return
        self.on_response_complete()


class JoiningTransport:
    """A transport whose writes of one event-loop turn reach the socket as one write."""

    __slots__ = ("_transport", "_loop", "_held", "_size", "_scheduled")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._held: list[bytes] = []
        self._size = 0
        self._scheduled = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not data:
            return
        if self._size + len(data) > HOLD_AT_MOST:
            self.flush()
            self._transport.write(data)
            return
        self._held.append(bytes(data))
        self._size += len(data)
        if not self._scheduled:
            self._scheduled = True
            self._loop.call_soon(self.flush)

    def writelines(self, chunks: Iterable[bytes | bytearray | memoryview]) -> None:
        for chunk in chunks:
            self.write(chunk)

    def flush(self) -> None:
        """Send what is held (at the end of the turn, or before anything that must follow it)."""
        self._scheduled = False
        if not self._held:
            return
        held, self._held, self._size = self._held, [], 0
        if not self._transport.is_closing():
            self._transport.write(held[0] if len(held) == 1 else b"".join(held))

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def write_eof(self) -> None:
        self.flush()
        self._transport.write_eof()

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self.flush()  # a protocol taking over (a WebSocket upgrade) writes to the real transport
        self._transport.set_protocol(protocol)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)
