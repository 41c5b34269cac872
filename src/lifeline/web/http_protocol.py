"""uvicorn's HTTP protocol (httptools), sending each response in one write.

uvicorn writes a response's status line and headers, then its body, each with its own
`transport.write`, and each becomes a `send()` system call and a TCP segment of its own. Under
16 clients reading, the two calls took 17% of a worker's interpreter time, and joined 13%; reads
without the audit trail went about 10% faster (docs/benchmarks.md). Here the connection's
transport is wrapped so that everything written in one turn of the event loop leaves together
at the end of that turn: a response head and a body sent in the same step (as Starlette sends
them) go in one call. Large writes are not held (flow control stays the real transport's), and
nothing is held across a close.

It also ends slow clients (issue 28), which uvicorn's httptools protocol does not: a request's
head must arrive within `Limits.read_seconds` of its first byte (or of the connection's opening)
and be at most `Limits.head_bytes` long (431), and its body must keep coming at
`BODY_BYTES_PER_SECOND` at least, measured every `read_seconds` (408). Idle keep-alive
connections are uvicorn's own `timeout_keep_alive` (web/asgi.py `run`).

And it answers a request whose address, account or app was refused lately by a rate limit, until
that limit has room again, without an ASGI task (web/rate_limits.py `Refused`); behind trusted
reverse proxies, it first sets the request's client from their headers (web/client_address.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle

from lifeline import telemetry
from lifeline.web import rate_limits, status_cache
from lifeline.web.client_address import Proxies

HOLD_AT_MOST = 64 * 1024  # bytes; a write that would make the held data larger goes at once
# A body slower than this is a slow client, not a slow link: 16 MiB (the body limit) takes 17 minutes.
BODY_BYTES_PER_SECOND = 16 * 1024


@dataclass(frozen=True)
class Limits:
    """How long a request's head and each stretch of its body may take, and how large a head may be
    (LIFELINE_REQUEST_READ_SECONDS, LIFELINE_MAX_HEADER_BYTES)."""

    read_seconds: float = 15.0
    head_bytes: int = 32 * 1024


LIMITS = Limits()  # each worker sets this process's from its settings (web/asgi.py)
PROXIES: Proxies | None = None  # LIFELINE_TRUSTED_PROXIES, when set (web/client_address.py; web/asgi.py)


def _answer(status: bytes, text: bytes) -> bytes:
    """A plain-text answer that closes the connection, for a request the app never sees."""
    return (
        b"HTTP/1.1 " + status + b"\r\ncontent-type: text/plain; charset=utf-8\r\nconnection: close\r\n"
        b"content-length: " + str(len(text)).encode() + b"\r\n\r\n" + text
    )


class HeadTooLarge(Exception):
    """A head that arrived whole, in one read, and is over the limit."""


TOO_SLOW = _answer(b"408 Request Timeout", b"The request did not arrive in time")
HEAD_TOO_LARGE = _answer(b"431 Request Header Fields Too Large", b"The request line and headers are too large")


class OneWriteProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol on a transport that joins the writes of one loop turn, which
    answers a GET of the public status page from the kept bytes when it can (web/status_cache.py):
    everyone refreshes it in an outage, and an answer that never becomes an ASGI task costs the
    clinicians' requests beside it the least."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.transport = JoiningTransport(transport, self.loop)  # type: ignore[assignment]
        self._limits = LIMITS
        self._reading = "head"  # head (from the first byte, or the opening), body, or done (all arrived)
        self._head_size = 0  # bytes received while a head is being read: a head that never ends
        self._head_length = 0  # the request line's and headers' length, as parsed
        self._body_size = 0  # of the request being read, since its deadline was last armed
        self._read_deadline: asyncio.TimerHandle | None = None
        self._arm_read_deadline()

    # The read deadline: armed when a request starts, cancelled when all of it has arrived.

    def _arm_read_deadline(self) -> None:
        if self._read_deadline is not None:
            self._read_deadline.cancel()
        self._read_deadline = self.loop.call_later(self._limits.read_seconds, self._read_too_slow)

    def _cancel_read_deadline(self) -> None:
        if self._read_deadline is not None:
            self._read_deadline.cancel()
            self._read_deadline = None

    def _read_too_slow(self) -> None:
        self._read_deadline = None
        if self.transport.is_closing():
            return
        answered = False
        if self._reading == "body" and self.cycle is not None:
            fast_enough = self._body_size >= BODY_BYTES_PER_SECOND * self._limits.read_seconds
            # Paused, or a client waiting for its 100 Continue: the app is the slow one.
            if fast_enough or self.flow.read_paused or self.cycle.waiting_for_100_continue:
                self._body_size = 0
                self._arm_read_deadline()
                return
            answered = self.cycle.response_started
            self.cycle.disconnected = True  # the app's receive() now says so, and its answer goes nowhere
            self.cycle.message_event.set()
        if not answered and (self._reading == "body" or self._head_size):  # an idle new connection just closes
            self.transport.write(TOO_SLOW)
        self.transport.close()

    def data_received(self, data: bytes) -> None:
        if self._reading == "body":
            self._body_size += len(data)
        else:
            self._head_size += len(data)
        super().data_received(data)
        if self._reading == "head" and self._head_size > self._limits.head_bytes and not self.transport.is_closing():
            self._cancel_read_deadline()
            self.transport.write(HEAD_TOO_LARGE)
            self.transport.close()

    def send_400_response(self, msg: str) -> None:
        if self._head_length > self._limits.head_bytes:  # the parser stopped at on_headers_complete
            self.transport.write(HEAD_TOO_LARGE)
            self.transport.close()
            return
        super().send_400_response(msg)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._head_length = 0
        if self._reading == "done":  # the next request on a kept-alive connection
            self._reading = "head"
            self._arm_read_deadline()

    def on_url(self, url: bytes) -> None:
        self._head_length += len(url)
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._head_length += len(name) + len(value) + 4
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._reading, self._body_size = "body", 0
        if self._head_length > self._limits.head_bytes:
            self._cancel_read_deadline()
            raise HeadTooLarge  # the parser stops, and the request never reaches the app (send_400_response)
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._reading, self._head_size = "done", 0
        self._cancel_read_deadline()
        super().on_message_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_read_deadline()
        super().connection_lost(exc)

    def handle_websocket_upgrade(self) -> None:
        self._cancel_read_deadline()  # the connection is the WebSocket protocol's from now on
        super().handle_websocket_upgrade()

    def _start_asgi_task(self, cycle: RequestResponseCycle, app: Any) -> None:
        if PROXIES is not None:  # the client behind a trusted proxy, before anything reads the scope
            PROXIES.apply(cycle.scope)  # type: ignore[arg-type]
        quick = status_cache.QUICK
        if quick is not None and cycle.scope.get("path") == status_cache.PATH:
            kept = quick.answer(cycle.scope)  # type: ignore[arg-type]
            if kept is not None:
                self._answer_kept(cycle, kept)
                return
        refused = rate_limits.QUICK
        if refused is not None and refused.until:
            found = refused.refusal(cycle.scope)  # type: ignore[arg-type]
            if found is not None:
                self._answer_refused(cycle, refused, *found)
                return
        super()._start_asgi_task(cycle, app)

    def _answer_refused(self, cycle: RequestResponseCycle, refused: rate_limits.Refused, kind: str, retry: int) -> None:
        """A key refused lately (web/rate_limits.py `Refused`): its 429, held HOLD_SECONDS first
        (at most its Retry-After), unless too many are held already."""
        head, body = refused.answer(cycle.scope, kind, retry)  # type: ignore[arg-type]
        telemetry.RATE_LIMITED.labels(kind).inc()
        if refused.held >= rate_limits.HELD_AT_MOST:
            self._send_refused(cycle, head, body, None)
            return
        refused.held += 1
        self.loop.call_later(min(rate_limits.HOLD_SECONDS, retry), self._send_refused, cycle, head, body, refused)

    def _send_refused(
        self, cycle: RequestResponseCycle, head: bytes, body: bytes, held: rate_limits.Refused | None
    ) -> None:
        if held is not None:
            held.held -= 1
        if self.transport.is_closing() or cycle.disconnected:
            return
        # Kept alive only when held and the whole request has arrived: a refusal answered at once
        # closes, and a body still coming is not read.
        keep_alive = held is not None and cycle.keep_alive and not cycle.more_body
        parts = [head]
        parts += [name + b": " + value + b"\r\n" for name, value in self.server_state.default_headers]
        parts.append(b"x-request-id: " + telemetry.new_request_id().encode() + b"\r\n")
        if not keep_alive:
            parts.append(b"connection: close\r\n")
        parts.append(b"\r\n")
        if cycle.scope["method"] != "HEAD":
            parts.append(body)
        self.transport.write(b"".join(parts))
        cycle.response_started = cycle.response_complete = True
        telemetry.count_request("throttled", 429, 0.0)
        if not keep_alive:
            self.transport.close()
            return
        self.on_response_complete()

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
